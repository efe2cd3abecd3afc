"""Removal only with proof (DESIGN.md, invariant 3), tick by tick against a real SQLite Dagster
instance, catalog and file system.

Each rule has its test: two looks a settle window apart (test_sensor.py), a folder that
vanished, became empty, unreadable or moved to another device, mass removals held until
confirmed, and tombstones that give a returning file its rows back. The one stand-in is the
folder's ``stat`` for another device (a test cannot mount a disk).
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from astrocat_pipeline.adapters.catalog import open_catalog
from astrocat_pipeline.adapters.thumbnail_store import ThumbnailStore
from astrocat_pipeline.cataloging import library_sync
from astrocat_pipeline.core import inventory
from astrocat_pipeline.core.inventory import RootWalk, partition_key
from astrocat_pipeline.definitions import defs
from astrocat_pipeline.defs.resources import AstrocatResource
from astrocat_pipeline_tests.defs.conftest import M42_HEADER_WCS, write_tiny_fits
from astrocat_pipeline_tests.defs.test_sensor import Sensor, latest, materialization_count, run


@pytest.fixture
def no_solver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASTROCAT_SOLVER", "none")


@pytest.fixture
def store(astrocat_env: Path) -> Iterator[Any]:
    with open_catalog(f"sqlite:///{astrocat_env / 'catalog.db'}") as store:
        yield store


def cataloged(sensor: Sensor, root: Path, names: list[str]) -> list[str]:
    """Two ticks: the files under ``root`` get their partitions; returns their keys."""
    sensor.tick()
    sensor.tick()
    keys = [partition_key(str(root), name) for name in names]
    assert sorted(sensor.partitions()) == sorted(keys)
    return keys


def two_looks(sensor: Sensor) -> None:
    """Two ticks a settle window apart: enough to remove any file proven gone."""
    sensor.tick()
    sensor.tick(after_s=library_sync.REMOVAL_SETTLE_S)


# --- the folder must be intact ---------------------------------------------------------------


def test_a_vanished_subfolder_is_offline_and_keeps_its_files(
    tmp_path, astrocat_env, instance, store
):
    root = tmp_path / "library"
    names = ["disk2/a.fits", "disk2/b.fits", "local/c.fits"]
    for i, name in enumerate(names):
        write_tiny_fits(root / name, seed=i)
    sensor = Sensor(instance, root)
    keys = cataloged(sensor, root, names)

    (root / "disk2").rename(tmp_path / "elsewhere")
    two_looks(sensor)
    assert sorted(sensor.partitions()) == sorted(keys)
    assert store.count_images() == 3
    assert any(
        "folder offline" in w and f"{root}/disk2: the folder is missing" in w
        for w in sensor.warnings
    )
    assert "1 folders offline" in sensor.logs[-1]

    # The folder was deleted on purpose: the user names it to confirm_removals.
    resource = AstrocatResource(library_roots=str(root))
    result = defs.resolve_job_def("confirm_removals").execute_in_process(
        instance=instance,
        resources={"astrocat": resource},
        run_config={"ops": {"confirm_held_removals": {"config": {"folder": str(root / "disk2")}}}},
    )
    assert result.output_for_node("confirm_held_removals") == 2
    assert sensor.partitions() == [keys[2]]
    assert store.count_images() == 1


def test_a_subfolder_replaced_by_an_empty_folder_keeps_its_files(
    tmp_path, astrocat_env, instance, store
):
    root = tmp_path / "library"
    names = ["disk2/a.fits", "disk2/b.fits", "local/c.fits"]
    for i, name in enumerate(names):
        write_tiny_fits(root / name, seed=i)
    sensor = Sensor(instance, root)
    keys = cataloged(sensor, root, names)

    (root / "disk2").rename(tmp_path / "unmounted")
    (root / "disk2").mkdir()  # the empty mount point of a disk that is not mounted
    two_looks(sensor)
    assert sorted(sensor.partitions()) == sorted(keys)
    assert any(f"{root}/disk2: the folder is empty" in w for w in sensor.warnings)

    # A file deleted next to it, in an intact folder, is removed.
    (root / "local" / "c.fits").unlink()
    (root / "local" / "notes.txt").write_text("keeps the folder from being empty")
    two_looks(sensor)
    assert sorted(sensor.partitions()) == sorted(keys[:2])


def _walk_as_nobody(root: str, after: str | None = None, **kwargs: Any) -> RootWalk:
    """The real ``walk_root`` in a forked child that has become the unprivileged ``nobody``:
    root reads any folder, whatever its permissions."""
    kwargs.pop("clock", None)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop root, walk, report, and leave without cleanup
        code = 0
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            data = pickle.dumps(inventory.walk_root(root, after, **kwargs))
            while data:
                data = data[os.write(write_end, data) :]
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the child could not become nobody"
    walk = pickle.loads(data)
    assert isinstance(walk, RootWalk)
    return walk


def test_an_unreadable_subfolder_keeps_its_files(astrocat_env, instance, store, monkeypatch):
    # A folder the unprivileged user may enter (pytest's tmp_path is private to root).
    base = Path(tempfile.mkdtemp(prefix="astrocat-removals-"))
    try:
        base.chmod(0o755)
        root = base / "library"
        names = ["locked/a.fits", "locked/b.fits", "open/c.fits", "open/d.fits"]
        for i, name in enumerate(names):
            write_tiny_fits(root / name, seed=i)
        for folder in (root, root / "locked", root / "open"):
            folder.chmod(0o755)
        sensor = Sensor(instance, root)
        keys = cataloged(sensor, root, names)

        if os.geteuid() == 0:
            monkeypatch.setattr(library_sync, "walk_root", _walk_as_nobody)
        (root / "locked").chmod(0)
        (root / "open" / "d.fits").unlink()
        two_looks(sensor)
        (root / "locked").chmod(0o755)
        # d.fits is proven gone; what is under the unreadable folder is kept.
        assert sorted(sensor.partitions()) == sorted(keys[:3])
        assert any("Permission denied" in w for w in sensor.warnings)
    finally:
        (base / "library" / "locked").chmod(0o755)
        shutil.rmtree(base)


def test_a_subfolder_on_another_device_keeps_its_files(
    tmp_path, astrocat_env, instance, store, monkeypatch
):
    root = tmp_path / "library"
    names = ["disk2/a.fits", "disk2/b.fits", "local/c.fits"]
    for i, name in enumerate(names):
        write_tiny_fits(root / name, seed=i)
    sensor = Sensor(instance, root)
    keys = cataloged(sensor, root, names)
    recorded = (root / "disk2").stat().st_dev

    # Another disk mounted on disk2 (or the disk unmounted, its mount point not empty): the
    # folder's stat says another device. This stand-in is the only one in these tests.
    real_stat = os.stat
    mounted = str(root / "disk2")

    class OtherDevice:
        def __init__(self, result: os.stat_result) -> None:
            self._result = result
            self.st_dev = result.st_dev + 1

        def __getattr__(self, name: str) -> Any:
            return getattr(self._result, name)

    def stat(path: Any, *args: Any, **kwargs: Any) -> Any:
        result = real_stat(path, *args, **kwargs)
        return OtherDevice(result) if os.fspath(path) == mounted else result

    monkeypatch.setattr(os, "stat", stat)
    (root / "disk2" / "a.fits").unlink()
    two_looks(sensor)
    assert sorted(sensor.partitions()) == sorted(keys)
    assert any(
        f"{root}/disk2: the folder is on another device" in w and str(recorded) in w
        for w in sensor.warnings
    )

    monkeypatch.setattr(os, "stat", real_stat)  # the right disk is back
    two_looks(sensor)
    assert sorted(sensor.partitions()) == sorted(keys[1:])


# --- mass removals wait for the user ---------------------------------------------------------


def test_a_mass_removal_is_held_until_confirmed_or_the_files_come_back(
    tmp_path, astrocat_env, instance, store
):
    root = tmp_path / "library"
    names = [f"night{i // 60}/f{i:03d}.fits" for i in range(130)]
    for i, name in enumerate(names):
        write_tiny_fits(root / name, seed=i)
    (root / "night0" / "notes.txt").write_text("night 0")
    (root / "night1" / "notes.txt").write_text("night 1")
    sensor = Sensor(instance, root)
    keys = cataloged(sensor, root, names)

    # 101 files gone at once: more than max(100, 2 % of 130).
    moved = tmp_path / "moved"
    moved.mkdir()
    for name in names[:101]:
        (root / name).rename(moved / name.replace("/", "_"))
    two_looks(sensor)
    assert len(sensor.partitions()) == 130
    assert store.count_held_removals() == 101
    assert store.count_images() == 130
    assert any("101 files are gone" in w and "confirm_removals" in w for w in sensor.warnings)
    assert "101 removals held" in sensor.logs[-1]
    sensor.warnings.clear()
    two_looks(sensor)  # held: still not removed, and still reported
    assert len(sensor.partitions()) == 130
    assert any("101 removals are held" in w for w in sensor.warnings)

    # One comes back: its hold is lifted and it stays.
    (moved / names[0].replace("/", "_")).rename(root / names[0])
    sensor.tick()
    assert store.count_held_removals() == 100

    # The user confirms night0's: those still gone go, night1's stay held.
    resource = AstrocatResource(library_roots=str(root))
    result = defs.resolve_job_def("confirm_removals").execute_in_process(
        instance=instance,
        resources={"astrocat": resource},
        run_config={"ops": {"confirm_held_removals": {"config": {"folder": str(root / "night0")}}}},
    )
    assert result.success
    assert result.output_for_node("confirm_held_removals") == 59
    assert len(sensor.partitions()) == 71
    assert store.count_held_removals() == 41
    assert store.count_images() == 71

    result = defs.resolve_job_def("confirm_removals").execute_in_process(
        instance=instance, resources={"astrocat": resource}
    )
    assert result.output_for_node("confirm_held_removals") == 41
    assert sorted(sensor.partitions()) == sorted([keys[0], *keys[101:]])
    assert store.count_held_removals() == 0


def test_the_mass_removal_limit_grows_with_the_root():
    assert library_sync.mass_removal_limit(130) == 100
    assert library_sync.mass_removal_limit(10_000) == 200

    def plan(gone_count: int) -> library_sync.SyncPlan:
        since = datetime(2026, 12, 1, tzinfo=UTC)
        gone = tuple(
            library_sync.GoneFile(f"lib/f{i}", f"/lib/f{i}", "/lib", since, held=False)
            for i in range(gone_count)
        )
        walk = library_sync.LibraryWalk(
            gone=gone, root_files={"/lib": 10_000}, gone_counts={"/lib": gone_count}
        )
        inventory_plan = library_sync.plan_inventory(walk, [g.key for g in gone], -1, set())
        return library_sync.plan_sync(
            inventory_plan, {}, 0, lambda keys: {}, batch_size=10, now=since + timedelta(hours=1)
        )

    assert len(plan(200).removals) == 200  # 2 % of 10,000: ordinary housekeeping
    held = plan(201)
    assert held.removals == ()
    assert len(held.hold) == 201


# --- tombstones ------------------------------------------------------------------------------


def test_a_file_back_at_its_path_gets_its_rows_back_unprocessed(
    tmp_path, astrocat_env, instance, store, no_solver
):
    root = tmp_path / "library"
    path = write_tiny_fits(root / "night1" / "m42.fits", **M42_HEADER_WCS)
    (root / "night1" / "notes.txt").write_text("keeps the folder")
    sensor = Sensor(instance, root)
    sensor.tick()
    (request,) = sensor.tick().run_requests
    run(instance, request)
    (key,) = sensor.partitions()
    before = store.get_image(key)
    assert before.thumbnail_path
    assert Path(before.thumbnail_path).is_file()
    matches = store.get_matches(key)
    assert matches

    path.rename(tmp_path / "away.fits")
    two_looks(sensor)
    assert sensor.partitions() == []
    assert store.search(None) == []
    assert store.cone_search(83.82, -5.39, 1.0) == []

    (tmp_path / "away.fits").rename(path)  # same content, same size and mtime
    sensor.tick()
    second = sensor.tick()
    assert sensor.partitions() == [key]
    assert second.run_requests == []  # nothing to redo
    assert sensor.tick().run_requests == []
    after = store.get_image(key)
    assert after.fingerprint == before.fingerprint
    assert after.status == before.status
    assert after.thumbnail_path == before.thumbnail_path
    assert Path(after.thumbnail_path).is_file()
    assert store.get_matches(key) == matches
    assert [found.image.partition_key for found in store.search(None)] == [key]
    assert store.cone_search(83.82, -5.39, 1.0) == [key]
    assert materialization_count(instance, "image_metadata", key) == 1


def test_a_file_back_under_another_name_takes_over_its_tombstone(
    tmp_path, astrocat_env, instance, store, no_solver
):
    root = tmp_path / "library"
    path = write_tiny_fits(root / "night1" / "a.fits", OBJECT="M42")
    (root / "night1" / "notes.txt").write_text("keeps the folder")
    sensor = Sensor(instance, root)
    sensor.tick()
    (request,) = sensor.tick().run_requests
    run(instance, request)
    path.rename(tmp_path / "away.fits")
    two_looks(sensor)
    assert sensor.partitions() == []

    (tmp_path / "away.fits").rename(root / "night1" / "renamed.fits")
    sensor.tick()
    (request,) = sensor.tick().run_requests
    run(instance, request)
    (new_key,) = sensor.partitions()
    recorded = latest(instance, "image_file", new_key).metadata
    assert recorded["restored_from"].value == str(path)
    (found,) = store.search(None)
    assert found.image.partition_key == new_key
    assert found.image.object == "M42"


def test_tombstones_are_purged_after_their_days(tmp_path, astrocat_env, instance, store, no_solver):
    root = tmp_path / "library"
    path = write_tiny_fits(root / "night1" / "a.fits")
    write_tiny_fits(root / "night1" / "b.fits", seed=1)
    sensor = Sensor(instance, root)
    sensor.tick()
    (request,) = sensor.tick().run_requests
    run(instance, request)
    key = partition_key(str(root), "night1/a.fits")
    thumbnail = Path(store.get_image(key).thumbnail_path)
    thumbnails = ThumbnailStore(astrocat_env / "thumbnails")
    # The gallery's copies of both files (annotated and grid copies, by image id).
    kept_key = partition_key(str(root), "night1/b.fits")
    gone_id, kept_id = store.get_image(key).image_id, store.get_image(kept_key).image_id
    gone_copy = thumbnails.write_grid(gone_id, 320, "jpeg", b"jpeg")
    kept_copy = thumbnails.write_annotated(kept_id, b"jpeg")
    path.unlink()
    two_looks(sensor)
    assert thumbnail.is_file()
    assert not gone_copy.exists()  # removed with its image (the thumbnail stays for a return)
    gone_copy = thumbnails.write_grid(gone_id, 320, "jpeg", b"jpeg")  # left by an interruption
    removed_at = datetime.now(UTC)

    assert library_sync.purge_tombstones(store, thumbnails, removed_at, keep_days=30) == []
    assert thumbnail.is_file()
    later = removed_at + timedelta(days=31)
    assert library_sync.purge_tombstones(store, thumbnails, later, keep_days=30) == [str(path)]
    assert not thumbnail.exists()
    assert not gone_copy.exists()  # removed with its image
    assert kept_copy.is_file()
    assert store.count_images() == 1

    # The daily schedule's job purges with ASTROCAT_TOMBSTONE_DAYS.
    result = defs.resolve_job_def("purge_tombstones_job").execute_in_process(
        instance=instance, resources={"astrocat": AstrocatResource(tombstone_days=0)}
    )
    assert result.success
    assert defs.resolve_schedule_def("purge_tombstones_daily").job_name == "purge_tombstones_job"
