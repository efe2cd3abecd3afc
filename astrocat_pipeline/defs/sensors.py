"""The new-file sensor: adds a partition per new image file and launches batched runs."""

import hashlib

import dagster as dg

from astrocat_pipeline.core.inventory import contiguous_batches, scan_root
from astrocat_pipeline.defs.jobs import index_images_job
from astrocat_pipeline.defs.partitions import (
    IMAGES_PARTITIONS_NAME,
    PARTITIONS_PER_RUN,
    images_partitions,
)
from astrocat_pipeline.defs.resources import AstrocatResource

# Dagster's tags for a run over a range of partitions (what single-run backfills use).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
SENSOR_INTERVAL_S = 30


def batch_run_request(batch: list[str], state: str) -> dg.RunRequest:
    """One run over a contiguous batch of partitions; the run key dedupes repeated requests
    for the same files in the same state."""
    run_key = hashlib.sha1(("\n".join(batch) + "\n" + state).encode()).hexdigest()
    return dg.RunRequest(
        run_key=run_key,
        tags={RANGE_START_TAG: batch[0], RANGE_END_TAG: batch[-1]},
    )


@dg.sensor(
    job=index_images_job,
    minimum_interval_seconds=SENSOR_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Finds new and changed image files under the library roots, adds their "
    "partitions and processes them in batches.",
)
def new_image_files(
    context: dg.SensorEvaluationContext, astrocat: AstrocatResource
) -> dg.SensorResult | dg.SkipReason:
    settings = astrocat.settings()
    scans = [scan_root(root) for root in settings.library_roots]
    for scan in scans:
        if not scan.online:
            context.log.warning(f"library root offline, its images are kept: {scan.problem}")
        elif scan.problem:
            context.log.warning(f"some folders could not be read: {scan.problem}")
    found = {entry.partition_key: entry for scan in scans for entry in scan.entries}
    existing = context.instance.get_dynamic_partitions(IMAGES_PARTITIONS_NAME)
    existing_set = set(existing)
    store = astrocat.store()
    recorded = store.inventory_by_key(found.keys())
    new_keys = [key for key in found if key not in existing_set]
    changed = [
        key
        for key, entry in found.items()
        if key in existing_set and recorded.get(key) != (entry.size_bytes, entry.mtime_ns)
    ]
    if not new_keys and not changed:
        online = sum(scan.online for scan in scans)
        return dg.SkipReason(
            f"nothing new: {len(found)} files under {online}/{len(scans)} online roots"
        )
    store.upsert_inventory(found[key] for key in [*new_keys, *changed])
    wanted = set(new_keys) | set(changed)
    batches = contiguous_batches([*existing, *new_keys], wanted, PARTITIONS_PER_RUN)
    run_requests = [
        batch_run_request(
            batch, ";".join(f"{found[k].size_bytes}:{found[k].mtime_ns}" for k in batch)
        )
        for batch in batches
    ]
    context.log.info(
        f"{len(new_keys)} new and {len(changed)} changed files in {len(run_requests)} runs"
    )
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=(
            [images_partitions.build_add_request(new_keys)] if new_keys else []
        ),
    )
