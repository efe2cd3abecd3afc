"""Scaling out: a library indexed through two real Celery worker processes (dagster-celery), with
the production instance (deploy/dagster.postgres.yaml) on PostgreSQL, the catalog on PostgreSQL
and RabbitMQ as the broker, as deploy/celery.yaml and the README's "Scaling out" describe."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from astrocat_pipeline import definitions
from astrocat_pipeline.adapters.catalog import open_catalog
from astrocat_pipeline.defs.indexing import index_library
from astrocat_pipeline.defs.partitions import IMAGES_PARTITIONS_NAME
from astrocat_pipeline.settings import Settings
from astrocat_pipeline_tests.conftest import fresh_postgres_database
from astrocat_pipeline_tests.defs.conftest import write_tiny_fits
from astrocat_pipeline_tests.samples import PROJECT_ROOT

pytestmark = [pytest.mark.postgres, pytest.mark.celery]

BROKER_HOST, BROKER_PORT = "127.0.0.1", 5672
WORKER_READY_TIMEOUT_S = 60
FILES = 6
BATCH = 3  # two runs, one per worker


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def broker_url() -> Iterator[str]:
    """A RabbitMQ virtual host of this test's own on the local broker (guest/guest), so that no
    other test's or deployment's tasks reach its workers; removed afterwards."""
    try:
        socket.create_connection((BROKER_HOST, BROKER_PORT), timeout=3).close()
    except OSError as exc:
        _missing(f"RabbitMQ is not reachable at {BROKER_HOST}:{BROKER_PORT}: {exc}")
    rabbitmqctl = shutil.which("rabbitmqctl")
    if rabbitmqctl is None:
        _missing("rabbitmqctl is not installed (a virtual host per test is made with it)")
    vhost = f"astrocat_test_{uuid.uuid4().hex[:8]}"
    subprocess.run([rabbitmqctl, "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run(
        [rabbitmqctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"pyamqp://guest:guest@{BROKER_HOST}:{BROKER_PORT}/{vhost}"
    finally:
        subprocess.run([rabbitmqctl, "delete_vhost", vhost], check=False, capture_output=True)


@pytest.fixture
def production(
    tmp_path: Path, postgres_admin_url: str, broker_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """The environment of a production deployment that scales out: the Dagster instance of
    deploy/dagster.postgres.yaml and the catalog, each on a database of its own, the broker,
    the library. Returned as the variables the workers get too."""
    with (
        fresh_postgres_database(postgres_admin_url) as dagster_url,
        fresh_postgres_database(postgres_admin_url) as catalog_url,
    ):
        home = tmp_path / "dagster_home"
        home.mkdir()
        shutil.copy(PROJECT_ROOT / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
        library = tmp_path / "library"
        for number in range(FILES):
            write_tiny_fits(library / f"frame_{number}.fits", seed=number)
        env = {
            "DAGSTER_HOME": str(home),
            "DAGSTER_POSTGRES_URL": dagster_url,
            "ASTROCAT_HOME": str(tmp_path / "astrocat_home"),
            "ASTROCAT_DATABASE_URL": catalog_url,
            "ASTROCAT_LIBRARY_ROOTS": str(library),
            "ASTROCAT_SOLVER": "none",
            "ASTROCAT_CELERY_BROKER_URL": broker_url,
        }
        for line in (PROJECT_ROOT / "deploy" / "production.env").read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                name, value = line.split("=", 1)
                env[name.strip()] = value.strip()
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        # The instance's tables are made before any worker opens it (two workers starting on an
        # empty database would both create them, and one would fail).
        dg.DagsterInstance.get().dispose()
        yield env


def _start_worker(name: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``dagster-celery worker start`` as deploy/celery.yaml says, in a session of its own."""
    bin_dir = Path(sys.executable).parent
    worker_env = {
        **os.environ,
        **env,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        # The workers load the job from this checkout, as the test process does.
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                str(bin_dir / "dagster-celery"),
                "worker",
                "start",
                "-A",
                "dagster_celery.app",
                "-y",
                str(PROJECT_ROOT / "deploy" / "celery.yaml"),
                "-n",
                name,
                "--",
                "--concurrency",
                "1",
                "--without-gossip",
                "--without-mingle",
            ],
            env=worker_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)  # celery's warm shutdown
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def two_workers(production: dict[str, str], tmp_path: Path) -> Iterator[list[str]]:
    """Two Celery worker processes on the broker, ready; their names. Stopped afterwards."""
    names = [f"astrocat-test-{uuid.uuid4().hex[:6]}-{n}" for n in (1, 2)]
    logs = [tmp_path / f"{name}.log" for name in names]
    workers = [_start_worker(name, production, log) for name, log in zip(names, logs, strict=True)]
    try:
        deadline = time.monotonic() + WORKER_READY_TIMEOUT_S
        while not all(
            f"{name}@" in log.read_text() and "ready" in log.read_text()
            for name, log in zip(names, logs, strict=True)
        ):
            for worker, log in zip(workers, logs, strict=True):
                if worker.poll() is not None:
                    pytest.fail(f"a Celery worker exited:\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(
                    "Celery workers not ready in time:\n"
                    + "\n".join(log.read_text()[-2000:] for log in logs)
                )
            time.sleep(0.5)
        yield names
    finally:
        for worker in workers:
            _stop(worker)


def test_a_library_is_indexed_through_two_celery_workers(two_workers, production):
    settings = Settings.from_env()
    assert settings.celery_broker_url == production["ASTROCAT_CELERY_BROKER_URL"]
    instance = dg.DagsterInstance.get()
    try:
        summary = index_library(
            settings,
            instance,
            definitions.defs.resolve_job_def("index_images"),
            batch_size=BATCH,
            celery_job=dg.reconstructable(definitions.index_images_celery),
            runs_at_once=2,
        )
        assert (summary.files, summary.runs, summary.failed_runs) == (FILES, 2, 0)

        # The runs are of the Celery job, and each one's step ran on a worker: one each.
        runs = instance.get_runs()
        assert {run.job_name for run in runs} == {"index_images_celery"}
        hosts = []
        for run in runs:
            for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
                data = record.dagster_event.engine_event_data if record.dagster_event else None
                if data is not None and "Celery worker" in data.metadata:
                    hosts.append(data.metadata["Celery worker"].value)
        assert len(hosts) == 2
        assert {host.split("@")[0] for host in hosts} == set(two_workers)

        # Every file is in Dagster and in the catalog, with its metadata and thumbnail.
        keys = instance.get_dynamic_partitions(IMAGES_PARTITIONS_NAME)
        assert len(keys) == FILES
        for asset in ("image_file", "image_metadata", "image_thumbnail", "plate_solution"):
            assert instance.get_materialized_partitions(dg.AssetKey(asset)) == set(keys), asset
        with open_catalog(settings.database_url) as store:
            results = store.search(None)
        assert len(results) == FILES
        for result in results:
            assert result.image.status == "indexed", result.image.error
            assert result.image.width == 64
            assert result.image.frame_type == "light"
            assert result.image.thumbnail_path
            assert Path(result.image.thumbnail_path).is_file()
    finally:
        instance.dispose()
