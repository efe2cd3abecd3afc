"""Removals the user confirms, and the daily purge of tombstones.

The sensor holds the removals of a pass that would remove too many files at once (see
``cataloging/library_sync.py``); ``confirm_removals`` carries out those still gone, for one root
or folder or for all. Removed files stay in the catalog as tombstones for
``ASTROCAT_TOMBSTONE_DAYS``; ``purge_tombstones_daily`` deletes the older ones.
"""

from datetime import UTC, datetime

import dagster as dg

from astrocat_pipeline.cataloging import library_sync
from astrocat_pipeline.defs.partitions import IMAGES_PARTITIONS_NAME
from astrocat_pipeline.defs.resources import AstrocatResource


class ConfirmRemovalsConfig(dg.Config):
    # A library root or a folder under one; empty: every held removal. A folder named here also
    # removes its files that are gone now without being held (a folder deleted on purpose,
    # which the sensor keeps as offline).
    folder: str = ""


@dg.op
def confirm_held_removals(
    context: dg.OpExecutionContext, config: ConfirmRemovalsConfig, astrocat: AstrocatResource
) -> int:
    """Removes the held removals (of ``folder``, or all) whose files are still gone."""
    store = astrocat.store()
    found = library_sync.held_removals_to_confirm(store, config.folder.strip() or None)
    store.clear_gone(found.back)
    existing = set(context.instance.get_dynamic_partitions(IMAGES_PARTITIONS_NAME))
    # Partitions first, then the catalog rows become tombstones (an interrupted confirmation is
    # found again by the sensor as gone files).
    for key, _ in found.remove:
        if key in existing:
            context.instance.delete_dynamic_partition(IMAGES_PARTITIONS_NAME, key)
    library_sync.remove_images(store, found.remove, datetime.now(UTC), astrocat.thumbnails())
    for _, path in found.remove[:20]:
        context.log.info(f"removed {path}")
    context.add_output_metadata(
        {
            "removed_count": len(found.remove),
            "came_back_count": len(found.back),
            "still_held_count": store.count_held_removals(),
        }
    )
    return len(found.remove)


@dg.job(
    description="Confirm the removals the new-file sensor held (a pass that would have removed "
    "many files at once): removes those still gone, in config folder (a root or a folder under "
    "one; empty: all). Files that came back are kept.",
    tags={"astrocat/maintenance": "removals"},
)
def confirm_removals() -> None:
    confirm_held_removals()


@dg.op
def purge_old_tombstones(context: dg.OpExecutionContext, astrocat: AstrocatResource) -> int:
    """Deletes the tombstones of files removed more than ASTROCAT_TOMBSTONE_DAYS ago."""
    keep_days = astrocat.settings().tombstone_days
    purged = library_sync.purge_tombstones(
        astrocat.store(), astrocat.thumbnails(), datetime.now(UTC), keep_days
    )
    context.add_output_metadata({"purged_count": len(purged), "tombstone_days": keep_days})
    return len(purged)


@dg.job(
    description="Delete the catalog's tombstones of files removed more than "
    "ASTROCAT_TOMBSTONE_DAYS ago (default 30), with their thumbnails.",
    tags={"astrocat/maintenance": "tombstones"},
)
def purge_tombstones_job() -> None:
    purge_old_tombstones()


purge_tombstones_daily = dg.ScheduleDefinition(
    name="purge_tombstones_daily",
    job=purge_tombstones_job,
    cron_schedule="47 3 * * *",  # daily at 03:47 UTC, after the run retention at 03:17
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily purge of removed files' tombstones (ASTROCAT_TOMBSTONE_DAYS, default 30).",
)
