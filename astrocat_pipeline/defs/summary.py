"""The library summary asset (integration time per target and filter, counts) and the schedule
that refreshes it with the thumbnail cache statistics and the library health."""

import dagster as dg

from astrocat_pipeline.cataloging.summary import library_tables
from astrocat_pipeline.core.summary import markdown_table
from astrocat_pipeline.defs.health import library_health
from astrocat_pipeline.defs.operations import thumbnail_cache_stats
from astrocat_pipeline.defs.resources import AstrocatResource


@dg.asset(group_name="library", kinds={"pandas"})
def library_summary(astrocat: AstrocatResource) -> dg.MaterializeResult:
    """Integration time per target and filter; frames per frame type, camera, night, format."""
    tables = library_tables(astrocat.store())
    integration = tables["integration"]
    metadata: dict[str, dg.MetadataValue] = {
        "images": dg.MetadataValue.int(int(tables["formats"]["frames"].sum())),
        "integration_h": dg.MetadataValue.float(
            float(round(integration["exposure_h"].sum(), 3)) if not integration.empty else 0.0
        ),
    }
    for name, table in tables.items():
        metadata[name] = dg.MetadataValue.md(markdown_table(table))
    return dg.MaterializeResult(metadata=metadata)


refresh_library_summaries_job = dg.define_asset_job(
    name="refresh_library_summaries",
    selection=dg.AssetSelection.assets(library_summary, thumbnail_cache_stats, library_health),
    description="Recompute the library summary, the thumbnail cache statistics and the library "
    "health.",
)

library_summaries_hourly = dg.ScheduleDefinition(
    name="library_summaries_hourly",
    job=refresh_library_summaries_job,
    cron_schedule="7 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
