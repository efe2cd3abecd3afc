"""The production setup: a Dagster instance built from deploy/dagster.postgres.yaml on a real
PostgreSQL server, with the catalog on PostgreSQL too, running the pipeline end to end."""

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.schedule_storage import PostgresScheduleStorage

from astrocat_pipeline.adapters.catalog import open_catalog
from astrocat_pipeline.definitions import defs
from astrocat_pipeline.defs.dagster_internals import pg_storage_engine
from astrocat_pipeline.defs.partitions import IMAGES_PARTITIONS_NAME
from astrocat_pipeline.defs.resources import AstrocatResource
from astrocat_pipeline.defs.retention import prune_runs
from astrocat_pipeline.defs.sensors import SENSOR_NAME, SENSOR_NAME_TAG, evaluate_library
from astrocat_pipeline_tests.conftest import fresh_postgres_database
from astrocat_pipeline_tests.defs.conftest import write_tiny_fits
from astrocat_pipeline_tests.samples import PROJECT_ROOT

pytestmark = pytest.mark.postgres

IMAGE_ASSETS = ("image_file", "image_metadata", "image_thumbnail", "plate_solution")


@pytest.fixture
def second_database_url(postgres_admin_url: str) -> Iterator[str]:
    """Another fresh database: Dagster and the catalog cannot share one (both keep an
    ``alembic_version`` table)."""
    with fresh_postgres_database(postgres_admin_url) as url:
        yield url


@pytest.fixture
def postgres_instance(
    tmp_path: Path, postgres_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dg.DagsterInstance]:
    """The instance a production $DAGSTER_HOME with deploy/dagster.postgres.yaml gives, in the
    environment of deploy/production.env."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", postgres_database_url)
    for line in (PROJECT_ROOT / "deploy" / "production.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, value = line.split("=", 1)
            monkeypatch.setenv(name.strip(), value.strip())
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        yield instance
    finally:
        instance.dispose()


def test_the_production_yaml_queues_runs_with_limits(postgres_instance):
    assert type(postgres_instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    queue = postgres_instance.get_concurrency_config().run_queue_config
    assert queue is not None
    assert queue.max_concurrent_runs == 4
    assert {"key": "dagster/sensor_name", "value": "new_image_files", "limit": 3} in (
        queue.tag_concurrency_limits
    )
    # dagster-postgres's storages, holding their connections in a pool (instance_storage.py)
    storages = (
        postgres_instance.event_log_storage,
        postgres_instance.run_storage,
        postgres_instance.schedule_storage,
    )
    assert [
        isinstance(storage, base)
        for storage, base in zip(
            storages,
            (PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage),
            strict=True,
        )
    ] == [True, True, True]
    assert all(
        type(pg_storage_engine(storage).pool).__name__ == "QueuePool" for storage in storages
    )
    # A plain postgresql:// URL (the fixture's) runs on dagster-postgres's driver, not on the
    # catalog's psycopg 3, under which its batched event writes fail.
    assert os.environ["DAGSTER_POSTGRES_URL"].startswith("postgresql://")
    assert {pg_storage_engine(storage).url.drivername for storage in storages} == {
        "postgresql+psycopg2"
    }


def test_the_production_storage_keeps_batched_writes_and_closes_its_connections(
    postgres_instance,
):
    """The pooled storages write a run's materializations in one batch, as dagster-postgres
    does, and close their connections when the instance is disposed."""
    storage = postgres_instance.event_log_storage
    assert type(storage).store_event_batch is PostgresEventLogStorage.store_event_batch
    with storage.index_connection():
        pass
    assert pg_storage_engine(storage).pool.checkedin() == 1
    postgres_instance.dispose()
    assert pg_storage_engine(storage).pool.checkedin() == 0


def test_the_production_storage_replaces_a_connection_the_server_dropped(postgres_instance):
    """A kept connection that the server ended (a restart, an idle timeout) is replaced when it
    is next taken from the pool, and the write goes through."""
    storage = postgres_instance.run_storage
    with storage.connect() as conn:
        pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    admin = sa.create_engine(storage.postgres_url, poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    finally:
        admin.dispose()
    run = postgres_instance.create_run_for_job(defs.resolve_job_def("stale_plate_solves_job"))
    assert postgres_instance.get_run_by_id(run.run_id) is not None
    with storage.connect() as conn:
        assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one() != pid


def test_the_pipeline_runs_on_a_postgres_instance_and_catalog(
    tmp_path, postgres_instance, postgres_database_url, second_database_url, monkeypatch, request
):
    root = tmp_path / "library"
    write_tiny_fits(root / "M31" / "a.fits")
    write_tiny_fits(root / "M31" / "b.fits", seed=1, EXPTIME=120.0)
    monkeypatch.setenv("ASTROCAT_HOME", str(tmp_path / "astrocat_home"))
    monkeypatch.setenv("ASTROCAT_DATABASE_URL", second_database_url)
    monkeypatch.setenv("ASTROCAT_LIBRARY_ROOTS", str(root))
    monkeypatch.setenv("ASTROCAT_SOLVER", "none")
    monkeypatch.delenv("THUMBNAIL_CACHE_PATH", raising=False)

    # The sensor finds the files (two looks), then the daemon's run executes the batch. The
    # resource is torn down as Dagster does after a tick (psycopg 3 warns of a connection
    # left open when it is garbage-collected).
    astrocat = AstrocatResource()
    request.addfinalizer(
        lambda: astrocat.teardown_after_execution(dg.build_init_resource_context())
    )
    cursor = None
    for _ in range(2):
        result = evaluate_library(postgres_instance, astrocat, cursor, print, print)
        cursor = result.cursor
    (run_request,) = result.run_requests
    job = defs.resolve_job_def("index_images")
    tags = {**run_request.tags, SENSOR_NAME_TAG: SENSOR_NAME}
    first = job.execute_in_process(instance=postgres_instance, tags=tags)
    assert first.success

    keys = set(postgres_instance.get_dynamic_partitions(IMAGES_PARTITIONS_NAME))
    assert len(keys) == 2
    for asset in IMAGE_ASSETS:
        assert postgres_instance.get_materialized_partitions(dg.AssetKey(asset)) == keys
    # The materializations are rows of the PostgreSQL event log.
    engine = sa.create_engine(postgres_database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT asset_key, partition FROM event_logs "
                    "WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
                )
            ).all()
    finally:
        engine.dispose()
    assert {partition for _, partition in rows} == keys
    assert len(rows) == 2 * 5  # two files, five assets

    with open_catalog(second_database_url) as catalog:
        images = [result.image for result in catalog.search(None)]
    assert {image.status for image in images} == {"indexed"}
    assert {image.exposure_s for image in images} >= {120.0}

    # Nothing left to do; a re-run supersedes the first run, which retention then removes.
    result = evaluate_library(postgres_instance, astrocat, cursor, print, print)
    assert result.run_requests == []
    second = job.execute_in_process(instance=postgres_instance, tags=tags)
    assert second.success
    pruned = prune_runs(postgres_instance, datetime.now(UTC) + timedelta(seconds=1))
    assert pruned.deleted == (first.run_id,)
    for asset in IMAGE_ASSETS:
        assert postgres_instance.get_materialized_partitions(dg.AssetKey(asset)) == keys
