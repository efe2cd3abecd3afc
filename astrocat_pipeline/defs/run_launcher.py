"""The run launcher of both instances (dagster.yaml, deploy/dagster.postgres.yaml): Dagster's
default one, which starts each run in a process of the code server, plus the worker health
check that run monitoring needs to find runs whose worker died.

Dagster's default launcher has no such check, so on its own run monitoring only times out
runs stuck while starting: a run whose worker was killed (SIGKILL, an out-of-memory kill, a
reboot) once it had started stays STARTED for good, its partitions "in progress" and its run
slot taken. Here a run's worker is the process whose id the run recorded when it started; the
run is alive while that same process is (adapters/processes.py tells a reused id from it). The
daemon fails a dead run, run retries (``run_retries`` in the instance's yaml, not on a file's
own failure) launch it again, and the steps' reuse of what the catalog holds makes the second
pass cheap for the files the first one finished. docs/orchestration.md, "Surviving a crash".

Only a run whose worker is a process of this machine is judged: one started through a code
server on this machine, or in-process by ``astrocat index`` here (``WORKER_HOST_TAG``). Any
other is left to the runtime limit.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from astrocat_pipeline.adapters import processes
from astrocat_pipeline.defs import dagster_internals

# The machine an in-process run (``astrocat index``) executes on.
WORKER_HOST_TAG = "astrocat/worker_host"
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})


def worker_tags() -> dict[str, str]:
    """Tags for a run executed in-process on this machine, so a crash of it is found."""
    return {WORKER_HOST_TAG: processes.this_host()}


class LocalProcessRunLauncher(dg.DefaultRunLauncher):
    """Dagster's default run launcher, with the run worker health check of run monitoring."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return processes.procfs_available()

    def check_run_worker_health(self, run: dg.DagsterRun) -> Any:
        return dagster_internals.worker_health(*self.worker_alive(run))

    def worker_alive(self, run: dg.DagsterRun) -> tuple[bool | None, str]:
        """(alive, why): whether ``run``'s worker process is still running; None when this
        machine cannot tell."""
        worker_host = run.tags.get(WORKER_HOST_TAG)
        if worker_host is not None:
            if worker_host != processes.this_host():
                return None, f"the run executes on {worker_host}, not on this machine"
        else:
            server_host = dagster_internals.code_server_host(run)
            if server_host is None or server_host not in LOCAL_HOSTS:
                return None, f"the run's code server is on {server_host or 'an unknown host'}"
        worker = dagster_internals.run_worker_process(
            dagster_internals.launcher_instance(self), run.run_id
        )
        if worker is None:
            return None, "the run has not recorded its worker process yet"
        pid, recorded_at = worker
        if processes.is_same_process(pid, recorded_at):
            return True, f"run worker process {pid} is running"
        return False, (
            f"run worker process {pid} is gone (killed, out of memory, or the machine "
            "restarted): the run is failed so that run retries launch its files again"
        )
