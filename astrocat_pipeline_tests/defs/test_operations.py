"""The bulk operations launched from the UI: per-folder thumbnails, re-solve and re-match, the
cache clearing and the cache statistics asset."""

from pathlib import Path

import dagster as dg

from astrocat_pipeline.adapters.catalog import ImageRow, open_catalog
from astrocat_pipeline.cataloging import steps
from astrocat_pipeline.definitions import defs
from astrocat_pipeline.defs.operations import thumbnail_cache_stats
from astrocat_pipeline.defs.resources import AstrocatResource
from astrocat_pipeline.settings import Settings
from astrocat_pipeline_tests.defs.conftest import index_library, write_tiny_fits


def _library(tmp_path: Path, monkeypatch) -> tuple[Path, Settings]:
    monkeypatch.setenv("ASTROCAT_SOLVER", "none")
    root = tmp_path / "library"
    for i in range(2):
        write_tiny_fits(root / "M31" / f"m31_{i}.fits", seed=i, OBJECT="M31")
        write_tiny_fits(root / "M42" / f"m42_{i}.fits", seed=10 + i, OBJECT="M42")
    monkeypatch.setenv("ASTROCAT_LIBRARY_ROOTS", str(root))
    return root, Settings.from_env()


def _rows(settings: Settings) -> dict[str, ImageRow]:
    with open_catalog(settings.database_url) as store:
        return {Path(r.path).name: r for r in store.images_under(None)}


def _materialized(instance: dg.DagsterInstance, asset: str) -> int:
    return len(
        instance.fetch_materializations(dg.AssetKey(asset), limit=1000).records  # type: ignore[attr-defined]
    )


def test_clear_then_regenerate_one_folder(tmp_path, astrocat_env, monkeypatch):
    root, settings = _library(tmp_path, monkeypatch)
    foreign = settings.thumbnail_cache_path / "notes.txt"
    with dg.instance_for_test() as instance:
        index_library(settings, instance)
        assert all(r.thumbnail_path for r in _rows(settings).values())
        foreign.write_text("not a thumbnail")

        result = defs.get_job_def("clear_thumbnail_cache").execute_in_process(instance=instance)
        assert result.success
        assert foreign.exists()  # only the project's thumbnails go
        assert not list(settings.thumbnail_cache_path.glob("*_thumb.jpg"))
        assert not any(r.thumbnail_path for r in _rows(settings).values())

        before = _materialized(instance, "image_thumbnail")
        config = {"ops": {"regenerate_thumbnails_op": {"config": {"folder": str(root / "M42")}}}}
        result = defs.get_job_def("regenerate_thumbnails").execute_in_process(
            instance=instance, run_config=config
        )
        assert result.success
        rows = _rows(settings)
        assert rows["m42_0.fits"].thumbnail_path
        assert rows["m42_1.fits"].thumbnail_path
        assert not rows["m31_0.fits"].thumbnail_path
        assert _materialized(instance, "image_thumbnail") == before + 2

        # Without force, nothing is missing any more under M42: nothing to do.
        result = defs.get_job_def("regenerate_thumbnails").execute_in_process(
            instance=instance, run_config=config
        )
        assert _materialized(instance, "image_thumbnail") == before + 2

        stats = dg.materialize(
            [thumbnail_cache_stats], instance=instance, resources={"astrocat": AstrocatResource()}
        )
        metadata = stats.asset_materializations_for_node("thumbnail_cache_stats")[0].metadata
        assert metadata["count"].value == 2
        assert metadata["size_bytes"].value > 0


def test_resolve_and_rematch_a_folder(tmp_path, astrocat_env, monkeypatch):
    root, settings = _library(tmp_path, monkeypatch)
    with dg.instance_for_test() as instance:
        index_library(settings, instance)
        config = {"ops": {"resolve_folder_op": {"config": {"folder": str(root / "M31")}}}}
        result = defs.get_job_def("resolve_folder").execute_in_process(
            instance=instance, run_config=config
        )
        assert result.success
        # No solver configured: the two M31 frames are retried and recorded as skipped.
        assert result.output_for_node("resolve_folder_op") == {"ok": 2}
        config = {"ops": {"rematch_folder_op": {"config": {"folder": ""}}}}
        result = defs.get_job_def("rematch_folder").execute_in_process(
            instance=instance, run_config=config
        )
        assert result.success
        assert sum(result.output_for_node("rematch_folder_op").values()) == 4


def test_library_summary_asset_shows_integration_per_target(tmp_path, astrocat_env, monkeypatch):
    from astrocat_pipeline.defs.summary import library_summary

    _, settings = _library(tmp_path, monkeypatch)
    with dg.instance_for_test() as instance:
        index_library(settings, instance)
        result = dg.materialize(
            [library_summary], instance=instance, resources={"astrocat": AstrocatResource()}
        )
    metadata = result.asset_materializations_for_node("library_summary")[0].metadata
    assert metadata["images"].value == 4
    integration = metadata["integration"].value
    assert "| M 31 | none | 2 |" in integration
    assert "| M 42 | none | 2 |" in integration


def test_rescan_reads_changed_files_again(tmp_path, astrocat_env, monkeypatch):
    root, settings = _library(tmp_path, monkeypatch)
    with dg.instance_for_test() as instance:
        index_library(settings, instance)
        changed = root / "M42" / "m42_1.fits"
        changed.unlink()
        write_tiny_fits(changed, seed=99, OBJECT="M43", EXPTIME=30.0)
        config = {"ops": {"rescan_folder_op": {"config": {"folder": str(root)}}}}
        result = defs.get_job_def("rescan_folder").execute_in_process(
            instance=instance, run_config=config
        )
        assert result.output_for_node("rescan_folder_op") == {"ok": 1}
        assert _rows(settings)["m42_1.fits"].status != "error"
        forced = {"ops": {"rescan_folder_op": {"config": {"folder": "", "force": True}}}}
        result = defs.get_job_def("rescan_folder").execute_in_process(
            instance=instance, run_config=forced
        )
        assert result.output_for_node("rescan_folder_op") == {"ok": 4}


def test_an_exception_on_one_file_of_a_bulk_operation_is_that_files_error(
    tmp_path, astrocat_env, monkeypatch
):
    root, settings = _library(tmp_path, monkeypatch)
    make_thumbnail = steps.make_thumbnail

    def memory_error_on_one_file(store, thumbnails, key):
        if key.endswith("m42_0.fits"):
            raise MemoryError("cannot allocate 3.1 GB")
        return make_thumbnail(store, thumbnails, key)

    with dg.instance_for_test() as instance:
        index_library(settings, instance)
        monkeypatch.setattr(steps, "make_thumbnail", memory_error_on_one_file)
        config = {"ops": {"regenerate_thumbnails_op": {"config": {"force": True}}}}
        result = defs.get_job_def("regenerate_thumbnails").execute_in_process(
            instance=instance, run_config=config, raise_on_error=False
        )
    assert not result.success
    failure = result.failure_data_for_node("regenerate_thumbnails_op").error.message
    assert "m42_0.fits" in failure
    assert "MemoryError" in failure
    rows = _rows(settings)
    # The other three files were done; the failed one has its error, with the stage.
    assert rows["m42_0.fits"].error_stage == "image_thumbnail"
    assert "MemoryError: cannot allocate 3.1 GB" in rows["m42_0.fits"].error
    assert all(rows[name].error is None for name in ("m31_0.fits", "m31_1.fits", "m42_1.fits"))
