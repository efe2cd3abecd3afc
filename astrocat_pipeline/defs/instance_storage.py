"""dagster-postgres storage that keeps its connections open, for deploy/dagster.postgres.yaml.

dagster-postgres opens a new PostgreSQL connection for every query (``NullPool``) in every
process except the webserver, which calls ``optimize_for_webserver`` at start-up to hold them in a
pool. Dagster writes per file and asset one "planned" event when a run is created and one
materialization when it ends; each planned event is written on its own (dagster-postgres batches
only the materializations) with two new connections. Those connections, not the SQL, were most
of Dagster's cost per file. Measured on this 2-core machine with another benchmark running, each
pair in one process: a planned event took 16 ms with a connection per query and 2.7 ms pooled;
Dagster's floor (bench/dagster_floor.py, 1,000 partitions, assets doing nothing) 90 vs 16.5 ms
per partition; bench/orchestration_bench.py (1,000 frames, ``--compare-unpooled``) 104 vs 35 ms
per frame against 20 ms for the plain loop.

These classes are dagster-postgres's own storages, same tables and same code, with the pooled
engine that ``optimize_for_webserver`` builds: one connection kept per storage and process (three
per process: runs, event log, schedules), more opened under concurrency and closed when returned
(``max_overflow``), recycled after an hour; and each connection checked as it is taken from the
pool, so that one the server dropped is replaced. No statement timeout (the webserver sets its
own when it re-pools at start-up).

They are configured as three storages (``run_storage``, ``event_log_storage``,
``schedule_storage``), not as ``storage: custom:``, which Dagster wraps in a legacy adapter that
does not forward ``store_event_batch`` (the batched materializations would be written one by
one again).
"""

from typing import Any

from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.schedule_storage import PostgresScheduleStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config
from sqlalchemy.engine import make_url

from astrocat_pipeline.defs import dagster_internals

POOL_SIZE = 1  # connections kept open per storage and process, as in the webserver
POOL_RECYCLE_S = 3600  # the webserver's default (--db-pool-recycle)
POOL_MAX_OVERFLOW = 10  # connections beyond the pooled one while threads or steps overlap


def _pool(storage: Any) -> None:
    """Give ``storage`` the pooled engine of ``optimize_for_webserver`` (same options), plus a
    liveness check of each connection as it is taken from the pool (one round trip), so that a
    connection the server dropped (a restart, an idle timeout) is replaced instead of failing the
    next write; ``test_postgres_instance.py`` checks it."""
    dagster_internals.replace_pg_storage_engine(
        storage,
        isolation_level="AUTOCOMMIT",
        pool_size=POOL_SIZE,
        max_overflow=POOL_MAX_OVERFLOW,
        pool_recycle=POOL_RECYCLE_S,
        pool_pre_ping=True,
    )


def _close(storage: Any) -> None:
    """Close the pooled connections when the instance is disposed (dagster-postgres's ``dispose``
    leaves its engine alone: with a connection per query it never held one)."""
    dagster_internals.pg_storage_engine(storage).dispose()


def _psycopg2_url(url: str) -> str:
    """``url`` naming psycopg2, dagster-postgres's driver. A plain ``postgresql://`` URL (as
    dagster-postgres builds from a ``postgres_db`` block) would get psycopg 3 from SQLAlchemy
    2.1 now that the catalog installs it, and dagster-postgres's batched event writes fail under
    psycopg 3 (a syntax error at ``$1``)."""
    sa_url = make_url(url)
    if sa_url.drivername in ("postgresql", "postgresql+psycopg"):
        return sa_url.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    return url


def _arguments(inst_data: Any, config_value: Any) -> dict[str, Any]:
    """What dagster-postgres's own ``from_config_value`` passes (it builds its base class by name,
    so each subclass repeats it), with the URL naming psycopg2."""
    return {
        "inst_data": inst_data,
        "postgres_url": _psycopg2_url(pg_url_from_config(config_value)),
        "should_autocreate_tables": config_value.get("should_autocreate_tables", True),
        "token_provider": get_token_provider_from_config(config_value),
    }


class _Pooled:
    """What the three storages add to dagster-postgres's: the pool, closed on dispose, and a
    ``from_config_value`` that builds the subclass (dagster-postgres's builds its own class)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _pool(self)

    def dispose(self) -> None:
        super().dispose()  # type: ignore[misc]
        _close(self)

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(**_arguments(inst_data, config_value))


class PooledPostgresRunStorage(_Pooled, PostgresRunStorage):
    pass


class PooledPostgresEventLogStorage(_Pooled, PostgresEventLogStorage):
    pass


class PooledPostgresScheduleStorage(_Pooled, PostgresScheduleStorage):
    pass
