"""Schedules."""

from __future__ import annotations

import dagster as dg

from astrocat_pipeline.defs.jobs import stale_plate_solves_job

stale_plate_solves_schedule = dg.ScheduleDefinition(
    name="stale_plate_solves_every_5_minutes",
    job=stale_plate_solves_job,
    cron_schedule="*/5 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
