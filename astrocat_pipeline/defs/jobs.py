"""Jobs: the per-file pipeline over a batch of partitions, and the stale-solve cleanup."""

from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
from dagster_celery import celery_executor

from astrocat_pipeline.cataloging.steps import stale_solve_message
from astrocat_pipeline.defs.assets import IMAGE_ASSETS
from astrocat_pipeline.defs.resources import AstrocatResource
from astrocat_pipeline.settings import Settings

# All five assets in one run per batch, in one process: the steps are light next to the
# ~100 MB and seconds that each extra step process would cost.
index_images_job = dg.define_asset_job(
    name="index_images",
    selection=dg.AssetSelection.assets(*IMAGE_ASSETS),
    executor_def=dg.in_process_executor,
    description="Inventory, metadata, thumbnail, plate solution and catalog matches of a batch "
    "of image files.",
)


# The same work with the batch's step on a Celery worker (dagster-celery), for a deployment that
# scales out: the run's own process only hands the step to the broker and waits. Chosen when
# ASTROCAT_CELERY_BROKER_URL is set (celery_run_config); see README, "Scaling out".
index_images_celery_job = dg.define_asset_job(
    name="index_images_celery",
    selection=dg.AssetSelection.assets(*IMAGE_ASSETS),
    executor_def=celery_executor,
    description="index_images with its step run by a Celery worker (dagster-celery).",
)


def index_job_name(settings: Settings) -> str:
    """The job that indexes batches in this deployment: on Celery workers when a broker is
    configured, else in the run's own process."""
    return index_images_celery_job.name if settings.celery_broker_url else index_images_job.name


def celery_run_config(settings: Settings) -> dict[str, Any]:
    """The run config :func:`index_job_name`'s runs add: on Celery, the broker and the result
    backend (the workers must be started with the same ones); else nothing."""
    if not settings.celery_broker_url:
        return {}
    return {
        "execution": {
            "config": {"broker": settings.celery_broker_url, "backend": settings.celery_backend_url}
        }
    }


class StaleSolveConfig(dg.Config):
    # 0: the configured ASTROCAT_STALE_SOLVE_AFTER_S (default 300 s).
    stale_after_s: float = 0


@dg.op
def fail_stale_plate_solves(
    context: dg.OpExecutionContext, config: StaleSolveConfig, astrocat: AstrocatResource
) -> int:
    """Marks plate solves stuck in SUBMITTED or PROCESSING as FAILED so they can be retried."""
    stale_after_s = config.stale_after_s or astrocat.settings().stale_solve_after_s
    stale_before = datetime.now(UTC) - timedelta(seconds=stale_after_s)
    message = stale_solve_message(stale_after_s)
    failed = astrocat.store().fail_stale_solutions(stale_before, message)
    for fingerprint in failed:
        context.log.warning(f"plate solve of {fingerprint} was stuck: {message}")
    context.add_output_metadata({"failed_count": len(failed)})
    return len(failed)


@dg.job(description="Fail plate-solve jobs stuck in SUBMITTED or PROCESSING.")
def stale_plate_solves_job() -> None:
    fail_stale_plate_solves()
