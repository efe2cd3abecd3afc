"""Each private Dagster API of defs/dagster_internals.py, exercised against a real instance.

Run these first after upgrading Dagster: a failure names the API that is gone or changed and the
function to revisit.
"""

import inspect
import os
import time
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster_postgres.auth import PgTokenProvider
from dagster_postgres.run_storage import PostgresRunStorage

from astrocat_pipeline.defs import dagster_internals

PARTITIONS = dg.StaticPartitionsDefinition(["a", "b", "c"])


def require(owner: Any, attribute: str, api: str, function: str) -> None:
    """Fail naming the Dagster API and the function to revisit if ``owner`` lacks it."""
    if not hasattr(owner, attribute):
        pytest.fail(
            f"Dagster {dg.__version__} no longer has {api}: revisit "
            f"dagster_internals.{function} (and its callers)"
        )


def test_latest_materialization_storage_ids_are_the_newest_of_each_partition(instance):
    require(
        instance.event_log_storage,
        "get_latest_storage_id_by_partition",
        "EventLogStorage.get_latest_storage_id_by_partition",
        "latest_materialization_storage_ids",
    )

    @dg.asset(partitions_def=PARTITIONS)
    def frame() -> None:
        pass

    for key in ("a", "b", "a"):
        assert dg.materialize([frame], instance=instance, partition_key=key).success
    records = instance.fetch_materializations(dg.AssetKey("frame"), limit=10).records
    newest: dict[str, int] = {}
    for record in sorted(records, key=lambda r: r.storage_id):
        newest[record.asset_materialization.partition] = record.storage_id
    assert len(records) == 3
    assert set(newest) == {"a", "b"}
    assert (
        dict(dagster_internals.latest_materialization_storage_ids(instance, dg.AssetKey("frame")))
        == newest
    )


@pytest.fixture
def postgres_run_storage(postgres_database_url: str):
    """dagster-postgres's own run storage (not ours), as it builds itself: NullPool."""
    storage = PostgresRunStorage(postgres_database_url)
    try:
        yield storage
    finally:
        storage.dispose()


@pytest.mark.postgres
def test_pg_storage_engine_is_the_engine_the_storage_queries_through(postgres_run_storage):
    require(
        postgres_run_storage,
        "_engine",
        "the dagster-postgres storages' _engine",
        "pg_storage_engine",
    )
    engine = dagster_internals.pg_storage_engine(postgres_run_storage)
    assert isinstance(engine, sa.Engine)
    connections: list[object] = []
    sa.event.listen(engine, "connect", lambda dbapi_connection, record: connections.append(1))
    postgres_run_storage.get_runs()
    assert connections, (
        "revisit dagster_internals.pg_storage_engine: the storage's queries no longer go "
        "through its _engine"
    )


class CountingTokenProvider(PgTokenProvider):
    """Supplies the URL's own password (a trust-auth server ignores it) as the token, and counts
    the logins that asked for it."""

    def __init__(self, password: str | None) -> None:
        super().__init__()
        self.password = password or ""
        self.logins = 0

    def _fetch_token(self) -> tuple[str, float]:
        return self.password, time.time() + 3600

    def get_token(self) -> str:
        self.logins += 1
        return super().get_token()


@pytest.mark.postgres
def test_replace_pg_storage_engine_pools_the_storage_and_keeps_its_token_provider(
    postgres_database_url,
):
    tokens = CountingTokenProvider(sa.make_url(postgres_database_url).password)
    storage = PostgresRunStorage(postgres_database_url, token_provider=tokens)
    try:
        require(
            storage,
            "_token_provider",
            "the dagster-postgres storages' _token_provider",
            "replace_pg_storage_engine",
        )
        require(
            storage,
            "_engine",
            "the dagster-postgres storages' _engine",
            "replace_pg_storage_engine",
        )
        before = dagster_internals.pg_storage_engine(storage)
        dagster_internals.replace_pg_storage_engine(
            storage, isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=0
        )
        after = dagster_internals.pg_storage_engine(storage)
        assert after is not before
        assert type(after.pool).__name__ == "QueuePool"
        tokens.logins = 0
        storage.get_runs()
        storage.get_runs()
        assert after.pool.checkedin() == 1, (
            "revisit dagster_internals.replace_pg_storage_engine: the storage does not query "
            "through the engine it was given"
        )
        assert tokens.logins == 1, (
            "revisit dagster_internals.replace_pg_storage_engine: the new engine does not log in "
            "with the storage's token provider"
        )
    finally:
        storage.dispose()
        dagster_internals.pg_storage_engine(storage).dispose()


def test_check_target_materialization_makes_a_partition_check_current(instance):
    import importlib

    module = importlib.import_module(
        "dagster._core.definitions.asset_checks.asset_check_evaluation"
    )
    require(
        module,
        "AssetCheckEvaluationTargetMaterializationData",
        "dagster._core...asset_check_evaluation.AssetCheckEvaluationTargetMaterializationData",
        "check_target_materialization",
    )
    check_key = dg.AssetCheckKey(dg.AssetKey("frame"), "sane")

    @dg.multi_asset(
        specs=[dg.AssetSpec("frame", partitions_def=PARTITIONS, skippable=True)],
        check_specs=[dg.AssetCheckSpec("sane", asset="frame", partitions_def=PARTITIONS)],
        partitions_def=PARTITIONS,
        backfill_policy=dg.BackfillPolicy.single_run(),
        can_subset=True,
    )
    def frames(context: dg.AssetExecutionContext):
        # As the image step does: per partition of a range run, a materialization, then its
        # check linked to it.
        for key in context.partition_keys:
            yield dg.AssetMaterialization("frame", partition=key)
            (record,) = context.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey("frame"), asset_partitions=[key]),
                limit=1,
            ).records
            yield dg.AssetCheckEvaluation(
                asset_key=dg.AssetKey("frame"),
                check_name="sane",
                passed=key != "b",
                partition=key,
                target_materialization_data=dagster_internals.check_target_materialization(record),
            )

    result = dg.materialize(
        [frames],
        instance=instance,
        tags={"dagster/asset_partition_range_start": "a", "dagster/asset_partition_range_end": "c"},
    )
    assert result.success
    infos = instance.event_log_storage.get_asset_check_partition_info([check_key])
    states = {
        info.partition_key: (info.latest_execution_status.value, info.is_current) for info in infos
    }
    assert states == {
        "a": ("SUCCEEDED", True),
        "b": ("FAILED", True),
        "c": ("SUCCEEDED", True),
    }, "revisit dagster_internals.check_target_materialization: checks no longer current"


