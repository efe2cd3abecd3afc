"""The new-file sensor, tick by tick, against a real SQLite Dagster instance and catalog.

The daemon is played by hand: ``Sensor.tick`` evaluates one tick with the previous cursor, and
``run`` executes a requested run in-process, as the daemon's run launcher would.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from astrocat_pipeline.adapters.catalog import open_catalog
from astrocat_pipeline.cataloging import library_sync
from astrocat_pipeline.core.inventory import ScanCursor, partition_key
from astrocat_pipeline.definitions import defs
from astrocat_pipeline.defs import sensors
from astrocat_pipeline.defs.partitions import IMAGES_PARTITIONS_NAME
from astrocat_pipeline.defs.resources import AstrocatResource
from astrocat_pipeline.defs.sensors import (
    RANGE_END_TAG,
    RANGE_START_TAG,
    SENSOR_NAME,
    SENSOR_NAME_TAG,
    batch_run_request,
    evaluate_library,
    new_image_files,
)
from astrocat_pipeline.settings import Settings
from astrocat_pipeline_tests.defs.conftest import M42_HEADER_WCS, write_tiny_fits


class Sensor:
    """Evaluates ticks like the daemon: each with the cursor the previous one returned, and
    the sensor's interval later on the wall clock than the previous one (unless told)."""

    def __init__(self, instance: dg.DagsterInstance, root: Path | str) -> None:
        self.instance = instance
        self.resource = AstrocatResource(library_roots=str(root))
        self.cursor: str | None = None
        self.warnings: list[str] = []
        self.logs: list[str] = []
        self.now = datetime(2026, 12, 1, tzinfo=UTC)

    def tick(self, after_s: float = sensors.SENSOR_INTERVAL_S) -> dg.SensorResult:
        self.now += timedelta(seconds=after_s)
        result = evaluate_library(
            self.instance,
            self.resource,
            self.cursor,
            self.logs.append,
            self.warnings.append,
            wall_clock=lambda: self.now,
        )
        self.cursor = result.cursor
        return result

    def partitions(self) -> list[str]:
        return list(self.instance.get_dynamic_partitions(IMAGES_PARTITIONS_NAME))


@pytest.fixture
def no_solver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASTROCAT_SOLVER", "none")


@pytest.fixture
def store(astrocat_env: Path):
    with open_catalog(f"sqlite:///{astrocat_env / 'catalog.db'}") as store:
        yield store


def run(instance: dg.DagsterInstance, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    """Execute a requested run in-process, tagged as the daemon tags a sensor's runs."""
    result = defs.resolve_job_def("index_images").execute_in_process(
        instance=instance, tags={**request.tags, SENSOR_NAME_TAG: SENSOR_NAME}
    )
    assert result.success
    return result


def latest(instance: dg.DagsterInstance, asset: str, key: str) -> dg.AssetMaterialization:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[key]), limit=1
    ).records
    assert records, (asset, key)
    materialization = records[0].asset_materialization
    assert materialization is not None
    return materialization


def materialization_count(instance: dg.DagsterInstance, asset: str, key: str) -> int:
    return len(
        instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[key]), limit=100
        ).records
    )


def test_the_sensor_is_a_sensor_over_the_index_job(tmp_path, astrocat_env, instance):
    write_tiny_fits(tmp_path / "lib" / "a.fits")
    resource = AstrocatResource(library_roots=str(tmp_path / "lib"))
    with dg.build_sensor_context(instance=instance, resources={"astrocat": resource}) as context:
        result = new_image_files(context)
    assert isinstance(result, dg.SensorResult)
    assert "1 recorded for a second look" in str(result.skip_reason)
    # Its runs are of index_images, or of index_images_celery when a broker is configured.
    assert {job.name for job in new_image_files.jobs} == {
        "index_images",
        "index_images_celery",
    }


def test_with_a_celery_broker_the_sensor_launches_the_celery_job():
    batch = library_sync.RunBatch(keys=("a", "b"), state="1:2,3:4")
    settings = Settings.from_env({"ASTROCAT_CELERY_BROKER_URL": "pyamqp://guest@broker//"})
    request = batch_run_request(batch, settings)
    assert request.job_name == "index_images_celery"
    assert request.run_config["execution"]["config"] == {
        "broker": "pyamqp://guest@broker//",
        "backend": "rpc://",
    }
    plain = batch_run_request(batch, Settings.from_env({}))
    assert (plain.job_name, plain.run_config) == ("index_images", {})


