"""Jobs: the per-file pipeline over a batch of partitions, and the stale-solve cleanup."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from astrocat_pipeline.core.tuning import STALE_SOLVE_AFTER_S
from astrocat_pipeline.defs.assets import IMAGE_ASSETS
from astrocat_pipeline.defs.resources import AstrocatResource

# All five assets in one run per batch, in one process: the steps are light next to the
# ~100 MB and seconds that each extra step process would cost.
index_images_job = dg.define_asset_job(
    name="index_images",
    selection=dg.AssetSelection.assets(*IMAGE_ASSETS),
    executor_def=dg.in_process_executor,
    description="Inventory, metadata, thumbnail, plate solution and catalog matches of a batch "
    "of image files.",
)


class StaleSolveConfig(dg.Config):
    stale_after_s: int = STALE_SOLVE_AFTER_S


@dg.op
def fail_stale_plate_solves(
    context: dg.OpExecutionContext, config: StaleSolveConfig, astrocat: AstrocatResource
) -> int:
    """Marks plate solves stuck in SUBMITTED or PROCESSING as FAILED so they can be retried."""
    stale_before = datetime.now(UTC) - timedelta(seconds=config.stale_after_s)
    message = f"no progress for more than {config.stale_after_s} s; marked failed for a retry"
    failed = astrocat.store().fail_stale_solutions(stale_before, message)
    for fingerprint in failed:
        context.log.warning(f"plate solve of {fingerprint} was stuck: {message}")
    context.add_output_metadata({"failed_count": len(failed)})
    return len(failed)


@dg.job(description="Fail plate-solve jobs stuck in SUBMITTED or PROCESSING.")
def stale_plate_solves_job() -> None:
    fail_stale_plate_solves()