def test_run_worker_process_and_code_server_host_read_what_dagster_records(instance):
    @dg.op
    def noop() -> None:
        pass

    @dg.job(executor_def=dg.in_process_executor)
    def tiny() -> None:
        noop()

    result = tiny.execute_in_process(instance=instance)
    worker = dagster_internals.run_worker_process(instance, result.run_id)
    assert worker is not None, (
        "revisit dagster_internals.run_worker_process: no engine event with the worker's pid"
    )
    pid, recorded_at = worker
    assert pid == os.getpid()
    assert recorded_at <= time.time()
    run = instance.get_run_by_id(result.run_id)
    assert dagster_internals.code_server_host(run) is None  # not launched through a code server
    require(
        __import__("dagster._core.storage.tags", fromlist=["GRPC_INFO_TAG"]),
        "GRPC_INFO_TAG",
        "dagster._core.storage.tags.GRPC_INFO_TAG",
        "code_server_host",
    )
    from dagster._core.storage.tags import GRPC_INFO_TAG

    tagged = run.with_tags({GRPC_INFO_TAG: '{"host": "localhost", "port": 4266}'})
    assert dagster_internals.code_server_host(tagged) == "localhost"
    on_socket = run.with_tags({GRPC_INFO_TAG: '{"socket": "/tmp/x.sock"}'})
    assert dagster_internals.code_server_host(on_socket) == "localhost"


def test_worker_health_answers_as_run_monitoring_reads_it():
    assert dagster_internals.worker_health(False, "gone").status.value == "FAILED"
    assert dagster_internals.worker_health(True, "alive").status.value == "RUNNING"
    # Cannot tell: reported as running, so run monitoring never fails a run on a guess.
    assert dagster_internals.worker_health(None, "?").status.value == "RUNNING"
    assert dagster_internals.worker_health(False, "gone").msg == "gone"


def test_a_pool_limit_is_created_before_its_first_claim(tmp_path):
    require(
        dg.DagsterInstance,
        "global_op_concurrency_default_limit",
        "DagsterInstance.global_op_concurrency_default_limit",
        "initialize_pool_limit",
    )
    overrides = {"concurrency": {"pools": {"default_limit": 3}}}
    with dg.instance_for_test(temp_dir=str(tmp_path), overrides=overrides) as instance:
        require(
            instance.event_log_storage,
            "initialize_concurrency_limit_to_default",
            "EventLogStorage.initialize_concurrency_limit_to_default",
            "initialize_pool_limit",
        )
        assert "plate_solver" not in instance.event_log_storage.get_concurrency_keys()
        dagster_internals.initialize_pool_limit(instance, "plate_solver")
        assert "plate_solver" in instance.event_log_storage.get_concurrency_keys()
        assert instance.event_log_storage.get_concurrency_info("plate_solver").slot_count == 3


@pytest.mark.parametrize("name", sorted(dagster_internals.SQLITE_STORAGE_OVERRIDES))
def test_what_the_sqlite_storage_overrides_is_as_it_was_written_for(name):
    expected, reason = dagster_internals.SQLITE_STORAGE_OVERRIDES[name]
    try:
        found = dagster_internals.source_fingerprint(name)
    except (ImportError, AttributeError) as exc:
        pytest.fail(
            f"Dagster {dg.__version__} no longer has {name} ({exc}); defs/sqlite_storage.py "
            f"depends on it: {reason}"
        )
    if found != expected:
        pytest.fail(
            f"Dagster {dg.__version__} changed {name}, on which defs/sqlite_storage.py depends "
            f"({reason}): read its new source, bring sqlite_storage.py in line, then record "
            f"{found} for it in dagster_internals.SQLITE_STORAGE_OVERRIDES"
        )


def test_every_override_of_the_sqlite_storage_is_listed():
    from astrocat_pipeline.defs import sqlite_storage

    listed = set(dagster_internals.SQLITE_STORAGE_OVERRIDES)
    unlisted = []
    for ours in (
        sqlite_storage.KeptConnectionSqliteRunStorage,
        sqlite_storage.KeptConnectionSqliteScheduleStorage,
        sqlite_storage.KeptConnectionSqliteEventLogStorage,
        sqlite_storage.KeptConnectionSqliteStorage,
    ):
        dagster_class = next(c for c in ours.__mro__[1:] if c.__module__.startswith("dagster."))
        for attribute, value in vars(ours).items():
            method = inspect.isfunction(value) or isinstance(value, classmethod | staticmethod)
            if method and attribute in vars(dagster_class):
                name = f"{dagster_class.__module__}:{dagster_class.__name__}.{attribute}"
                if name not in listed:
                    unlisted.append(name)
    assert not unlisted, f"overridden but not in SQLITE_STORAGE_OVERRIDES: {unlisted}"
