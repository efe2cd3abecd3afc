"""Run retention: a daily schedule that deletes old finished runs and their event logs.

Dagster keeps every run, its event log and its captured logs forever; with a batched run every
few minutes the instance grows without bound. Deleting a run also deletes its events, including
its asset materializations, so the policy is:

- only finished runs (success, failure, canceled) whose last update is older than the retention
  age (``ASTROCAT_RUN_RETENTION_DAYS``, default 30; 0 turns pruning off) are candidates;
- a run that holds the **latest materialization of any asset partition** (or of an
  unpartitioned asset) is kept, whatever its age: the asset pages keep showing every
  partition's current metadata, lineage and data version, and the new-file sensor does not see
  processed partitions as never processed. Only superseded history goes;
- runs of a backfill still in progress are kept (the backfill tracks them).

Captured stdout/stderr of a deleted run is deleted too. Sensor and schedule ticks are pruned by
Dagster itself (the ``retention:`` block of ``dagster.yaml``).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg

from astrocat_pipeline.defs import dagster_internals
from astrocat_pipeline.defs.resources import AstrocatResource

# Deletions per prune: a run deletion is a few queries (~50-100 ms here); the rest of a large
# backlog goes on the next day.
MAX_DELETIONS_PER_PRUNE = 2_000
# Event records looked up per query when finding the runs that hold latest materializations.
_LOOKUP_CHUNK = 500
FINISHED_STATUSES = [
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
]
BACKFILL_TAG = "dagster/backfill"
# Backfill statuses (dagster's BulkActionStatus) of a backfill that is still launching or
# finishing runs.
_ACTIVE_BACKFILL_STATUSES = {"REQUESTED", "CANCELING", "FAILING"}


class RetentionConfig(dg.Config):
    """Launchpad overrides; -1 means: use ASTROCAT_RUN_RETENTION_DAYS."""

    retention_days: int = -1


@dataclass(frozen=True)
class PruneSummary:
    candidates: int
    deleted: tuple[str, ...]
    kept_latest: int
    kept_backfill: int
    left_for_next_time: int


def runs_holding_latest_materializations(instance: dg.DagsterInstance) -> set[str]:
    """Ids of the runs that hold the latest materialization of some asset partition, or of
    some unpartitioned asset."""
    runs: set[str] = set()
    for record in instance.get_asset_records():
        entry = record.asset_entry
        latest = set(
            dagster_internals.latest_materialization_storage_ids(instance, entry.asset_key).values()
        )
        if entry.last_materialization_record is not None:
            runs.add(entry.last_materialization_record.run_id)
        ids = sorted(latest)
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            chunk = ids[start : start + _LOOKUP_CHUNK]
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=entry.asset_key, storage_ids=chunk),
                limit=len(chunk),
            ).records
            runs.update(r.run_id for r in records)
    return runs


def _backfill_is_active(instance: dg.DagsterInstance, backfill_id: str) -> bool:
    backfill = instance.get_backfill(backfill_id)
    return backfill is not None and backfill.status.value in _ACTIVE_BACKFILL_STATUSES


def prune_runs(
    instance: dg.DagsterInstance,
    older_than: datetime,
    max_deletions: int = MAX_DELETIONS_PER_PRUNE,
    keep_run_ids: Sequence[str] = (),
) -> PruneSummary:
    """Delete finished runs last updated before ``older_than`` that hold no latest
    materialization and belong to no active backfill (see the module docstring)."""
    candidates = [
        record.dagster_run
        for record in instance.get_run_records(
            filters=dg.RunsFilter(statuses=FINISHED_STATUSES, updated_before=older_than),
            order_by="update_timestamp",
            ascending=True,
        )
        if record.dagster_run.run_id not in keep_run_ids
    ]
    protected = runs_holding_latest_materializations(instance) if candidates else set()
    deleted: list[str] = []
    kept_latest = kept_backfill = left = 0
    active_backfills: dict[str, bool] = {}
    for run in candidates:
        backfill_id = run.tags.get(BACKFILL_TAG)
        if backfill_id is not None:
            if backfill_id not in active_backfills:
                active_backfills[backfill_id] = _backfill_is_active(instance, backfill_id)
            if active_backfills[backfill_id]:
                kept_backfill += 1
                continue
        if run.run_id in protected:
            kept_latest += 1
            continue
        if len(deleted) >= max_deletions:
            left += 1
            continue
        instance.delete_run(run.run_id)
        # The run's captured stdout/stderr (compute logs) live apart from its event log.
        instance.compute_log_manager.delete_logs(prefix=[run.run_id])
        deleted.append(run.run_id)
    return PruneSummary(len(candidates), tuple(deleted), kept_latest, kept_backfill, left)


@dg.op
def prune_old_runs(
    context: dg.OpExecutionContext, config: RetentionConfig, astrocat: AstrocatResource
) -> int:
    """Deletes finished runs older than the retention age, keeping every run that holds the
    latest materialization of an asset partition."""
    days = config.retention_days
    if days < 0:
        days = astrocat.settings().run_retention_days
    if days == 0:
        context.log.info("run retention is off (ASTROCAT_RUN_RETENTION_DAYS=0): nothing deleted")
        context.add_output_metadata({"deleted_runs": 0, "retention_days": 0})
        return 0
    older_than = datetime.now(UTC) - timedelta(days=days)
    summary = prune_runs(context.instance, older_than, keep_run_ids=[context.run_id])
    context.log.info(
        f"{summary.candidates} finished runs older than {days} days: deleted "
        f"{len(summary.deleted)}, kept {summary.kept_latest} that hold the latest "
        f"materialization of some asset partition and {summary.kept_backfill} of active "
        f"backfills; {summary.left_for_next_time} left for the next prune"
    )
    context.add_output_metadata(
        {
            "retention_days": days,
            "older_than": older_than.isoformat(),
            "candidate_runs": summary.candidates,
            "deleted_runs": len(summary.deleted),
            "kept_latest_materialization": summary.kept_latest,
            "kept_active_backfill": summary.kept_backfill,
            "left_for_next_prune": summary.left_for_next_time,
        }
    )
    return len(summary.deleted)


@dg.job(
    description="Delete finished runs (and their event logs) older than "
    "ASTROCAT_RUN_RETENTION_DAYS, keeping the runs that hold the latest materialization of "
    "any asset partition.",
    tags={"astrocat/maintenance": "retention"},
)
def prune_old_runs_job() -> None:
    prune_old_runs()


prune_old_runs_daily = dg.ScheduleDefinition(
    name="prune_old_runs_daily",
    job=prune_old_runs_job,
    cron_schedule="17 3 * * *",  # daily at 03:17 UTC, away from the top of the hour
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily run retention (ASTROCAT_RUN_RETENTION_DAYS, default 30; 0 turns it off).",
)