def test_new_files_wait_for_a_second_look_then_go_in_batches(
    tmp_path, astrocat_env, instance, monkeypatch
):
    monkeypatch.setattr(sensors, "PARTITIONS_PER_RUN", 2)
    root = tmp_path / "library"
    for i in range(5):
        write_tiny_fits(root / "M31" / "LIGHT" / f"frame, {i:03d}.fits", seed=i)
    (root / "notes.txt").write_text("not an image")
    sensor = Sensor(instance, root)

    first = sensor.tick()
    assert sensor.partitions() == []
    assert first.run_requests == []
    assert "5 recorded for a second look" in str(first.skip_reason)

    second = sensor.tick()
    keys = sensor.partitions()
    assert len(keys) == 5
    assert all("," not in key for key in keys)
    # Batches of consecutive partitions, never one run per file.
    ranges = [(r.tags[RANGE_START_TAG], r.tags[RANGE_END_TAG]) for r in second.run_requests]
    assert ranges == [(keys[0], keys[1]), (keys[2], keys[3]), (keys[4], keys[4])]

    # The daemon did not launch them (crash, lost tick): the same work is asked for again,
    # with the same run keys, so a launched run is never launched twice.
    third = sensor.tick()
    assert [r.run_key for r in third.run_requests] == [r.run_key for r in second.run_requests]
    assert sensor.partitions() == keys


def test_a_file_still_being_written_waits_until_it_stops_changing(tmp_path, astrocat_env, instance):
    root = tmp_path / "library"
    path = write_tiny_fits(root / "growing.fits")
    sensor = Sensor(instance, root)
    sensor.tick()
    with path.open("ab") as handle:  # the copy goes on
        handle.write(b"\0" * 2880)
    sensor.tick()
    assert sensor.partitions() == []
    result = sensor.tick()  # same size and mtime as last time: done
    assert sensor.partitions() == [partition_key(str(root), "growing.fits")]
    assert len(result.run_requests) == 1


def test_runs_in_flight_hold_back_the_backlog_and_failures_are_not_retried(
    tmp_path, astrocat_env, instance, monkeypatch
):
    monkeypatch.setattr(sensors, "PARTITIONS_PER_RUN", 1)
    monkeypatch.setattr(library_sync, "MAX_RUNS_IN_FLIGHT", 1)
    root = tmp_path / "library"
    for i in range(3):
        write_tiny_fits(root / f"f{i}.fits", seed=i)
    sensor = Sensor(instance, root)
    sensor.tick()
    (request,) = sensor.tick().run_requests
    keys = sensor.partitions()
    assert request.tags[RANGE_START_TAG] == keys[0]

    # The daemon creates the run (queued): the backlog waits for it.
    job = defs.resolve_job_def("index_images")
    queued = instance.create_run_for_job(
        job_def=job, tags={**request.tags, SENSOR_NAME_TAG: SENSOR_NAME}
    )
    assert sensor.tick().run_requests == []

    # The run fails: its partition is not retried by the sensor (a file that crashes a run
    # would crash every retry); the next file goes.
    instance.report_run_failed(queued)
    (next_request,) = sensor.tick().run_requests
    assert next_request.tags[RANGE_START_TAG] == keys[1]
    assert any(
        "1 partitions show failed" in w and "failed and missing" in w for w in sensor.warnings
    )


def test_partitions_added_by_hand_are_processed_or_reported(tmp_path, astrocat_env, instance):
    root = tmp_path / "library"
    write_tiny_fits(root / "a.fits")
    key = partition_key(str(root), "a.fits")
    instance.add_dynamic_partitions(IMAGES_PARTITIONS_NAME, [key, "made-up/key.fits"])
    sensor = Sensor(instance, root)
    first = sensor.tick()  # the file's catalog row is written; the made-up key has none
    assert first.run_requests == []
    assert any("have no catalog row" in w and "made-up/key.fits" in w for w in sensor.warnings)
    (request,) = sensor.tick().run_requests
    assert request.tags[RANGE_START_TAG] == request.tags[RANGE_END_TAG] == key


def test_never_materialized_partitions_are_caught_up(tmp_path, astrocat_env, instance, no_solver):
    root = tmp_path / "library"
    write_tiny_fits(root / "a.fits")
    write_tiny_fits(root / "b.fits", seed=1)
    sensor = Sensor(instance, root)
    sensor.tick()
    (request,) = sensor.tick().run_requests
    run(instance, request)
    assert sensor.tick().run_requests == []  # all processed: nothing to do

    # A partition of a known file that has no materialization (its run was lost): caught up.
    write_tiny_fits(root / "c.fits", seed=2)
    sensor.tick()
    sensor.tick()  # c is added and launched; pretend the daemon lost the request
    (again,) = sensor.tick().run_requests
    assert again.tags[RANGE_START_TAG] == partition_key(str(root), "c.fits")
    run(instance, again)
    result = sensor.tick()
    assert result.run_requests == []
    assert "0 never processed" in str(result.skip_reason)


