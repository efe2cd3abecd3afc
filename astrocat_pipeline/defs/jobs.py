"""Jobs: the per-file pipeline over a batch of partitions, and the stale-solve cleanup."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from astrocat_pipeline.cataloging.steps import stale_solve_message
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
