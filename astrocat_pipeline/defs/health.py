"""The library health asset: AstroCat's admin dashboard in the Dagster UI (states, latest
failures, the new-file sensor's last pass, the thumbnail cache), refreshed with the library
summary by the hourly schedule (``defs/summary.py``)."""

from datetime import UTC, datetime

import dagster as dg

from astrocat_pipeline.cataloging import health
from astrocat_pipeline.defs.resources import AstrocatResource


@dg.asset(group_name="library", kinds={"python"})
def library_health(astrocat: AstrocatResource) -> dg.MaterializeResult:
    """Library health: images per state, the latest failures (file, stage, reason), the new-file
    sensor's last pass and the thumbnail cache size."""
    report = health.read_library_health(
        astrocat.store(), astrocat.thumbnails(), checked_at=datetime.now(UTC)
    )
    metadata: dict[str, dg.RawMetadataValue] = {
        "states": dg.MetadataValue.md(report.states_table()),
        **report.states.as_ints(),
        "held_removals": report.held_removals,
        "latest_failures": dg.MetadataValue.md(report.failures_table()),
        "last_pass": dg.MetadataValue.md(report.last_pass_table()),
        **{f"last_pass_{name}": count for name, count in report.last_pass_ints().items()},
        "thumbnail_count": report.thumbnails.count,
        "thumbnail_size_mb": round(report.thumbnails.size_mb, 3),
    }
    if report.last_pass is not None:
        metadata["last_pass_at"] = dg.MetadataValue.timestamp(report.last_pass.recorded_at)
    return dg.MaterializeResult(metadata=metadata)
