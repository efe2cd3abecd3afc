"""``astrocat index``: the whole pipeline over a library, through Dagster, recorded in the
instance at $DAGSTER_HOME so the UI shows the runs afterwards."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg

from astrocat_pipeline.adapters.catalog import open_catalog
from astrocat_pipeline.core.inventory import contiguous_batches, scan_root
from astrocat_pipeline.defs.partitions import (
    IMAGES_PARTITIONS_NAME,
    PARTITIONS_PER_RUN,
)
from astrocat_pipeline.defs.sensors import RANGE_END_TAG, RANGE_START_TAG
from astrocat_pipeline.settings import Settings


@dataclass(frozen=True)
class IndexSummary:
    files: int
    new_partitions: int
    runs: int
    failed_runs: int
    offline_roots: tuple[str, ...]


def index_library(
    settings: Settings,
    instance: dg.DagsterInstance,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = PARTITIONS_PER_RUN,
) -> IndexSummary:
    """Register every image under the roots as a partition and run all five assets over them."""
    from astrocat_pipeline.definitions import defs

    scans = [scan_root(root) for root in settings.library_roots]
    entries = {entry.partition_key: entry for scan in scans for entry in scan.entries}
    with open_catalog(settings.database_url) as store:
        store.upsert_inventory(entries.values())
    existing = set(instance.get_dynamic_partitions(IMAGES_PARTITIONS_NAME))
    new_keys = [key for key in entries if key not in existing]
    if new_keys:
        instance.add_dynamic_partitions(IMAGES_PARTITIONS_NAME, new_keys)
    ordered = instance.get_dynamic_partitions(IMAGES_PARTITIONS_NAME)
    batches = contiguous_batches(list(ordered), set(entries), batch_size)
    job = defs.resolve_job_def("index_images")
    done = failed = 0
    if progress:
        progress(0, len(entries))
    for batch in batches:
        result = job.execute_in_process(
            instance=instance,
            tags={RANGE_START_TAG: batch[0], RANGE_END_TAG: batch[-1]},
            raise_on_error=False,
        )
        failed += 0 if result.success else 1
        done += len(batch)
        if progress:
            progress(done, len(entries))
    return IndexSummary(
        files=len(entries),
        new_partitions=len(new_keys),
        runs=len(batches),
        failed_runs=failed,
        offline_roots=tuple(scan.root for scan in scans if not scan.online),
    )
