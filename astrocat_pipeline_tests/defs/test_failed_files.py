"""A bad file among good ones: failed in Dagster per asset and partition (what the UI's "Failed"
filter shows), negative results done, the rest of the batch done, and the failed-partitions
re-run redoing just the failed files."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from astrocat_pipeline.adapters.catalog import open_catalog
from astrocat_pipeline.cataloging import batch, file_pass, steps
from astrocat_pipeline.defs.assets import outcome_metadata
from astrocat_pipeline.defs.partitions import IMAGES_PARTITIONS_NAME, images_partitions
from astrocat_pipeline.defs.sensors import RANGE_END_TAG, RANGE_START_TAG
from astrocat_pipeline.settings import Settings
from astrocat_pipeline_tests.defs.conftest import index_library, write_tiny_fits

ASSETS = ("image_file", "image_metadata", "image_thumbnail", "plate_solution", "catalog_matches")
DOWNSTREAM_OF_METADATA = ASSETS[2:]
CUT_SHORT = b"SIMPLE  =                    T" + b" " * 50  # a FITS header cut short
STEP_NAMES = ("record_file", "extract_metadata", "make_thumbnail", "solve_plate", "match_catalog")


@pytest.fixture
def library(tmp_path: Path, astrocat_env, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two good light frames, a dark frame and ``bad.fits`` (unreadable header), no solver."""
    root = tmp_path / "library"
    write_tiny_fits(root / "a.fits", seed=1, EXPTIME=30.0)
    root.joinpath("bad.fits").write_bytes(CUT_SHORT)
    write_tiny_fits(root / "c.fits", seed=3, EXPTIME=60.0)
    write_tiny_fits(root / "dark.fits", seed=4, IMAGETYP="DARK")
    monkeypatch.setenv("ASTROCAT_LIBRARY_ROOTS", str(root))
    monkeypatch.setenv("ASTROCAT_SOLVER", "none")
    return root


@pytest.fixture
def step_calls(monkeypatch: pytest.MonkeyPatch) -> Counter[tuple[str, str]]:
    """Every per-file step call, as (step name, file name)."""
    calls: Counter[tuple[str, str]] = Counter()
    for name in STEP_NAMES:
        real = getattr(steps, name)

        def counted(*args: Any, _real: Callable = real, _name: str = name, **kwargs: Any) -> Any:
            key = next(arg for arg in args if isinstance(arg, str))
            calls[(_name, file_name(key))] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(steps, name, counted)
    return calls


def file_name(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def statuses(instance: dg.DagsterInstance, asset: str) -> dict[str, str]:
    """Dagster's status of every partition of ``asset`` by file name (MISSING: none)."""
    keys = instance.get_dynamic_partitions(IMAGES_PARTITIONS_NAME)
    by_key = instance.get_status_by_partition(dg.AssetKey(asset), keys, images_partitions) or {}
    return {file_name(key): (by_key[key].value if by_key.get(key) else "MISSING") for key in keys}


def latest(instance: dg.DagsterInstance, asset: str, name: str) -> dg.AssetMaterialization:
    key = next(k for k in instance.get_dynamic_partitions(IMAGES_PARTITIONS_NAME) if name in k)
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[key]), limit=1
    ).records
    assert records, f"{asset} has no materialization for {name}"
    materialization = records[0].asset_materialization
    assert materialization is not None
    return materialization


def materialization_count(instance: dg.DagsterInstance, asset: str) -> int:
    return len(
        instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset)), 1000
        ).records
    )


def run_batch(
    instance: dg.DagsterInstance, keys: Sequence[str], assets: Sequence[str] = ASSETS
) -> dg.ExecuteInProcessResult:
    """``index_images`` over the range ``keys``, selecting ``assets``: a backfill's run."""
    from astrocat_pipeline.definitions import defs

    config = Settings.from_env().resource_config()
    return defs.resolve_job_def("index_images").execute_in_process(
        instance=instance,
        run_config={"resources": {"astrocat": {"config": config}}},
        tags={RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]},
        asset_selection=[dg.AssetKey(asset) for asset in assets],
        raise_on_error=False,
    )


def failed_keys(instance: dg.DagsterInstance) -> list[str]:
    """What the UI's "failed and missing partitions" backfill over the five assets takes."""
    keys = instance.get_dynamic_partitions(IMAGES_PARTITIONS_NAME)
    failed = set()
    for asset in ASSETS:
        by_key = instance.get_status_by_partition(dg.AssetKey(asset), keys, images_partitions)
        failed |= {
            k for k, s in (by_key or {}).items() if s != dg.AssetPartitionStatus.MATERIALIZED
        }
    return [key for key in keys if key in failed]


