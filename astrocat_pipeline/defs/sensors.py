"""The new-file sensor: keeps the ``images`` partitions in step with the library roots and
launches the work in batched runs.

What a tick decides is the library-sync planner's (``cataloging/library_sync.py``): the sensor
reads Dagster's partitions, statuses and runs, asks the planner, and carries out its plan:
partitions added and deleted, run requests, the tick log.

Partitions are added and deleted through the instance here rather than returned as
``dynamic_partitions_requests``: the daemon checks such requests key by key (~5 ms per key on
SQLite, ~30 ms on PostgreSQL, so 100,000 new files would take 8 to 50 minutes), while one
``add_dynamic_partitions`` call adds 100,000 keys in about 2 s. The tick log has the counts.
"""

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import dagster as dg

from astrocat_pipeline.cataloging import library_sync
from astrocat_pipeline.cataloging.library_sync import PartitionState, RunBatch
from astrocat_pipeline.core.inventory import ScanCursor
from astrocat_pipeline.core.tuning import LOOK_INTERVAL_S
from astrocat_pipeline.defs.jobs import (
    celery_run_config,
    index_images_celery_job,
    index_images_job,
    index_job_name,
)
from astrocat_pipeline.defs.partitions import (
    IMAGES_PARTITIONS_NAME,
    PARTITIONS_PER_RUN,
    images_partitions,
)
from astrocat_pipeline.defs.resources import AstrocatResource
from astrocat_pipeline.settings import Settings

SENSOR_NAME = "new_image_files"
SENSOR_INTERVAL_S = LOOK_INTERVAL_S
# Dagster's tags for a run over a range of partitions (what single-run backfills use).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
# The tag the daemon puts on the runs a sensor launches.
SENSOR_NAME_TAG = "dagster/sensor_name"
# The first asset of the per-file graph: a partition without its materialization was never
# processed.
IMAGE_FILE_KEY = dg.AssetKey("image_file")

_IN_FLIGHT_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
_STATES = {
    dg.AssetPartitionStatus.MATERIALIZED: PartitionState.MATERIALIZED,
    dg.AssetPartitionStatus.FAILED: PartitionState.FAILED,
    dg.AssetPartitionStatus.IN_PROGRESS: PartitionState.IN_PROGRESS,
}


def batch_run_request(batch: RunBatch, settings: Settings | None = None) -> dg.RunRequest:
    """One run over a contiguous batch of partitions, deduplicated by the batch's run key; of
    the Celery job when ``settings`` configure a broker (ASTROCAT_CELERY_BROKER_URL)."""
    return dg.RunRequest(
        run_key=batch.run_key,
        tags={RANGE_START_TAG: batch.keys[0], RANGE_END_TAG: batch.keys[-1]},
        job_name=index_job_name(settings) if settings else index_images_job.name,
        run_config=celery_run_config(settings) if settings else {},
    )


def partition_states(
    instance: dg.DagsterInstance, keys: Sequence[str]
) -> dict[str, PartitionState]:
    """Dagster's status of ``image_file`` for ``keys`` (never-materialized keys are left out)."""
    statuses = instance.get_status_by_partition(IMAGE_FILE_KEY, list(keys), images_partitions)
    return {key: _STATES[status] for key, status in (statuses or {}).items() if status in _STATES}


def evaluate_library(
    instance: dg.DagsterInstance,
    astrocat: AstrocatResource,
    cursor_text: str | None,
    log: Callable[[str], None],
    warn: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dg.SensorResult:
    """One tick of the sensor: the planner's walk and plans, carried out."""
    started = clock()
    now = wall_clock()
    settings = astrocat.settings()
    store = astrocat.store()
    cursor = ScanCursor.from_json(cursor_text)
    partitions = list(instance.get_dynamic_partitions(IMAGES_PARTITIONS_NAME))

    walk = library_sync.walk_library(
        settings.library_roots,
        cursor,
        store,
        set(partitions),
        deadline=started + library_sync.WALK_BUDGET_S,
        clock=clock,
    )
    inventory = library_sync.plan_inventory(
        walk, partitions, cursor.partitions, store.unprocessed_keys()
    )
    store.upsert_inventory(inventory.record)
    if inventory.new_keys:
        instance.add_dynamic_partitions(IMAGES_PARTITIONS_NAME, list(inventory.new_keys))
    statuses = partition_states(instance, inventory.status_keys) if inventory.needs_statuses else {}
    in_flight = instance.get_runs_count(
        dg.RunsFilter(statuses=_IN_FLIGHT_STATUSES, tags={SENSOR_NAME_TAG: SENSOR_NAME})
    )
    plan = library_sync.plan_sync(
        inventory,
        statuses,
        in_flight,
        store.inventory_by_key,
        batch_size=PARTITIONS_PER_RUN,
        now=now,
    )
    store.clear_gone(walk.back)
    store.mark_gone(plan.mark_gone, now)
    store.hold_removals(plan.hold, now)
    # Partitions first, then the catalog rows become tombstones (how a vanished file is found
    # again if this is interrupted).
    existing = set(partitions)
    for key, _ in plan.removals:
        if key in existing:
            instance.delete_dynamic_partition(IMAGES_PARTITIONS_NAME, key)
    library_sync.remove_images(store, plan.removals, now, astrocat.thumbnails())

    for message in (*inventory.warnings, *plan.warnings):
        warn(message)
    elapsed_s = clock() - started
    summary = plan.summary(inventory, len(settings.library_roots), elapsed_s)
    log(summary)
    store.record_library_pass(plan.library_pass(inventory, len(settings.library_roots), elapsed_s))
    if plan.runs:
        return dg.SensorResult(
            run_requests=[batch_run_request(batch, settings) for batch in plan.runs],
            cursor=plan.cursor.to_json(),
        )
    return dg.SensorResult(skip_reason=summary, cursor=plan.cursor.to_json())


@dg.sensor(
    name=SENSOR_NAME,
    jobs=[index_images_job, index_images_celery_job],
    minimum_interval_seconds=SENSOR_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Keeps one partition per image file under the library roots: adds new files "
    "once they stop changing, re-processes changed ones, removes files gone on two looks with "
    "their folder intact (never under an offline root or folder; a mass removal waits for the "
    "confirm_removals job) and processes the partitions in batches.",
)
def new_image_files(
    context: dg.SensorEvaluationContext, astrocat: AstrocatResource
) -> dg.SensorResult:
    return evaluate_library(
        context.instance, astrocat, context.cursor, context.log.info, context.log.warning
    )
