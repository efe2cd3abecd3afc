"""The per-file assets over a batch of partitions: one materialization per file, each with that
file's own metadata."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from astrocat_pipeline.defs.partitions import images_partitions
from astrocat_pipeline.settings import Settings
from astrocat_pipeline_tests.defs.conftest import index_library, write_tiny_fits


def latest_materialization(
    instance: dg.DagsterInstance, asset: str, partition: str
) -> dg.AssetMaterialization:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1
    ).records
    assert records, f"{asset} has no materialization for {partition}"
    materialization = records[0].asset_materialization
    assert materialization is not None
    return materialization


def test_each_partition_of_a_batch_carries_its_own_metadata(
    tmp_path: Path, astrocat_env, instance, monkeypatch
):
    root = tmp_path / "library"
    exposures = {"a.fits": 30.0, "b.fits": 60.0, "c.fits": 120.0}
    for seed, (name, exposure) in enumerate(exposures.items()):
        write_tiny_fits(root / name, seed=seed, EXPTIME=exposure)
    (root / "d.fits").write_bytes(b"SIMPLE  =                    T" + b" " * 50)  # cut short
    monkeypatch.setenv("ASTROCAT_LIBRARY_ROOTS", str(root))
    monkeypatch.setenv("ASTROCAT_SOLVER", "none")

    summary = index_library(Settings.from_env(), instance, batch_size=10)

    assert summary.runs == 1
    assert summary.failed_runs == 1  # d.fits failed (test_failed_files.py); the rest are done
    keys = instance.get_dynamic_partitions("images")
    assert len(keys) == 4
    for key in keys:
        name = key.rsplit("/", 1)[-1]
        file_md = latest_materialization(instance, "image_file", key).metadata
        assert file_md["path"].value == str(root / name)
        if name == "d.fits":
            status = instance.get_status_by_partition(
                dg.AssetKey("image_metadata"), [key], images_partitions
            )
            assert status == {key: dg.AssetPartitionStatus.FAILED}
        else:
            metadata = latest_materialization(instance, "image_metadata", key).metadata
            assert metadata["status"].value == "ok"
            assert metadata["exposure_s"].value == exposures[name]
            thumbnail = latest_materialization(instance, "image_thumbnail", key).metadata
            assert Path(thumbnail["thumbnail_path"].value).name.startswith(Path(name).stem)


def test_each_materialization_links_to_the_gallery_and_matching_draws_the_frame(
    tmp_path: Path, astrocat_env, instance, monkeypatch
):
    from urllib.parse import quote

    from astrocat_pipeline.adapters.thumbnail_store import ThumbnailStore
    from astrocat_pipeline_tests.defs.conftest import M42_HEADER_WCS

    root = tmp_path / "library"
    write_tiny_fits(root / "m42.fits", **M42_HEADER_WCS)  # solved from its own header
    monkeypatch.setenv("ASTROCAT_LIBRARY_ROOTS", str(root))
    monkeypatch.setenv("ASTROCAT_SOLVER", "none")
    monkeypatch.setenv("ASTROCAT_GALLERY_URL", "https://gallery.example.org/")
    settings = Settings.from_env()

    index_library(settings, instance, batch_size=10)

    (key,) = instance.get_dynamic_partitions("images")
    link = f"https://gallery.example.org/frame?partition={quote(key, safe='')}"
    for asset in ("image_file", "image_metadata", "image_thumbnail", "catalog_matches"):
        assert latest_materialization(instance, asset, key).metadata["gallery"].value == link
    matches = latest_materialization(instance, "catalog_matches", key).metadata
    annotated = Path(matches["annotated_path"].value)
    assert annotated.name.startswith("annotated_")
    assert annotated.parent == settings.thumbnail_cache_path
    assert annotated.is_file()
    assert ThumbnailStore(settings.thumbnail_cache_path).stats().count == 2
