"""Run monitoring's worker health check (defs/run_launcher.py), on real runs whose worker
process is killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from astrocat_pipeline.adapters import processes
from astrocat_pipeline.defs.run_launcher import WORKER_HOST_TAG, LocalProcessRunLauncher

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# A run executed in-process, as `astrocat index` executes its batches, that waits in its step.
WORKER = textwrap.dedent(
    """
    import sys, time
    import dagster as dg
    from astrocat_pipeline.defs.run_launcher import worker_tags

    @dg.op
    def wait() -> None:
        time.sleep(120)

    @dg.job(executor_def=dg.in_process_executor)
    def waiting() -> None:
        wait()

    tags = dict(worker_tags(), **dict(arg.split("=", 1) for arg in sys.argv[1:]))
    with dg.DagsterInstance.get() as instance:
        waiting.execute_in_process(instance=instance, tags=tags)
    """
)


@pytest.fixture
def dagster_home(tmp_path: Path) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        (PROJECT_ROOT / "dagster.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    return home


def start_worker(home: Path, *tags: str) -> subprocess.Popen:
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.Popen([sys.executable, "-c", WORKER, *tags], env=env)


def started_run(instance: dg.DagsterInstance, timeout_s: float = 60) -> dg.DagsterRun:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        if runs:
            return runs[0]
        time.sleep(0.2)
    raise AssertionError("the worker's run never started")


def test_the_projects_instance_uses_the_checking_launcher_with_monitoring_and_retries(
    dagster_home, monkeypatch
):
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.run_launcher, LocalProcessRunLauncher)
        assert instance.run_launcher.supports_check_run_worker_health
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0
        assert instance.run_retries_enabled
        assert instance.run_retries_max_retries >= 1
        assert not instance.run_retries_retry_on_asset_or_op_failure
    production = yaml.safe_load((PROJECT_ROOT / "deploy" / "dagster.postgres.yaml").read_text())
    for config in (production, yaml.safe_load((dagster_home / "dagster.yaml").read_text())):
        assert config["run_launcher"]["class"] == "LocalProcessRunLauncher"
        assert config["run_monitoring"]["enabled"] is True
        assert config["run_retries"]["retry_on_asset_or_op_failure"] is False


@pytest.mark.skipif(not processes.procfs_available(), reason="needs Linux's /proc")
def test_a_run_whose_worker_was_killed_is_found_dead(dagster_home, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    worker = start_worker(dagster_home)
    try:
        with dg.DagsterInstance.get() as instance:
            run = started_run(instance)
            launcher = instance.run_launcher
            deadline = time.monotonic() + 30
            while launcher.worker_alive(run)[0] is None and time.monotonic() < deadline:
                time.sleep(0.2)  # the worker records its process id right after it starts
            alive, why = launcher.worker_alive(run)
            assert alive is True, why
            assert str(worker.pid) in why
            assert launcher.check_run_worker_health(run).status.value == "RUNNING"

            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
            run = instance.get_run_by_id(run.run_id)
            assert run.status == dg.DagsterRunStatus.STARTED  # nothing else would notice
            health = launcher.check_run_worker_health(run)
            assert health.status.value == "FAILED"
            assert f"run worker process {worker.pid} is gone" in health.msg
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


@pytest.mark.skipif(not processes.procfs_available(), reason="needs Linux's /proc")
def test_a_run_on_another_machine_is_not_judged(dagster_home, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    worker = start_worker(dagster_home, f"{WORKER_HOST_TAG}=another-machine.example")
    try:
        with dg.DagsterInstance.get() as instance:
            run = started_run(instance)
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
            alive, why = instance.run_launcher.worker_alive(run)
            assert alive is None
            assert "another-machine.example" in why
            # Run monitoring fails only what it knows is dead.
            assert instance.run_launcher.check_run_worker_health(run).status.value == "RUNNING"
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