def test_a_changed_file_gets_a_new_data_version_and_is_reprocessed(
    tmp_path, astrocat_env, instance, no_solver
):
    root = tmp_path / "library"
    path = write_tiny_fits(root / "a.fits")
    key = partition_key(str(root), "a.fits")
    sensor = Sensor(instance, root)
    sensor.tick()
    (request,) = sensor.tick().run_requests
    run(instance, request)
    version = latest(instance, "image_file", key).tags["dagster/data_version"]

    path.unlink()
    write_tiny_fits(path, seed=7, EXPTIME=300.0)  # reprocessed in place by the user
    first_look = sensor.tick()
    assert first_look.run_requests == []
    assert key in ScanCursor.from_json(sensor.cursor).pending
    (rerun,) = sensor.tick().run_requests
    assert rerun.tags[RANGE_START_TAG] == rerun.tags[RANGE_END_TAG] == key
    run(instance, rerun)
    assert latest(instance, "image_file", key).tags["dagster/data_version"] != version
    for asset in ("image_metadata", "image_thumbnail", "plate_solution", "catalog_matches"):
        assert materialization_count(instance, asset, key) == 2, asset
    assert latest(instance, "image_metadata", key).metadata["exposure_s"].value == 300.0
    assert sensor.tick().run_requests == []


def test_a_deleted_file_is_removed_on_its_second_look_and_kept_as_a_tombstone(
    tmp_path, astrocat_env, instance, store, no_solver
):
    root = tmp_path / "library"
    gone = write_tiny_fits(root / "night1" / "a.fits")
    write_tiny_fits(root / "night1" / "b.fits", seed=1)
    sensor = Sensor(instance, root)
    sensor.tick()
    (request,) = sensor.tick().run_requests
    run(instance, request)
    key_a = partition_key(str(root), "night1/a.fits")
    key_b = partition_key(str(root), "night1/b.fits")
    thumbnail_a = Path(store.get_image(key_a).thumbnail_path)
    assert thumbnail_a.is_file()

    gone.unlink()
    first = sensor.tick()  # the first look only notes it
    assert sensor.partitions() == [key_a, key_b]
    assert "0 removed, 1 missed once" in str(first.skip_reason)
    assert store.get_image(key_a) is not None

    second = sensor.tick(after_s=library_sync.REMOVAL_SETTLE_S - 1)  # too soon after
    assert sensor.partitions() == [key_a, key_b]
    assert "0 removed" in str(second.skip_reason)

    third = sensor.tick(after_s=1)  # a settle window after the first look
    assert sensor.partitions() == [key_b]
    assert "1 removed" in str(third.skip_reason)
    assert third.run_requests == []
    assert store.get_image(key_a) is None  # a tombstone: out of every read of the library
    assert store.count_images() == 1
    assert [found.image.partition_key for found in store.search(None)] == [key_b]
    assert [row.partition_key for row in store.images_under(None)] == [key_b]
    assert thumbnail_a.is_file()  # kept with the tombstone, for the file's return


def test_an_offline_or_empty_root_keeps_everything(tmp_path, astrocat_env, instance, store):
    root = tmp_path / "nas"
    write_tiny_fits(root / "a.fits")
    write_tiny_fits(root / "b" / "c.fits", seed=1)
    sensor = Sensor(instance, root)
    sensor.tick()
    sensor.tick()
    assert len(sensor.partitions()) == 2

    root.rename(tmp_path / "unplugged")  # the disk is gone
    result = sensor.tick()
    assert len(sensor.partitions()) == 2
    assert store.count_images() == 2
    assert str(root) in ScanCursor.from_json(sensor.cursor).offline
    assert "0/1 online roots" in sensor.logs[-1]
    assert result.run_requests == []  # its unprocessed files wait for the disk
    assert any("offline" in w and str(root) in w for w in sensor.warnings)

    root.mkdir()  # an empty mount point: the share is not mounted
    sensor.warnings.clear()
    sensor.tick()
    assert len(sensor.partitions()) == 2
    assert store.count_images() == 2
    assert any("folder is empty" in w for w in sensor.warnings)

    shutil.rmtree(root)
    (tmp_path / "unplugged").rename(root)  # back online: nothing to redo
    sensor.warnings.clear()
    result = sensor.tick()
    assert sensor.warnings == []
    assert ScanCursor.from_json(sensor.cursor).offline == ()
    assert "0 new, 0 changed, 0 removed" in sensor.logs[-1]
    assert len(result.run_requests) == 1  # the files that waited for the disk


