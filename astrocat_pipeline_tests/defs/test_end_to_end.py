"""The real thing: `dagster dev` (webserver and daemon) over a tiny library, driven only by the
default-on sensor, checked through the GraphQL API, then stopped cleanly."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from astrocat_pipeline_tests.defs.conftest import needs_solver, write_tiny_fits
from astrocat_pipeline_tests.samples import PROJECT_ROOT

pytestmark = [pytest.mark.e2e, needs_solver]

PARTITION_STATS_QUERY = """
query {
  assetNodes(assetKeys: [{path: ["catalog_matches"]}]) {
    partitionStats { numMaterialized numPartitions numFailed }
  }
}
"""
RUNS_QUERY = """
query { runsOrError { ... on Runs { results { runId status tags { key value } } } } }
"""
RUN_END_STATES = {"SUCCESS", "FAILURE", "CANCELED"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["data"]


@pytest.fixture
def tiny_library(tmp_path: Path) -> Path:
    from astrocat_pipeline.adapters.star_index import list_index_stars
    from astrocat_pipeline.demo.library import DEMO_FIELDS, write_demo_library
    from astrocat_pipeline.settings import DEFAULT_INDEX_DIR

    demo = tmp_path / "demo"
    write_demo_library(demo, lambda ra, dec, r: list_index_stars(ra, dec, r, DEFAULT_INDEX_DIR))
    library = tmp_path / "library"
    light = next(f for f in DEMO_FIELDS if f.frame_type == "light")
    target = library / light.rel_path
    target.parent.mkdir(parents=True)
    shutil.copy(demo / light.rel_path, target)
    write_tiny_fits(library / "calibration" / "BIAS" / "bias, 1.fits", IMAGETYP="BIAS")
    return library


@dataclass(frozen=True)
class DagsterDev:
    """A running ``dagster dev``: its port, its process and its log file."""

    port: int
    process: subprocess.Popen
    log_path: Path


def start_dagster_dev(
    tmp_path: Path, library: Path, log_name: str = "dagster_dev.log", **env: str
) -> DagsterDev:
    """``dagster dev`` (webserver and daemon, the project's ``dagster.yaml``) over ``library``
    with a private home under ``tmp_path`` (kept from an earlier start), in its own process
    group."""
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir(exist_ok=True)
    shutil.copy(PROJECT_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    port = free_port()
    environ = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "ASTROCAT_HOME": str(tmp_path / "astrocat_home"),
        "ASTROCAT_LIBRARY_ROOTS": str(library),
        **env,
    }
    environ.pop("ASTROCAT_DATABASE_URL", None)
    log_path = tmp_path / log_name
    dagster = Path(sys.executable).with_name("dagster")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(dagster), "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-p", str(port)],
            cwd=PROJECT_ROOT,
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so it can be stopped as a whole
            # dagster dev stops on SIGTERM through Python's SIGINT handling, which a process
            # does not get when its parent ignores SIGINT (a test run started with `&` by a
            # non-interactive shell): it would then never stop. Give it the default.
            preexec_fn=restore_sigint,
        )
    return DagsterDev(port, process, log_path)


@contextlib.contextmanager
def running_dagster_dev(tmp_path: Path, library: Path, **env: str) -> Iterator[DagsterDev]:
    """``start_dagster_dev``, stopped with SIGTERM at the end, which must end every process of
    the group."""
    dev = start_dagster_dev(tmp_path, library, **env)
    process = dev.process
    try:
        yield dev
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            pytest.fail("dagster dev did not stop within 60 s of SIGTERM")
    # dagster dev's code servers stop on their own once their parent's heartbeat is missing for
    # --heartbeat-timeout (45 s) when the SIGTERM finds them busy: a busy CI machine saw them
    # still there after 30 s. Gone within that timeout plus 30 s, or they were left behind.
    assert group_is_gone(process.pid, timeout_s=75), "dagster dev left processes behind:\n" + (
        "\n".join(live_group_members(process.pid))
    )


def test_dagster_dev_processes_new_files_through_catalog_matches(tmp_path, tiny_library):
    with running_dagster_dev(tmp_path, tiny_library) as dev:
        port, process = dev.port, dev.process
        deadline = time.monotonic() + 300
        stats = None
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "dagster_dev.log").read_text()[-3000:]
            try:
                nodes = graphql(port, PARTITION_STATS_QUERY)["assetNodes"]
                stats = nodes[0]["partitionStats"] if nodes else None
            except (urllib.error.URLError, ConnectionError, TimeoutError, KeyError):
                stats = None
            if stats and stats["numPartitions"] == 2 and stats["numMaterialized"] == 2:
                break
            time.sleep(3)
        assert stats == {"numMaterialized": 2, "numPartitions": 2, "numFailed": 0}, (
            tmp_path / "dagster_dev.log"
        ).read_text()[-3000:]

        # The last partition is recorded before its run ends (the run worker still has to
        # report the run's own success): wait for the run to reach an end state.
        while True:
            runs = graphql(port, RUNS_QUERY)["runsOrError"]["results"]
            index_runs = [
                run for run in runs if any(t["key"] == "dagster/sensor_name" for t in run["tags"])
            ]
            ended = all(run["status"] in RUN_END_STATES for run in index_runs)
            if ended or time.monotonic() >= deadline:
                break
            time.sleep(1)
        # Both files went through in one batched run, launched by the sensor.
        assert len(index_runs) == 1
        assert index_runs[0]["status"] == "SUCCESS"


def restore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def live_group_members(pgid: int) -> list[str]:
    """The processes of process group `pgid` that are still running, as "pid state command".

    Zombies do not count: they have exited, and reaping an orphan is its new parent's job (the
    container's init), not dagster's."""
    members = []
    for stat_path in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = stat_path.read_text()
            cmdline = (stat_path.parent / "cmdline").read_bytes()
        except OSError:
            continue  # exited meanwhile
        # The command name is in parentheses and may hold spaces; the fields after it are fixed.
        fields = stat[stat.rindex(")") + 2 :].split()
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            command = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
            members.append(f"{stat_path.parent.name} {state} {command}")
    return members


def group_is_gone(pgid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not live_group_members(pgid):
            return True
        time.sleep(0.5)
    return False
