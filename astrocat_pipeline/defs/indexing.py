"""``astrocat index`` on Dagster: the indexing plan's partitions added and its batches run
in-process, recorded in the given instance so the UI shows the runs afterwards."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import dagster as dg

from astrocat_pipeline.adapters.catalog import open_catalog
from astrocat_pipeline.cataloging.indexing import IndexSummary, plan_index, run_index
from astrocat_pipeline.defs.partitions import IMAGES_PARTITIONS_NAME, PARTITIONS_PER_RUN
from astrocat_pipeline.defs.run_launcher import worker_tags
from astrocat_pipeline.defs.sensors import RANGE_END_TAG, RANGE_START_TAG
from astrocat_pipeline.settings import Settings


def index_library(
    settings: Settings,
    instance: dg.DagsterInstance,
    job: dg.JobDefinition,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = PARTITIONS_PER_RUN,
) -> IndexSummary:
    """Register every image under the roots as a partition and run ``job`` (the resolved
    ``index_images``) over them, its resource configured from ``settings``."""
    with open_catalog(settings.database_url) as store:
        partitions = instance.get_dynamic_partitions(IMAGES_PARTITIONS_NAME)
        plan = plan_index(settings.library_roots, store, partitions, batch_size)
    if plan.new_keys:
        instance.add_dynamic_partitions(IMAGES_PARTITIONS_NAME, list(plan.new_keys))
    run_config = {"resources": {"astrocat": {"config": settings.resource_config()}}}

    def run_batch(batch: Sequence[str]) -> bool:
        result = job.execute_in_process(
            run_config=run_config,
            instance=instance,
            # The host tag lets run monitoring fail the run if this process dies.
            tags={RANGE_START_TAG: batch[0], RANGE_END_TAG: batch[-1], **worker_tags()},
            raise_on_error=False,
        )
        return result.success

    return run_index(plan, run_batch, progress)