def test_files_in_an_unreadable_folder_are_kept(
    tmp_path, astrocat_env, instance, store, monkeypatch
):
    root = tmp_path / "library"
    write_tiny_fits(root / "locked" / "a.fits")
    gone = write_tiny_fits(root / "open" / "b.fits", seed=1)
    write_tiny_fits(root / "open" / "c.fits", seed=2)
    sensor = Sensor(instance, root)
    sensor.tick()
    sensor.tick()
    assert len(sensor.partitions()) == 3

    real_scandir = os.scandir
    locked = str(root / "locked")

    def scandir(path):
        if str(path) == locked:
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr("astrocat_pipeline.core.inventory.os.scandir", scandir)
    gone.unlink()
    sensor.tick()
    sensor.tick()  # the second look proves b.fits gone; a.fits was never proven gone
    assert sensor.partitions() == [
        partition_key(str(root), "locked/a.fits"),
        partition_key(str(root), "open/c.fits"),
    ]
    assert any("Permission denied" in w for w in sensor.warnings)


def test_the_walk_is_bounded_and_resumes_across_ticks(
    tmp_path, astrocat_env, instance, store, monkeypatch
):
    monkeypatch.setattr(library_sync, "WALK_MAX_FILES", 3)
    root = tmp_path / "library"
    names = [f"n{i // 3}/f{i}.fits" for i in range(7)]
    for i, name in enumerate(names):
        write_tiny_fits(root / name, seed=i)
    sensor = Sensor(instance, root)
    looked = []
    for _ in range(3):  # one pass over 7 files, 3 per tick
        sensor.tick()
        looked.append(store.count_images())
    assert looked == [3, 6, 7]
    assert ScanCursor.from_json(sensor.cursor).passes == 1
    assert sensor.partitions() == []
    for _ in range(3):  # the second pass takes them
        sensor.tick()
    assert len(sensor.partitions()) == 7

    # A file deleted in a part of the tree not walked yet is removed when the walk gets there.
    (root / names[5]).unlink()
    sensor.tick()
    assert len(sensor.partitions()) == 7
    sensor.tick()  # the walk gets there: first look
    assert len(sensor.partitions()) == 7
    for _ in range(3):  # the next pass gets there again: second look
        sensor.tick()
    assert len(sensor.partitions()) == 6
    assert partition_key(str(root), names[5]) not in sensor.partitions()


def test_a_moved_file_reuses_its_plate_solution(tmp_path, astrocat_env, instance, store, no_solver):
    root = tmp_path / "library"
    source = write_tiny_fits(root / "inbox" / "m42.fits", **M42_HEADER_WCS)
    # The inbox keeps a file: an inbox left empty would be offline (see test_removals.py).
    (root / "inbox" / "notes.txt").write_text("sorted on 2026-12-01")
    sensor = Sensor(instance, root)
    sensor.tick()
    (request,) = sensor.tick().run_requests
    run(instance, request)
    old_key = partition_key(str(root), "inbox/m42.fits")
    solved = latest(instance, "plate_solution", old_key).metadata
    assert solved["solve_status"].value == "solved"
    assert solved["status"].value == "ok"
    assert solved["solver"].value == "header"
    assert solved["reused"].value is False

    target = root / "M42" / "LIGHT" / "m42.fits"
    target.parent.mkdir(parents=True)
    source.rename(target)
    sensor.tick()  # the old path is missed once, the new one gets its first look
    (moved,) = sensor.tick().run_requests  # the old path is removed, the new one launched
    assert old_key not in sensor.partitions()
    new_key = partition_key(str(root), "M42/LIGHT/m42.fits")
    assert moved.tags[RANGE_START_TAG] == new_key
    run(instance, moved)
    reused = latest(instance, "plate_solution", new_key).metadata
    assert reused["reused"].value is True
    assert reused["status"].value == "reused"
    assert reused["solver"].value == "header"
    assert reused["ra_deg"].value == pytest.approx(solved["ra_deg"].value)
    (found,) = store.search(None)
    assert found.image.path == str(target)
    assert found.plate_solution.status == "solved"


def test_new_files_per_tick_are_bounded(tmp_path, astrocat_env, instance, store, monkeypatch):
    monkeypatch.setattr(library_sync, "MAX_NEW_PER_TICK", 2)
    root = tmp_path / "library"
    for i in range(5):
        write_tiny_fits(root / f"f{i}.fits", seed=i)
    sensor = Sensor(instance, root)
    recorded, added = [], []
    for _ in range(6):
        sensor.tick()
        recorded.append(store.count_images())
        added.append(len(sensor.partitions()))
    assert recorded == [2, 4, 5, 5, 5, 5]
    assert added == [0, 2, 4, 5, 5, 5]
