"""``astrocat index`` on Dagster: the indexing plan's partitions added and its batches run
in-process (or on Celery workers), recorded in the given instance so the UI shows the runs
afterwards."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import dagster as dg

from astrocat_pipeline.adapters.catalog import open_catalog
from astrocat_pipeline.cataloging.indexing import IndexSummary, plan_index, run_index
from astrocat_pipeline.defs import dagster_internals
from astrocat_pipeline.defs.assets import SOLVER_POOL
from astrocat_pipeline.defs.jobs import celery_run_config
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
    *,
    celery_job: Any = None,
    runs_at_once: int = 1,
) -> IndexSummary:
    """Register every image under the roots as a partition and run ``job`` (the resolved
    ``index_images``) over them in this process, one batch after the other (each batch's step
    keeps the cores busy itself), its resource configured from ``settings``.

    With a Celery broker in ``settings`` (ASTROCAT_CELERY_BROKER_URL), each batch is a run of
    ``celery_job`` (the reconstructable ``index_images_celery``) instead, ``runs_at_once`` at
    a time: each planned by a process of its own (Dagster's run start reconfigures Python's
    logging, which deadlocks with another run logging in the same process), which hands the
    step to a Celery worker. The workers write the runs' events to ``instance``, which they
    must share (a PostgreSQL instance)."""
    with open_catalog(settings.database_url) as store:
        partitions = instance.get_dynamic_partitions(IMAGES_PARTITIONS_NAME)
        plan = plan_index(settings.library_roots, store, partitions, batch_size)
    if plan.new_keys:
        instance.add_dynamic_partitions(IMAGES_PARTITIONS_NAME, list(plan.new_keys))
    run_config = {"resources": {"astrocat": {"config": settings.resource_config()}}}

    def tags(batch: Sequence[str]) -> dict[str, str]:
        return {RANGE_START_TAG: batch[0], RANGE_END_TAG: batch[-1]}

    if not settings.celery_broker_url:

        def run_batch(batch: Sequence[str]) -> bool:
            result = job.execute_in_process(
                run_config=run_config,
                instance=instance,
                # The host tag lets run monitoring fail the run if this process dies (only for
                # in-process runs: a Celery run's steps run in other processes).
                tags={**tags(batch), **worker_tags()},
                raise_on_error=False,
            )
            return result.success

        return run_index(plan, run_batch, progress)

    if celery_job is None:
        raise ValueError("a Celery broker is configured but no Celery job was given")
    celery_config = {**run_config, **celery_run_config(settings)}
    if runs_at_once > 1:
        dagster_internals.initialize_pool_limit(instance, SOLVER_POOL)
    instance_ref = instance.get_ref()
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=runs_at_once, mp_context=spawn) as runners:

        def run_celery_batch(batch: Sequence[str]) -> bool:
            future = runners.submit(
                _run_celery_batch, instance_ref, celery_job, celery_config, tags(batch)
            )
            return future.result()

        return run_index(plan, run_celery_batch, progress, runs_at_once)


def _run_celery_batch(
    instance_ref: Any, celery_job: Any, run_config: dict[str, Any], tags: dict[str, str]
) -> bool:
    """One batch's run of the Celery job, in a runner process (``index_library``)."""
    with (
        dg.DagsterInstance.from_ref(instance_ref) as instance,
        dg.execute_job(
            celery_job, instance=instance, run_config=run_config, tags=tags, raise_on_error=False
        ) as result,
    ):
        return result.success
