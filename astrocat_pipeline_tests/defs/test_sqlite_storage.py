"""The embedded instance's SQLite storage with its connections kept open (defs/sqlite_storage.py):
configured by dagster.yaml and by ``astrocat index``'s own instance; a connection per database
file reused, commits without fsync; two processes writing one instance lose nothing; a run's
live log is still followed; a home moves between it and Dagster's default storage with its
history."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from astrocat_pipeline.defs.sqlite_storage import (
    KeptConnectionSqliteEventLogStorage,
    KeptConnectionSqliteRunStorage,
    KeptConnectionSqliteScheduleStorage,
    KeptConnectionSqliteStorage,
    storage_yaml,
)
from astrocat_pipeline_tests.samples import PROJECT_ROOT


def _kept_instance(home: Path) -> dg.DagsterInstance:
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n" + storage_yaml(str(home)), encoding="utf-8"
    )
    return dg.DagsterInstance.from_config(str(home))


def _materialize(instance: dg.DagsterInstance, asset: str, partition: str) -> None:
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key=asset, partition=partition, metadata={"n": 1})
    )


def test_the_project_s_dagster_yaml_uses_it(tmp_path, monkeypatch):
    config = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text(encoding="utf-8"))
    assert config["storage"]["custom"] == {
        "module": "astrocat_pipeline.defs.sqlite_storage",
        "class": "KeptConnectionSqliteStorage",
        "config": {"base_dir": {"env": "DAGSTER_HOME"}},
    }
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    project_yaml = (PROJECT_ROOT / "dagster.yaml").read_text(encoding="utf-8")
    (home / "dagster.yaml").write_text(project_yaml, encoding="utf-8")  # as scripts/run does
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_storage, KeptConnectionSqliteRunStorage)
        assert isinstance(instance.event_log_storage, KeptConnectionSqliteEventLogStorage)
        assert isinstance(instance.schedule_storage, KeptConnectionSqliteScheduleStorage)
        _materialize(instance, "frame", "a")
    # Dagster's own folders under the home.
    assert (home / "history" / "runs.db").is_file()
    assert (home / "history" / "runs" / "index.db").is_file()
    assert (home / "schedules" / "schedules.db").is_file()


def test_astrocat_index_writes_it_into_the_instance_it_creates(tmp_path, monkeypatch):
    from astrocat_pipeline.cli import INSTANCE_YAML, main

    astrocat_home = tmp_path / "astrocat"
    monkeypatch.setenv("ASTROCAT_HOME", str(astrocat_home))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("ASTROCAT_SOLVER", "none")
    library = tmp_path / "library"
    library.mkdir()
    old_home = astrocat_home / "dagster_home"
    old_home.mkdir(parents=True)
    (old_home / "dagster.yaml").write_text(INSTANCE_YAML)  # written by an earlier version

    assert main(["index", str(library), "--json"]) == 0

    written = yaml.safe_load((old_home / "dagster.yaml").read_text())
    assert written["storage"]["custom"]["class"] == "KeptConnectionSqliteStorage"
    assert written["storage"]["custom"]["config"]["base_dir"] == str(old_home.resolve())
    assert written["telemetry"] == {"enabled": False}


def test_a_connection_per_database_file_is_kept_and_commits_are_not_fsynced(tmp_path):
    with _kept_instance(tmp_path) as instance:
        storage = instance.event_log_storage
        assert isinstance(instance.get_ref().storage, KeptConnectionSqliteStorage)
        seen = set()
        for partition in ("a", "b", "c"):
            _materialize(instance, "frame", partition)
            with storage.index_connection() as conn:
                seen.add(id(conn.connection.dbapi_connection))
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert len(seen) == 1, "a new connection was opened for each operation"
        runs = instance.run_storage
        with runs.connect() as first, runs.connect() as second:
            # Threads that overlap get a connection of their own.
            assert first.connection.dbapi_connection is not second.connection.dbapi_connection
        assert len(instance.fetch_materializations(dg.AssetKey("frame"), limit=10).records) == 3


_WRITER = textwrap.dedent(
    """
    import sys
    import dagster as dg

    home, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with dg.DagsterInstance.from_config(home) as instance:
        for number in range(count):
            instance.report_runless_asset_event(
                dg.AssetMaterialization(asset_key=name, partition=str(number))
            )
            if number % 10 == 0:
                instance.add_dynamic_partitions(name, [f"{name}-{number}"])
    """
)


def test_two_processes_writing_one_instance_lose_no_events(tmp_path):
    count = 150
    with _kept_instance(tmp_path):
        pass  # the files exist before the writers start, as a running instance's do
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(tmp_path), name, str(count)],
            cwd=PROJECT_ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("left", "right")
    ]
    for writer in writers:
        _, errors = writer.communicate(timeout=300)
        assert writer.returncode == 0, errors
    with _kept_instance(tmp_path) as instance:
        for name in ("left", "right"):
            records = instance.fetch_materializations(dg.AssetKey(name), limit=10 * count).records
            assert sorted(int(r.partition_key) for r in records) == list(range(count)), name
            assert len(instance.get_dynamic_partitions(name)) == count // 10
        # Both mirrored into the same run file (the run-less events') as well as the index.
        logs = instance.all_logs("", of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
        assert len(logs) == 2 * count


_LATE_WRITER = textwrap.dedent(
    """
    import sys, time
    import dagster as dg

    home, count = sys.argv[1], int(sys.argv[2])
    with dg.DagsterInstance.from_config(home) as instance:
        for number in range(count):
            instance.report_runless_asset_event(
                dg.AssetMaterialization(asset_key="live", partition=str(number))
            )
        print("written", flush=True)
        time.sleep(30)  # holds its connections open: nothing checkpointed by a close
    """
)


def test_a_run_s_log_is_followed_while_another_process_writes_it(tmp_path):
    received: list[str] = []
    arrived = threading.Event()

    def callback(entry, _cursor):
        if entry.dagster_event is not None and entry.dagster_event.partition is not None:
            received.append(entry.dagster_event.partition)
            if len(received) == 6:
                arrived.set()

    with _kept_instance(tmp_path) as instance:
        _materialize(instance, "live", "first")  # the run-less events' file exists
        # From the start of the run's log (cursor None): the first event comes with the next
        # change of the file.
        instance.event_log_storage.watch("", None, callback)
        time.sleep(0.5)  # the observer is watching
        writer = subprocess.Popen(
            [sys.executable, "-c", _LATE_WRITER, str(tmp_path), "5"],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert writer.stdout is not None
            assert writer.stdout.readline().strip() == "written"
            assert arrived.wait(20), f"the watch saw {received} of 6 events"
        finally:
            writer.kill()
            writer.wait()
            writer.stdout.close()
    assert received == ["first", *(str(n) for n in range(5))]


def test_a_home_keeps_its_history_when_it_changes_storage(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    # Written by Dagster's default SQLite storage (an older dagster.yaml without the block).
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert not isinstance(instance.event_log_storage, KeptConnectionSqliteEventLogStorage)
        _materialize(instance, "frame", "old")
    with _kept_instance(home) as instance:
        records = instance.fetch_materializations(dg.AssetKey("frame"), limit=10).records
        assert [r.partition_key for r in records] == ["old"]
        _materialize(instance, "frame", "new")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        records = instance.fetch_materializations(dg.AssetKey("frame"), limit=10).records
        assert sorted(r.partition_key for r in records) == ["new", "old"]


def test_a_materialization_run_records_every_partition(tmp_path):
    partitions = dg.StaticPartitionsDefinition([str(n) for n in range(20)])

    @dg.asset(partitions_def=partitions)
    def frame() -> None:
        pass

    with _kept_instance(tmp_path) as instance:
        for key in partitions.get_partition_keys():
            assert dg.materialize([frame], instance=instance, partition_key=key).success
        done = instance.get_materialized_partitions(dg.AssetKey("frame"))
        runs = instance.get_runs()
    assert done == set(partitions.get_partition_keys())
    assert len(runs) == 20
    assert json.dumps(sorted(done))  # plain strings


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux's /proc")
def test_a_wipe_leaves_no_connection_to_the_files_it_deletes(tmp_path):
    @dg.asset
    def frame() -> None:
        pass

    def deleted_files_held() -> list[str]:
        held = []
        for fd in Path("/proc/self/fd").iterdir():
            with contextlib.suppress(OSError):
                target = str(fd.readlink())
                if target.startswith(str(tmp_path)) and target.endswith("(deleted)"):
                    held.append(target)
        return held

    with _kept_instance(tmp_path) as instance:
        run_id = dg.materialize([frame], instance=instance).run_id
        assert (tmp_path / "history" / "runs" / f"{run_id}.db").is_file()
        instance.wipe()
        assert not (tmp_path / "history" / "runs" / f"{run_id}.db").exists()
        # Kept connections to the deleted files would keep their disk space and take writes.
        assert deleted_files_held() == []
        assert dg.materialize([frame], instance=instance).success
