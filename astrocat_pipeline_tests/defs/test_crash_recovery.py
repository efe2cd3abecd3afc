"""The real thing for a crash: `dagster dev` killed with SIGKILL, the whole process group
(webserver, daemon, code server and run worker) at once, while a run is halfway through its
batch, then started again. Run monitoring must find the dead run, run retries must launch its
files again, and every file must end in the catalog once."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
import urllib.error

import dagster as dg
import pytest

from astrocat_pipeline_tests.defs.conftest import write_tiny_fits
from astrocat_pipeline_tests.defs.test_end_to_end import (
    graphql,
    group_is_gone,
    running_dagster_dev,
    start_dagster_dev,
)

pytestmark = pytest.mark.e2e

FILES = 150
STATS_QUERY = """
query {
  assetNodes(assetKeys: [{path: ["image_file"]}, {path: ["catalog_matches"]}]) {
    assetKey { path }
    partitionStats { numMaterialized numPartitions numFailed }
  }
}
"""


def stats(port: int) -> dict[str, dict[str, int]]:
    try:
        nodes = graphql(port, STATS_QUERY)["assetNodes"]
    except (urllib.error.URLError, ConnectionError, TimeoutError, KeyError, TypeError):
        return {}
    return {node["assetKey"]["path"][0]: node["partitionStats"] or {} for node in nodes}


def test_a_run_killed_with_dagster_dev_is_failed_retried_and_its_files_indexed_once(
    tmp_path, monkeypatch
):
    # The project's dagster.yaml names the instance's folder as $DAGSTER_HOME, as the
    # webserver and the daemon have it; this process opens the same instance.
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    library = tmp_path / "library"
    for i in range(FILES):
        write_tiny_fits(library / f"night{i // 50}" / f"light_{i:03d}.fits", seed=i)

    # First start: wait until the sensor's first run has materialized some files, not all.
    dev = start_dagster_dev(tmp_path, library, "first.log", ASTROCAT_SOLVER="none")
    try:
        deadline = time.monotonic() + 300
        done = 0
        while time.monotonic() < deadline:
            assert dev.process.poll() is None, dev.log_path.read_text()[-3000:]
            done = stats(dev.port).get("image_file", {}).get("numMaterialized") or 0
            if 0 < done < FILES:
                break
            time.sleep(0.2)
        assert 0 < done < FILES, f"no run caught halfway ({done} of {FILES} materialized)"
    finally:
        os.killpg(dev.process.pid, signal.SIGKILL)
        dev.process.wait()
    assert group_is_gone(dev.process.pid, timeout_s=30)

    with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        stuck = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    assert stuck, "the kill left no run STARTED (nothing to recover)"
    stuck_ids = {run.run_id for run in stuck}

    # Second start: everything ends done, the dead runs failed and retried.
    with running_dagster_dev(tmp_path, library, ASTROCAT_SOLVER="none") as dev:
        deadline = time.monotonic() + 420
        current: dict[str, dict[str, int]] = {}
        while time.monotonic() < deadline:
            assert dev.process.poll() is None, dev.log_path.read_text()[-3000:]
            current = stats(dev.port)
            if all(
                current.get(asset, {}).get("numMaterialized") == FILES
                for asset in ("image_file", "catalog_matches")
            ):
                break
            time.sleep(3)
        assert all(
            current.get(asset) == {"numMaterialized": FILES, "numPartitions": FILES, "numFailed": 0}
            for asset in ("image_file", "catalog_matches")
        ), (current, dev.log_path.read_text()[-3000:])

    with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        for run_id in stuck_ids:
            run = instance.get_run_by_id(run_id)
            assert run.status == dg.DagsterRunStatus.FAILURE
            failure = instance.get_records_for_run(
                run_id, of_type=dg.DagsterEventType.RUN_FAILURE
            ).records
            assert "is gone" in failure[-1].event_log_entry.dagster_event.message
            retries = instance.get_runs(dg.RunsFilter(tags={"dagster/parent_run_id": run_id}))
            assert retries, f"run {run_id} was not retried"
        left = instance.get_runs(
            dg.RunsFilter(
                statuses=[
                    dg.DagsterRunStatus.STARTED,
                    dg.DagsterRunStatus.STARTING,
                    dg.DagsterRunStatus.QUEUED,
                ]
            )
        )
        assert not left, [run.run_id for run in left]

    catalog = sqlite3.connect(tmp_path / "astrocat_home" / "catalog.db")
    try:
        rows, paths = catalog.execute(
            "SELECT count(*), count(DISTINCT path) FROM images"
        ).fetchone()
    finally:
        catalog.close()
    assert (rows, paths) == (FILES, FILES)
