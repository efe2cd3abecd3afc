"""The one Definitions object, built from explicit lists."""

from __future__ import annotations

import dagster as dg

from astrocat_pipeline.defs.assets import IMAGE_ASSETS
from astrocat_pipeline.defs.health import library_health
from astrocat_pipeline.defs.jobs import (
    index_images_celery_job,
    index_images_job,
    stale_plate_solves_job,
)
from astrocat_pipeline.defs.operations import OPERATION_JOBS, thumbnail_cache_stats
from astrocat_pipeline.defs.removals import (
    confirm_removals,
    purge_tombstones_daily,
    purge_tombstones_job,
)
from astrocat_pipeline.defs.resources import AstrocatResource
from astrocat_pipeline.defs.retention import prune_old_runs_daily, prune_old_runs_job
from astrocat_pipeline.defs.schedules import stale_plate_solves_schedule
from astrocat_pipeline.defs.sensors import new_image_files
from astrocat_pipeline.defs.summary import (
    library_summaries_hourly,
    library_summary,
    refresh_library_summaries_job,
)

defs = dg.Definitions(
    assets=[*IMAGE_ASSETS, thumbnail_cache_stats, library_summary, library_health],
    jobs=[
        index_images_job,
        index_images_celery_job,
        stale_plate_solves_job,
        refresh_library_summaries_job,
        prune_old_runs_job,
        confirm_removals,
        purge_tombstones_job,
        *OPERATION_JOBS,
    ],
    sensors=[new_image_files],
    schedules=[
        stale_plate_solves_schedule,
        library_summaries_hourly,
        prune_old_runs_daily,
        purge_tombstones_daily,
    ],
    resources={"astrocat": AstrocatResource()},
    # Every job here is one op or a chain of light steps: running them in the run's own process
    # spares each step a process of its own (a Python start and an import of the project).
    # index_images says the same for itself.
    executor=dg.in_process_executor,
)


def index_images_celery() -> dg.JobDefinition:
    """The Celery indexing job, resolved: what ``dg.reconstructable`` hands Celery workers, which
    load it again by this module and name (``astrocat index`` with ASTROCAT_CELERY_BROKER_URL)."""
    return defs.resolve_job_def("index_images_celery")
