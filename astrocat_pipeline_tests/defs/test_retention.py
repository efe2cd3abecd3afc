"""Run retention: old finished runs go, with their event logs; in-progress runs and the runs
holding any asset partition's latest materialization stay."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from astrocat_pipeline.core.errors import ConfigError
from astrocat_pipeline.definitions import defs
from astrocat_pipeline.defs.retention import (
    prune_old_runs_daily,
    prune_old_runs_job,
    prune_runs,
)
from astrocat_pipeline.settings import DEFAULT_RUN_RETENTION_DAYS, Settings

frames = dg.DynamicPartitionsDefinition(name="frames")


@dg.asset(partitions_def=frames)
def frame(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"key": context.partition_key})


@dg.asset
def summary() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"rows": 1})


@dg.asset(partitions_def=frames)
def fragile(context: dg.AssetExecutionContext) -> None:
    raise ValueError(f"cannot process {context.partition_key}")


def materialize(instance, asset, partition=None) -> str:
    result = dg.materialize(
        [asset], instance=instance, partition_key=partition, raise_on_error=False
    )
    return result.run_id


def soon() -> datetime:
    """A cutoff just after now: every finished run so far is 'old'."""
    return datetime.now(UTC) + timedelta(seconds=1)


def test_superseded_runs_go_and_latest_materializations_stay(instance):
    instance.add_dynamic_partitions("frames", ["a", "b"])
    first_a = materialize(instance, frame, "a")
    only_b = materialize(instance, frame, "b")
    second_a = materialize(instance, frame, "a")
    first_summary = materialize(instance, summary)
    second_summary = materialize(instance, summary)

    result = prune_runs(instance, soon())

    assert set(result.deleted) == {first_a, first_summary}
    assert result.kept_latest == 3
    for run_id in (first_a, first_summary):
        assert instance.get_run_by_id(run_id) is None
        assert instance.get_records_for_run(run_id).records == []  # its event log went too
    for run_id in (only_b, second_a, second_summary):
        assert instance.get_run_by_id(run_id) is not None
    # Every partition still shows as materialized, with its latest metadata.
    assert instance.get_materialized_partitions(dg.AssetKey("frame")) == {"a", "b"}
    statuses = instance.get_status_by_partition(dg.AssetKey("frame"), ["a", "b"], frames)
    assert set(statuses.values()) == {dg.AssetPartitionStatus.MATERIALIZED}
    assert instance.get_latest_materialization_event(dg.AssetKey("summary")).run_id == (
        second_summary
    )


def test_failed_runs_without_materializations_go(instance):
    instance.add_dynamic_partitions("frames", ["a"])
    failed = materialize(instance, fragile, "a")
    assert instance.get_run_by_id(failed).status == dg.DagsterRunStatus.FAILURE
    assert prune_runs(instance, soon()).deleted == (failed,)


def test_runs_in_progress_and_recent_runs_are_never_deleted(instance):
    instance.add_dynamic_partitions("frames", ["a"])
    job = dg.define_asset_job("frames_job", selection=[frame]).resolve(
        asset_graph=dg.Definitions(assets=[frame]).resolve_asset_graph()
    )
    queued = instance.create_run_for_job(job_def=job, tags={"dagster/partition": "a"})
    started = instance.create_run_for_job(job_def=job, tags={"dagster/partition": "a"})
    instance.handle_run_event(
        started.run_id,
        dg.DagsterEvent(event_type_value=dg.DagsterEventType.RUN_START.value, job_name=job.name),
    )
    old_done = materialize(instance, frame, "a")
    materialize(instance, frame, "a")

    result = prune_runs(instance, soon())
    assert result.deleted == (old_done,)
    assert instance.get_run_by_id(queued.run_id) is not None
    assert instance.get_run_by_id(started.run_id).status == dg.DagsterRunStatus.STARTED

    recent = prune_runs(instance, datetime.now(UTC) - timedelta(days=30))
    assert recent.candidates == 0


def test_deletions_are_bounded_per_prune(instance):
    instance.add_dynamic_partitions("frames", ["a"])
    runs = [materialize(instance, frame, "a") for _ in range(4)]
    first = prune_runs(instance, soon(), max_deletions=2)
    assert first.deleted == tuple(runs[:2])  # oldest first
    assert first.left_for_next_time == 1
    assert prune_runs(instance, soon()).deleted == (runs[2],)


def test_the_job_reads_the_retention_age(instance, astrocat_env, monkeypatch):
    instance.add_dynamic_partitions("frames", ["a"])
    materialize(instance, frame, "a")
    materialize(instance, frame, "a")
    monkeypatch.setenv("ASTROCAT_RUN_RETENTION_DAYS", "0")
    off = prune_old_runs_job.execute_in_process(
        instance=instance, resources={"astrocat": defs.resources["astrocat"]}
    )
    assert off.output_for_node("prune_old_runs") == 0
    monkeypatch.setenv("ASTROCAT_RUN_RETENTION_DAYS", "7")
    fresh = prune_old_runs_job.execute_in_process(
        instance=instance, resources={"astrocat": defs.resources["astrocat"]}
    )
    assert fresh.output_for_node("prune_old_runs") == 0  # nothing is a week old
    assert len(instance.get_run_records()) == 4


def test_retention_setting():
    assert Settings.from_env({}).run_retention_days == DEFAULT_RUN_RETENTION_DAYS == 30
    assert Settings.from_env({"ASTROCAT_RUN_RETENTION_DAYS": "0"}).run_retention_days == 0
    with pytest.raises(ConfigError, match="ASTROCAT_RUN_RETENTION_DAYS='-3'"):
        Settings.from_env({"ASTROCAT_RUN_RETENTION_DAYS": "-3"})


def test_the_schedule_runs_daily_by_default():
    assert prune_old_runs_daily.default_status == dg.DefaultScheduleStatus.RUNNING
    assert prune_old_runs_daily.cron_schedule == "17 3 * * *"
    assert prune_old_runs_daily.job_name == "prune_old_runs_job"