def step_failure_messages(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    events = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    return [
        event.dagster_event.step_failure_data.error.message  # type: ignore[union-attr]
        for event in events
    ]


def test_a_bad_file_fails_its_own_assets_and_the_rest_are_done(library, instance):
    summary = index_library(Settings.from_env(), instance, batch_size=10)

    # One run over the four files; it ends FAILURE because one file failed.
    assert (summary.runs, summary.failed_runs) == (1, 1)
    # Its bytes were read (the inventory is done); its header is not readable, so its metadata
    # and everything downstream failed. The other files are done through catalog_matches.
    assert set(statuses(instance, "image_file").values()) == {"MATERIALIZED"}
    for asset in ("image_metadata", *DOWNSTREAM_OF_METADATA):
        assert statuses(instance, asset) == {
            "a.fits": "MATERIALIZED",
            "bad.fits": "FAILED",
            "c.fits": "MATERIALIZED",
            "dark.fits": "MATERIALIZED",
        }, asset
    # Negative results are done, with a status saying what they are.
    dark_solution = latest(instance, "plate_solution", "dark.fits").metadata
    assert dark_solution["solve_status"].value == "skipped"
    assert "dark frame" in dark_solution["message"].value
    assert latest(instance, "catalog_matches", "a.fits").metadata["status"].value == "skipped"
    # The run's failure names the file, the asset and the reason.
    (run,) = instance.get_runs()
    (message,) = step_failure_messages(instance, run.run_id)
    assert "1 of 4 files failed" in message
    assert "bad.fits: image_metadata: " in message
    assert f"{library / 'bad.fits'}: not a readable FITS file" in message
    assert "bad.fits: catalog_matches: not processed: image_metadata failed" in message


def test_an_unreadable_file_fails_from_image_file_on(library, instance, monkeypatch):
    real = steps.content_fingerprint

    def fingerprint(path: Path) -> str:
        if path.name == "c.fits":
            raise PermissionError(13, "Permission denied")
        return real(path)

    real_pass = batch.read_file_pass

    def read_pass(path: Path, *args, **kwargs):
        if path.name == "c.fits":
            raise PermissionError(13, "Permission denied")
        return real_pass(path, *args, **kwargs)

    # Both reads of the file fail, as they would on a file that cannot be opened: the batch's
    # one-pass read, then the inventory step's own fingerprint.
    monkeypatch.setattr(batch, "read_file_pass", read_pass)
    monkeypatch.setattr(steps, "content_fingerprint", fingerprint)
    index_library(Settings.from_env(), instance, batch_size=10)

    for asset in ASSETS:
        assert statuses(instance, asset)["c.fits"] == "FAILED", asset
        assert statuses(instance, asset)["a.fits"] == "MATERIALIZED", asset


def test_the_failed_partitions_re_run_redoes_just_the_failed_files(library, instance, step_calls):
    index_library(Settings.from_env(), instance, batch_size=10)
    before = {asset: materialization_count(instance, asset) for asset in ASSETS}
    write_tiny_fits(library / "bad.fits.new", seed=2)
    (library / "bad.fits.new").replace(library / "bad.fits")  # the user fixed the file
    step_calls.clear()

    retry = failed_keys(instance)
    assert [file_name(key) for key in retry] == ["bad.fits"]
    result = run_batch(instance, retry)

    assert result.success
    assert {file for _, file in step_calls} == {"bad.fits"}
    assert sum(step_calls.values()) == len(STEP_NAMES)  # each step once, for that file only
    for asset in ASSETS:
        assert set(statuses(instance, asset).values()) == {"MATERIALIZED"}, asset
        assert materialization_count(instance, asset) == before[asset] + 1, asset
    assert latest(instance, "image_metadata", "bad.fits").metadata["status"].value == "ok"


def test_one_asset_for_some_files_does_only_that_work(library, instance, step_calls):
    index_library(Settings.from_env(), instance, batch_size=10)
    before = {asset: materialization_count(instance, asset) for asset in ASSETS}
    step_calls.clear()
    keys = instance.get_dynamic_partitions(IMAGES_PARTITIONS_NAME)
    first_two = [key for key in keys if file_name(key) in ("a.fits", "bad.fits")]
    assert keys.index(first_two[1]) == keys.index(first_two[0]) + 1  # a contiguous range

    result = run_batch(instance, first_two, ["image_thumbnail"])

    # Thumbnails of a.fits (done) and bad.fits (still failed: its header is unreadable).
    assert not result.success
    assert dict(step_calls) == {("make_thumbnail", "a.fits"): 1, ("make_thumbnail", "bad.fits"): 1}
    after = {asset: materialization_count(instance, asset) for asset in ASSETS}
    assert after == {**before, "image_thumbnail": before["image_thumbnail"] + 1}
    (message,) = step_failure_messages(instance, result.run_id)
    assert "bad.fits: image_thumbnail: not processed: " in message


@pytest.mark.parametrize("error", [MemoryError(), RuntimeError("a reader bug")])
def test_an_unexpected_exception_fails_only_that_files_asset(library, instance, monkeypatch, error):
    real = steps.render_file_thumbnail

    def render_file_thumbnail(path: Path, *args: Any) -> Any:
        if path.name == "c.fits":
            raise error
        return real(path, *args)

    real_loaded = file_pass.render_loaded_thumbnail

    def render_loaded_thumbnail(path: Path, *args: Any) -> Any:
        if path.name == "c.fits":
            raise error
        return real_loaded(path, *args)

    # The thumbnail is rendered by the batch's one-pass read; when that fails the step renders
    # it again from the file, and fails the same way.
    monkeypatch.setattr(file_pass, "render_loaded_thumbnail", render_loaded_thumbnail)
    monkeypatch.setattr(steps, "render_file_thumbnail", render_file_thumbnail)
    summary = index_library(Settings.from_env(), instance, batch_size=10)

    # The batch went on: only c.fits's thumbnail failed (and bad.fits's own failures); its solve
    # and matches, which do not depend on the thumbnail, and every other file are done.
    assert (summary.runs, summary.failed_runs) == (1, 1)
    for asset in ASSETS:
        for name, status in statuses(instance, asset).items():
            failed = (name, asset) == ("c.fits", "image_thumbnail") or (
                name == "bad.fits" and asset != "image_file"
            )
            assert status == ("FAILED" if failed else "MATERIALIZED"), (asset, name)
    # The file's recorded error names it, the stage and the reason; so does the run's failure.
    with open_catalog(Settings.from_env().database_url) as store:
        (row,) = [r for r in store.images_under(None) if r.path.endswith("c.fits")]
    expected = f"{row.partition_key}: image_thumbnail failed: {type(error).__name__}"
    assert (row.status, row.error_stage) == ("error", "image_thumbnail")
    assert row.error is not None
    assert row.error.startswith(expected)
    (message,) = step_failure_messages(instance, instance.get_runs()[0].run_id)
    assert "2 of 4 files failed" in message
    assert f"c.fits: image_thumbnail: {expected}" in message


def test_each_file_has_its_fingerprint_as_its_data_version(library, instance):
    index_library(Settings.from_env(), instance, batch_size=10)

    versions = set()
    for name in ("a.fits", "bad.fits", "c.fits", "dark.fits"):
        materialization = latest(instance, "image_file", name)
        version = materialization.tags["dagster/data_version"]  # type: ignore[index]
        assert version == materialization.metadata["fingerprint"].value
        versions.add(version)
    assert len(versions) == 4


def test_the_ui_lists_the_preview_first_and_long_json_last(library, instance):
    index_library(Settings.from_env(), instance, batch_size=10)

    thumbnail = list(latest(instance, "image_thumbnail", "a.fits").metadata)
    assert thumbnail[0] == "preview"
    assert thumbnail[1] == "status"
    assert thumbnail[-1] == "stretch"
    solution = list(latest(instance, "plate_solution", "dark.fits").metadata)
    assert solution[0] == "status"
    assert solution[-1] == "attempts"
    assert "error" not in solution  # the same text as the message


def test_metadata_order_puts_short_values_before_json():
    outcome = steps.StepOutcome(
        "ok",
        "a note",
        {
            "stretch": {"shadows": 0.1},
            "thumbnail_path": "/cache/a.jpg",
            "size_px": "64x48",
            "preview_markdown": "![thumbnail](data:image/jpeg;base64,AAAA)",
            "attempts": [{"solver": "local"}],
            "reused": False,
        },
    )

    assert list(outcome_metadata(outcome)) == [
        "preview",
        "status",
        "message",
        "thumbnail_path",
        "size_px",
        "reused",
        "stretch",
        "attempts",
    ]
