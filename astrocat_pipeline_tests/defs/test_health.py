"""The library health asset in Dagster: materialized by the hourly refresh job over an indexed
library with a bad file, and the new-file sensor's pass counts it shows."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from astrocat_pipeline.adapters.catalog import open_catalog
from astrocat_pipeline.definitions import defs
from astrocat_pipeline.defs.resources import AstrocatResource
from astrocat_pipeline.defs.sensors import evaluate_library
from astrocat_pipeline.settings import Settings
from astrocat_pipeline_tests.defs.conftest import index_library, write_tiny_fits

HEALTH = dg.AssetKey("library_health")


def health_metadata(instance: dg.DagsterInstance) -> dict[str, dg.MetadataValue]:
    """Refresh the library summaries as the hourly schedule does; the health's metadata."""
    result = defs.resolve_job_def("refresh_library_summaries").execute_in_process(instance=instance)
    assert result.success
    event = instance.get_latest_materialization_event(HEALTH)
    assert event is not None
    assert event.asset_materialization is not None
    return dict(event.asset_materialization.metadata)


def test_the_health_asset_shows_states_and_the_bad_file_with_its_stage_and_reason(
    tmp_path: Path, astrocat_env: Path, monkeypatch, instance: dg.DagsterInstance
) -> None:
    monkeypatch.setenv("ASTROCAT_SOLVER", "none")
    root = tmp_path / "library"
    write_tiny_fits(root / "M31_1.fits", OBJECT="M31")
    write_tiny_fits(root / "M31_2.fits", seed=1, OBJECT="M31")
    write_tiny_fits(root / "dark.fits", seed=2, IMAGETYP="DARK")
    (root / "bad | frame.fits").write_bytes(bytes(range(256)) * 20)
    monkeypatch.setenv("ASTROCAT_LIBRARY_ROOTS", str(root))
    summary = index_library(Settings.from_env(), instance)
    assert summary.failed_runs == 1  # the batch with the bad file ends FAILURE, naming it

    metadata = health_metadata(instance)

    ints = {name: metadata[name].value for name in ("images", "indexed", "error", "skipped")}
    assert ints == {"images": 4, "indexed": 3, "error": 1, "skipped": 3}  # no solver: skipped
    assert metadata["unsolved"].value == 0
    assert metadata["waiting_for_solve"].value == 0
    states = metadata["states"].value
    assert "| error | 1 |" in states
    assert "| total | 4 |" in states

    failures = metadata["latest_failures"].value.splitlines()
    assert len(failures) == 3  # header, rule, the bad file
    bad = failures[2]
    assert f"`{root}/bad \\| frame.fits`" in bad  # the path, its pipe kept out of the table
    assert "| `image_metadata` |" in bad
    assert "not a readable FITS file" in bad

    assert metadata["thumbnail_count"].value == 3
    assert metadata["thumbnail_size_mb"].value > 0
    # astrocat index walks without the sensor: no pass is recorded yet
    assert "has not recorded a pass" in metadata["last_pass"].value
    assert "last_pass_new" not in metadata


def test_the_sensor_records_each_pass_and_the_health_asset_shows_the_last(
    tmp_path: Path, astrocat_env: Path, instance: dg.DagsterInstance
) -> None:
    root = tmp_path / "library"
    for i in range(3):
        write_tiny_fits(root / f"frame_{i}.fits", seed=i)
    offline = tmp_path / "unplugged"
    resource = AstrocatResource(library_roots=f"{root}:{offline}")
    settings = resource.settings()

    def tick(cursor: str | None) -> str | None:
        result = evaluate_library(instance, resource, cursor, lambda _: None, lambda _: None)
        return result.cursor

    cursor = tick(None)  # first look: recorded, waiting for the second
    with open_catalog(settings.database_url) as store:
        first = store.last_library_pass("sensor")
    assert first is not None
    assert (first.library_pass.files_looked_at, first.library_pass.recorded) == (3, 3)
    assert first.library_pass.new == 0
    assert first.library_pass.offline_roots == (str(offline),)

    tick(cursor)  # second look: new, with a run launched for them

    with open_catalog(settings.database_url) as store:
        second = store.last_library_pass("sensor")
    assert second is not None
    assert second.recorded_at >= first.recorded_at
    counts = second.library_pass
    assert (counts.files_looked_at, counts.recorded, counts.new, counts.removed) == (3, 0, 3, 0)
    assert counts.runs_launched == 1
    assert (counts.roots, counts.pass_number) == (2, 2)

    metadata = health_metadata(instance)
    assert metadata["last_pass_new"].value == 3
    assert metadata["last_pass_offline_roots"].value == 1
    assert metadata["images"].value == 3
    assert metadata["not_read_yet"].value == 3  # the launched run has not run
    table = metadata["last_pass"].value
    assert "| new | 3 |" in table
    assert "| online roots | 1 of 2 |" in table
    assert f"`{offline}`" in table
