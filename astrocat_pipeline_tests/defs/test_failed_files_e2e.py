"""The real thing for a bad file: `dagster dev` over a library with one unreadable file. Its
partitions show failed through the webserver's GraphQL API (what the UI's "Failed" filter
reads) while the good files are done; after the file is fixed, the backfill the UI launches for
failed partitions re-runs just that file, and everything ends materialized."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
from pathlib import Path

import pytest

from astrocat_pipeline_tests.defs.conftest import write_tiny_fits
from astrocat_pipeline_tests.defs.test_end_to_end import (
    RUN_END_STATES,
    RUNS_QUERY,
    graphql,
    running_dagster_dev,
)

pytestmark = pytest.mark.e2e

ASSETS = ("image_file", "image_metadata", "image_thumbnail", "plate_solution", "catalog_matches")
ASSET_KEYS = ", ".join(f'{{path: ["{asset}"]}}' for asset in ASSETS)
STATUSES_QUERY = """
query {
  assetNodes(assetKeys: [ASSET_KEYS]) {
    assetKey { path }
    assetPartitionStatuses {
      ... on DefaultPartitionStatuses { materializedPartitions failedPartitions }
    }
  }
}
""".replace("ASSET_KEYS", ASSET_KEYS)
# What the asset graph's Materialize dialog sends for the five assets with "Backfill only failed
# and missing partitions within selection": the failed files' keys.
BACKFILL_MUTATION = """
mutation {
  launchPartitionBackfill(backfillParams: {partitionNames: KEYS, assetSelection: [ASSET_KEYS]}) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
""".replace("ASSET_KEYS", ASSET_KEYS)
# The latest execution of a per-partition asset check, as the asset's Checks tab reads it.
CHECK_QUERY = """
query {
  assetCheckExecutions(
    assetKey: {path: ["ASSET"]}, checkName: "CHECK", partition: "KEY", limit: 1
  ) {
    status
    evaluation { success }
  }
}
"""
DEADLINE_S = 150


def check_status(port: int, asset: str, check: str, key: str) -> str | None:
    """The status of ``check`` on ``asset`` for partition ``key`` (None: never executed)."""
    query = CHECK_QUERY.replace("ASSET", asset).replace("CHECK", check).replace("KEY", key)
    executions = graphql(port, query)["assetCheckExecutions"]
    return executions[0]["status"] if executions else None


def partition_statuses(port: int) -> dict[str, dict[str, set[str]]]:
    """Per asset: {"materialized": keys, "failed": keys}, from the webserver."""
    out = {}
    for node in graphql(port, STATUSES_QUERY)["assetNodes"]:
        statuses = node["assetPartitionStatuses"]
        out[node["assetKey"]["path"][0]] = {
            "materialized": set(statuses["materializedPartitions"]),
            "failed": set(statuses["failedPartitions"]),
        }
    return out


def runs(port: int) -> list[dict]:
    return graphql(port, RUNS_QUERY)["runsOrError"]["results"]


def wait_for(port: int, process: subprocess.Popen, condition, what: str, log: Path):
    """Poll ``condition(port)`` (None or falsy: not yet) until it holds or the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            value = condition(port)
        except (urllib.error.URLError, ConnectionError, TimeoutError, KeyError, TypeError):
            value = None
        if value:
            return value
        time.sleep(2)
    pytest.fail(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")


@pytest.fixture
def library(tmp_path: Path) -> tuple[Path, bytes]:
    """Two good frames and ``bad.fits``, a good frame whose first header card is damaged (same
    size, so that fixing it without changing size or mtime does not make the sensor launch it
    again: the retry is the backfill's). Returns the root and the fixed file's bytes."""
    root = tmp_path / "library"
    write_tiny_fits(root / "a.fits", seed=1)
    write_tiny_fits(root / "c.fits", seed=3)
    good = write_tiny_fits(tmp_path / "bad_fixed.fits", seed=2).read_bytes()
    (root / "bad.fits").write_bytes(b"XIMPLE" + good[6:])
    return root, good


def test_dagster_dev_shows_a_bad_file_failed_and_retries_it(tmp_path, library):
    root, fixed = library
    with running_dagster_dev(tmp_path, root, ASTROCAT_SOLVER="none") as dev:
        port, process, log_path = dev.port, dev.process, dev.log_path

        # The sensor's run over the three files ends FAILURE, the bad file failed.
        def sensor_run_ended(port: int) -> dict | None:
            # Only the sensor's: a schedule's run (every 5 minutes) may end first.
            ended = [
                r
                for r in runs(port)
                if r["status"] in RUN_END_STATES
                and any(tag["key"] == "dagster/sensor_name" for tag in r["tags"])
            ]
            return ended[0] if ended else None

        first = wait_for(port, process, sensor_run_ended, "the sensor's run", log_path)
        assert first["status"] == "FAILURE"
        assert any(tag["key"] == "dagster/sensor_name" for tag in first["tags"])
        statuses = partition_statuses(port)
        keys = statuses["image_file"]["materialized"]
        assert {key.rsplit("/", 1)[-1] for key in keys} == {"a.fits", "bad.fits", "c.fits"}
        (bad,) = [key for key in keys if key.endswith("/bad.fits")]
        assert statuses["image_file"]["failed"] == set()  # its bytes were read
        for asset in ASSETS[1:]:
            assert statuses[asset] == {"materialized": keys - {bad}, "failed": {bad}}, asset
        # The per-partition checks as the UI reads them: the good files' thumbnails pass; the
        # bad file's thumbnail was never made, and Dagster shows its planned check as not run.
        for key in keys - {bad}:
            assert check_status(port, "image_thumbnail", "thumbnail_not_blank", key) == "SUCCEEDED"
        assert check_status(port, "image_thumbnail", "thumbnail_not_blank", bad) == (
            "EXECUTION_FAILED"
        )

        # The user fixes the file (same size and mtime) and retries the failed partitions.
        stat = (root / "bad.fits").stat()
        (root / "bad.fits").write_bytes(fixed)
        os.utime(root / "bad.fits", ns=(stat.st_atime_ns, stat.st_mtime_ns))
        launched = graphql(port, BACKFILL_MUTATION.replace("KEYS", json.dumps([bad])))
        result = launched["launchPartitionBackfill"]
        assert result["__typename"] == "LaunchBackfillSuccess", result
        backfill_id = result["backfillId"]

        def backfill_runs_ended(port: int) -> list[dict] | None:
            tagged = [
                r
                for r in runs(port)
                if {"key": "dagster/backfill", "value": backfill_id} in r["tags"]
            ]
            done = tagged and all(r["status"] in RUN_END_STATES for r in tagged)
            return tagged if done else None

        retried = wait_for(port, process, backfill_runs_ended, "the backfill's runs", log_path)
        # One run, over the bad file only, and now everything is done.
        assert [r["status"] for r in retried] == ["SUCCESS"]
        tags = {tag["key"]: tag["value"] for tag in retried[0]["tags"]}
        partitions = {
            tags.get("dagster/partition"),
            tags.get("dagster/asset_partition_range_start"),
            tags.get("dagster/asset_partition_range_end"),
        } - {None}
        assert partitions == {bad}, tags
        statuses = partition_statuses(port)
        for asset in ASSETS:
            assert statuses[asset] == {"materialized": keys, "failed": set()}, asset
        assert check_status(port, "image_thumbnail", "thumbnail_not_blank", bad) == "SUCCEEDED"
        sensor_runs = [
            r for r in runs(port) if any(t["key"] == "dagster/sensor_name" for t in r["tags"])
        ]
        assert len(sensor_runs) == 1  # the sensor did not launch the fixed file again
