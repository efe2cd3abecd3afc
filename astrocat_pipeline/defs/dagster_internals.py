"""Every use of a private Dagster API, each in one small function with the reason for it (and
the private methods sqlite_storage.py overrides, listed in ``SQLITE_STORAGE_OVERRIDES``).

Dagster is pinned exactly (pyproject.toml). When it is upgraded, run
``astrocat_pipeline_tests/defs/test_dagster_internals.py`` first: it exercises each function here
against a real instance and fails naming the API that changed and the function to revisit.
Nothing else in the package touches a private attribute or a non-public method of Dagster.
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg


def pg_storage_engine(storage: Any) -> Any:
    """The SQLAlchemy engine a dagster-postgres storage (runs, event log, schedules) runs its
    queries on.

    The pooled storages (instance_storage.py) read its connection options to keep them and
    dispose it when the instance is disposed: dagster-postgres's own ``dispose`` leaves its
    engine alone, since with a connection per query it never holds one.

    Private: ``PostgresRunStorage._engine`` (and the event-log and schedule storages').
    """
    return storage._engine


def replace_pg_storage_engine(storage: Any, **engine_kwargs: Any) -> None:
    """Give a dagster-postgres storage a new engine on its URL, built as dagster-postgres builds
    its own (``create_pg_engine`` with the storage's token provider, so cloud IAM logins keep
    working) but with ``engine_kwargs``, keeping the URL's ``options`` as connection options;
    the old engine is disposed.

    What ``optimize_for_webserver`` does for the webserver, with other pool options and no
    statement timeout: dagster-postgres opens a new connection for every query elsewhere, and
    those connections were most of Dagster's cost per file (instance_storage.py).

    Private: the storages' ``_engine`` (read and replaced) and ``_token_provider``.
    """
    # Imported here: only a PostgreSQL instance needs dagster-postgres (and its driver) loaded.
    from dagster_postgres.utils import create_pg_engine

    old = pg_storage_engine(storage)
    options = old.url.query.get("options")
    if options:
        engine_kwargs = {**engine_kwargs, "connect_args": {"options": options}}
    old.dispose()
    storage._engine = create_pg_engine(
        storage.postgres_url, storage._token_provider, **engine_kwargs
    )


def latest_materialization_storage_ids(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey
) -> Mapping[str, int]:
    """The storage id of the latest materialization of each partition of ``asset_key``, by
    partition key, in one query.

    Run retention (retention.py) keeps every run holding such a materialization. The public
    API answers only with statuses (``get_status_by_partition``) or with every materialization
    record of the asset, which at 100,000 partitions and many re-runs means reading the whole
    history to find the newest of each.

    Not public: ``EventLogStorage.get_latest_storage_id_by_partition``.
    """
    return instance.event_log_storage.get_latest_storage_id_by_partition(
        asset_key, dg.DagsterEventType.ASSET_MATERIALIZATION
    )


def check_target_materialization(record: dg.EventLogRecord) -> Any:
    """What a per-file asset check evaluation points at: the materialization ``record`` (its
    storage id, run and time), as ``AssetCheckEvaluation(target_materialization_data=...)``
    takes it.

    The image step evaluates its checks per partition in a run over a range of partitions
    (assets.py). Dagster links a check to its materialization only for ``AssetCheckResult``,
    which in a range run has no partition (its evaluation lands with partition None and the UI
    shows the check skipped); an ``AssetCheckEvaluation`` with a partition is linked by nothing
    but this pointer, and without it the check's partition statuses stay empty.

    Private: ``AssetCheckEvaluationTargetMaterializationData`` (only in ``dagster._core``).
    """
    from dagster._core.definitions.asset_checks.asset_check_evaluation import (
        AssetCheckEvaluationTargetMaterializationData,
    )

    return AssetCheckEvaluationTargetMaterializationData(
        storage_id=record.storage_id,
        run_id=record.event_log_entry.run_id,
        timestamp=record.timestamp,
    )


def code_server_host(run: dg.DagsterRun) -> str | None:
    """The host of the code server a daemon-launched run was started through (its run worker
    is a child process there), or None for a run not launched through one (executed in-process,
    as ``astrocat index`` does).

    The run launcher's worker health check (run_launcher.py) judges only runs whose worker is a
    process of this machine.

    Private: the hidden run tag ``GRPC_INFO_TAG`` the default run launcher reads back itself.
    """
    import json

    from dagster._core.storage.tags import GRPC_INFO_TAG

    info = run.tags.get(GRPC_INFO_TAG)
    if not info:
        return None
    grpc = json.loads(info)
    # A code server on a Unix socket is on this machine.
    return grpc.get("host") or ("localhost" if grpc.get("socket") else None)


def run_worker_process(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """The process id of a run's worker and the time it recorded it, or None before it did.

    The first engine event of a run that carries a process id is its worker's: "Started process
    for run" from a code server's run subprocess, or "Executing steps in process" from a run
    executed in-process (later ones may name step subprocesses, which end normally).

    Not public: ``EngineEventData.metadata`` read from an event's ``event_specific_data``.
    """
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, limit=50
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        data = event.event_specific_data if event is not None else None
        pid = getattr(data, "metadata", {}).get("pid")
        if pid is not None:
            return int(pid.value), record.timestamp
    return None


def worker_health(alive: bool | None, message: str) -> Any:
    """A run launcher's answer to run monitoring's worker health check: alive, dead (the
    daemon fails the run), or None when it cannot tell (reported as running: a run is never
    failed on a guess).

    Private: ``CheckRunHealthResult`` and ``WorkerStatus`` (``dagster._core.launcher``).
    """
    from dagster._core.launcher.base import CheckRunHealthResult, WorkerStatus

    status = WorkerStatus.FAILED if alive is False else WorkerStatus.RUNNING
    return CheckRunHealthResult(status, message)


def launcher_instance(launcher: Any) -> dg.DagsterInstance:
    """The instance a run launcher belongs to (the launcher reads its runs' events there).

    Private: ``MayHaveInstanceWeakref._instance``, the weak reference every run launcher keeps.
    """
    return launcher._instance


def initialize_pool_limit(instance: dg.DagsterInstance, pool: str) -> None:
    """Create ``pool``'s row of concurrency limits (the instance's default limit) now, before
    runs that claim it go in parallel.

    Dagster 1.13 creates the row on a pool's first claim and, when a concurrent run created it
    first, catches the unique violation and goes on in the same transaction: PostgreSQL has
    aborted that transaction, so one of two runs claiming a new pool at once fails ("current
    transaction is aborted"; met with two Celery runs, test_celery.py). Created beforehand,
    no claim creates it. Nothing to do without a default pool limit.

    Private: ``EventLogStorage.initialize_concurrency_limit_to_default`` (not public API).
    """
    if instance.global_op_concurrency_default_limit is None:
        return
    instance.event_log_storage.initialize_concurrency_limit_to_default(pool)


# What sqlite_storage.py (the embedded instance's SQLite storages with their connections kept
# open) overrides or relies on inside Dagster's own SQLite storages, none of it public API: each
# entry names the Dagster object, the first 16 hex digits of the SHA-256 of its source as
# ``inspect.getsource`` gave it in Dagster 1.13.27, and why sqlite_storage.py depends on it.
# ``test_dagster_internals.py`` fails, naming the object, as soon as an upgrade changes one: read
# Dagster's new source, bring the override in line, then update the fingerprint here.
SQLITE_STORAGE_OVERRIDES: Mapping[str, tuple[str, str]] = {
    "dagster._core.storage.event_log.sqlite.sqlite_event_log:SqliteEventLogStorage._connect": (
        "b8435f2665689760",
        "overridden: the same lock, first-use initialisation and transaction, on a kept engine",
    ),
    "dagster._core.storage.event_log.sqlite.sqlite_event_log:SqliteEventLogStorage.__init__": (
        "264c15baa761a7bb",
        "sets _db_lock and _initialized_dbs, which the _connect override uses, and creates the "
        "index file through _connect (the kept engines must exist before it runs)",
    ),
    "dagster._core.storage.event_log.sqlite.sqlite_event_log:SqliteEventLogStorage._initdb": (
        "7a302d98eb61a34d",
        "called by the _connect override on a file's first use in a process",
    ),
    "dagster._core.storage.event_log.sqlite.sqlite_event_log:SqliteEventLogStorage.watch": (
        "a223e2f9cf3abda9",
        "replaced (with end_watch and dispose): Dagster's watch follows a run's database file, "
        "which commits on a kept connection leave alone until a checkpoint",
    ),
    "dagster._core.storage.event_log.sqlite.sqlite_event_log:SqliteEventLogStorage.end_watch": (
        "dd45a3cadaad5f75",
        "replaced with watch",
    ),
    "dagster._core.storage.event_log.sqlite.sqlite_event_log:SqliteEventLogStorage.dispose": (
        "df16dafbfa8427c1",
        "extended: stops the replaced watch's observer and closes the kept engines",
    ),
    "dagster._core.storage.event_log.sqlite.sqlite_event_log:SqliteEventLogStorage.wipe": (
        "de02c63676e7d477",
        "extended: it deletes the runs' files, so the kept engines are closed first",
    ),
    "dagster._core.storage.event_log.sqlite.sqlite_event_log:SqliteEventLogStorageWatchdog": (
        "cd600a026151f6f5",
        "its _process_log is what the replaced watch's handler does for each change",
    ),
    "dagster._core.storage.runs.sqlite.sqlite_run_storage:SqliteRunStorage.connect": (
        "d343abae6e9bea85",
        "overridden: the same transaction on a kept engine",
    ),
    "dagster._core.storage.runs.sqlite.sqlite_run_storage:SqliteRunStorage.__init__": (
        "391592fd1e58acba",
        "sets _conn_string, which the connect override opens",
    ),
    "dagster._core.storage.schedules.sqlite.sqlite_schedule_storage:"
    "SqliteScheduleStorage.connect": (
        "d343abae6e9bea85",
        "overridden: the same transaction on a kept engine",
    ),
    "dagster._core.storage.schedules.sqlite.sqlite_schedule_storage:"
    "SqliteScheduleStorage.__init__": (
        "6752d929360fc05b",
        "sets _conn_string, which the connect override opens",
    ),
    "dagster._core.storage.sqlite_storage:DagsterSqliteStorage.__init__": (
        "bcf5aa27a5dd083f",
        "replaced: builds the three kept-connection storages in the same folders, and the "
        "attributes Dagster's own sets",
    ),
    "dagster._core.storage.sqlite_storage:DagsterSqliteStorage.from_config_value": (
        "7330f7b17b217d04",
        "overridden: Dagster's builds DagsterSqliteStorage by name",
    ),
    "dagster._core.storage.sqlite_storage:_runs_directory": (
        "1e2d5a68c6969d2c",
        "the folder of runs.db under the instance's home, shared with Dagster's storage",
    ),
    "dagster._core.storage.sqlite_storage:_event_logs_directory": (
        "ab3215673d53f8fc",
        "the folder of the event log's files, shared with Dagster's storage",
    ),
    "dagster._core.storage.sqlite_storage:_schedule_directory": (
        "bd28224a762900aa",
        "the folder of schedules.db, shared with Dagster's storage",
    ),
}


def source_fingerprint(qualified_name: str) -> str:
    """The fingerprint ``SQLITE_STORAGE_OVERRIDES`` records for ``module:attribute.path``: the
    first 16 hex digits of the SHA-256 of its source in the installed Dagster."""
    import hashlib
    import importlib
    import inspect

    module_name, attribute = qualified_name.split(":")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    return hashlib.sha256(inspect.getsource(target).encode()).hexdigest()[:16]
