"""The five per-file assets (docs/architecture.md). Each runs over a batch of partitions per run and
reports one materialization per file, with that file's metadata (or its error)."""

from collections.abc import Callable
from typing import Any

import dagster as dg

from astrocat_pipeline.cataloging import steps
from astrocat_pipeline.defs import dagster_internals
from astrocat_pipeline.defs.partitions import batch_policy, images_partitions
from astrocat_pipeline.defs.resources import AstrocatResource

SOLVER_POOL = "plate_solver"


def outcome_metadata(outcome: steps.StepOutcome) -> dict[str, dg.MetadataValue]:
    out: dict[str, dg.MetadataValue] = {"status": dg.MetadataValue.text(outcome.status)}
    if outcome.message:
        out["message"] = dg.MetadataValue.text(outcome.message)
    for name, value in outcome.metadata.items():
        if name == "preview_markdown":
            out["preview"] = dg.MetadataValue.md(value)
        elif name.endswith("_path") or name == "path":
            out[name] = dg.MetadataValue.path(str(value))
        elif isinstance(value, dict | list):
            out[name] = dg.MetadataValue.json(value)
        elif isinstance(value, bool | int | float | str):
            out[name] = value  # type: ignore[assignment]
        else:
            out[name] = dg.MetadataValue.text(str(value))
    return out


def _run_batch(
    context: dg.AssetExecutionContext, step: Callable[[str], steps.StepOutcome]
) -> dg.MaterializeResult:
    """Run ``step`` for every partition of this run; one bad file never stops the rest.

    Each partition's materialization carries that file's own metadata. Dagster gives every
    partition of one run the same data version, so the per-file fingerprint is the data version
    only when the run holds one file; it is always in the metadata.
    """
    counts: dict[str, int] = {}
    versions: set[str] = set()
    for key in context.partition_keys:
        outcome = step(key)
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
        if outcome.status == "error":
            context.log.warning(f"{key}: {outcome.message}")
        if outcome.data_version:
            versions.add(outcome.data_version)
        dagster_internals.add_partition_metadata(context, key, outcome_metadata(outcome))
    asset_name = context.assets_def.key.to_user_string()
    context.log.info(f"{asset_name}: {len(context.partition_keys)} files {counts}")
    single_version = (
        versions.pop() if len(versions) == 1 and len(context.partition_keys) == 1 else None
    )
    return dg.MaterializeResult(
        data_version=dg.DataVersion(single_version) if single_version else None
    )


_COMMON: dict[str, Any] = {
    "partitions_def": images_partitions,
    "backfill_policy": batch_policy,
    "group_name": "images",
}


@dg.asset(**_COMMON, kinds={"python"})
def image_file(
    context: dg.AssetExecutionContext, astrocat: AstrocatResource
) -> dg.MaterializeResult:
    """Inventory record of one image file: path, size, mtime, format and content fingerprint."""
    store = astrocat.store()
    return _run_batch(context, lambda key: steps.record_file(store, key))


@dg.asset(**_COMMON, deps=[image_file], kinds={"python"})
def image_metadata(
    context: dg.AssetExecutionContext, astrocat: AstrocatResource
) -> dg.MaterializeResult:
    """Normalized metadata (camera, exposure, filter, target, pointing ...) and the raw header."""
    store, catalog = astrocat.store(), astrocat.object_catalog()
    return _run_batch(context, lambda key: steps.extract_metadata(store, key, catalog))


@dg.asset(**_COMMON, deps=[image_metadata], kinds={"python"})
def image_thumbnail(
    context: dg.AssetExecutionContext, astrocat: AstrocatResource
) -> dg.MaterializeResult:
    """Auto-stretched JPEG preview (PixInsight AutoSTF) in the thumbnail cache."""
    store, thumbnails = astrocat.store(), astrocat.thumbnails()
    return _run_batch(context, lambda key: steps.make_thumbnail(store, thumbnails, key))


@dg.asset(**_COMMON, deps=[image_metadata], pool=SOLVER_POOL, kinds={"python"})
def plate_solution(
    context: dg.AssetExecutionContext, astrocat: AstrocatResource
) -> dg.MaterializeResult:
    """Where the frame points: its WCS and field geometry, or why it could not be solved."""
    store, solver, catalog = astrocat.store(), astrocat.plate_solver(), astrocat.object_catalog()
    return _run_batch(context, lambda key: steps.solve_plate(store, solver, key, catalog))


@dg.asset(**_COMMON, deps=[plate_solution], kinds={"python"})
def catalog_matches(
    context: dg.AssetExecutionContext, astrocat: AstrocatResource
) -> dg.MaterializeResult:
    """NGC/IC/Messier objects inside the solved field, with their pixel positions."""
    store, catalog = astrocat.store(), astrocat.object_catalog()
    return _run_batch(context, lambda key: steps.match_catalog(store, catalog, key))


IMAGE_ASSETS = [image_file, image_metadata, image_thumbnail, plate_solution, catalog_matches]
