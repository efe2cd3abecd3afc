"""Scaling out on Celery: the same night of full-size frames indexed through one Celery worker and
through two, with `astrocat index --runs 2` (issue 17).

Each variant gets a fresh PostgreSQL Dagster instance (deploy/dagster.postgres.yaml) and a fresh
PostgreSQL catalog on the server at ``$ASTROCAT_BENCH_POSTGRES_URL`` (default the local one), and
a RabbitMQ virtual host of its own on the local broker (made with ``rabbitmqctl``); the workers
are started as deploy/celery.yaml says. The frames are bench/night_bench.py's (real Tycho-2 star
positions, N.I.N.A. headers), solved by the local solver; batches of ``BATCH`` frames, so that
there are runs for two workers.

On one machine the workers share its cores: what two workers can gain here is bounded by what
one worker leaves idle (its step already reads two files at a time).

Run from the project root: ``.venv/bin/python -m bench.celery_bench [FRAMES]``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.night_bench import write_night
from bench.scratch_postgres import POSTGRES_URL_DEFAULT, POSTGRES_URL_ENV, scratch_database

FRAMES = 16
BATCH = 4
PROJECT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 90


def _vhost() -> str:
    name = f"astrocat_bench_{uuid.uuid4().hex[:8]}"
    subprocess.run(["rabbitmqctl", "add_vhost", name], check=True, capture_output=True)
    subprocess.run(
        ["rabbitmqctl", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    return name


def _workers(count: int, env: dict[str, str], logs: Path) -> list[subprocess.Popen[bytes]]:
    bin_dir = Path(sys.executable).parent
    started = []
    for number in range(count):
        log = logs / f"worker{number}.log"
        with log.open("wb") as out:
            started.append(
                subprocess.Popen(
                    [
                        str(bin_dir / "dagster-celery"),
                        "worker",
                        "start",
                        "-A",
                        "dagster_celery.app",
                        "-y",
                        str(PROJECT / "deploy" / "celery.yaml"),
                        "-n",
                        f"bench{number}",
                        "--",
                        "--concurrency",
                        "1",
                        "--without-gossip",
                        "--without-mingle",
                    ],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not all("ready." in (logs / f"worker{n}.log").read_text() for n in range(count)):
        if time.monotonic() > deadline or any(w.poll() is not None for w in started):
            _stop(started)
            raise RuntimeError(f"workers did not start; see {logs}")
        time.sleep(0.5)
    return started


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def run_variant(workers: int, root: Path, tmp: Path, admin_url: str) -> float:
    """Seconds `astrocat index --runs 2` takes with ``workers`` Celery workers."""
    vhost = _vhost()
    try:
        with (
            scratch_database(admin_url, "astrocat_celery_bench_dagster") as dagster_url,
            scratch_database(admin_url, "astrocat_celery_bench_catalog") as catalog_url,
        ):
            home = tmp / f"home{workers}"
            (home / "dagster_home").mkdir(parents=True)
            shutil.copy(
                PROJECT / "deploy" / "dagster.postgres.yaml", home / "dagster_home" / "dagster.yaml"
            )
            bin_dir = Path(sys.executable).parent
            env = {
                key: value
                for key, value in os.environ.items()
                if not key.startswith(("ASTROCAT_", "DAGSTER_", "THUMBNAIL_"))
            }
            env.update(
                {
                    "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                    "PYTHONPATH": str(PROJECT),
                    "DAGSTER_HOME": str(home / "dagster_home"),
                    "DAGSTER_POSTGRES_URL": dagster_url,
                    "DAGSTER_EVENT_BATCH_SIZE": "100",
                    "ASTROCAT_HOME": str(home),
                    "ASTROCAT_DATABASE_URL": catalog_url,
                    "ASTROCAT_CELERY_BROKER_URL": f"pyamqp://guest:guest@127.0.0.1:5672/{vhost}",
                }
            )
            # The instance's tables, before the workers open it.
            subprocess.run(
                [sys.executable, "-c", "import dagster as dg; dg.DagsterInstance.get().dispose()"],
                env=env,
                check=True,
            )
            started = _workers(workers, env, home)
            try:
                begin = time.perf_counter()
                subprocess.run(
                    [
                        str(bin_dir / "astrocat"),
                        "index",
                        str(root),
                        "--runs",
                        "2",
                        "--batch-size",
                        str(BATCH),
                        "--json",
                    ],
                    env=env,
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
                return time.perf_counter() - begin
            finally:
                _stop(started)
    finally:
        subprocess.run(["rabbitmqctl", "delete_vhost", vhost], capture_output=True, check=False)


def main(argv: list[str]) -> int:
    args = [arg for arg in argv[1:] if not arg.startswith("--")]
    count = int(args[0]) if args else FRAMES
    admin_url = os.environ.get(POSTGRES_URL_ENV, POSTGRES_URL_DEFAULT)
    tmp = Path(tempfile.mkdtemp(prefix="celery_bench_"))
    try:
        root = tmp / "library"
        write_night(root, count)
        print(f"wrote {count} frames; load {os.getloadavg()[0]:.2f}", flush=True)
        one = run_variant(1, root, tmp, admin_url)
        print(f"1 worker: {one:.1f} s; load {os.getloadavg()[0]:.2f}", flush=True)
        two = run_variant(2, root, tmp, admin_url)
        print(f"2 workers: {two:.1f} s; load {os.getloadavg()[0]:.2f}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(f"{'workers':<10} {'seconds':>8} {'frames/s':>9}")
    for workers, seconds in ((1, one), (2, two)):
        print(f"{workers:<10} {seconds:>8.1f} {count / seconds:>9.2f}")
    print(f"speed-up with two workers: {one / two:.2f}x")
    print(f"load average {Path('/proc/loadavg').read_text().strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
