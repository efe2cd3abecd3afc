"""Dagster wiring only: partitions, resources, assets, jobs, sensors, schedules."""
