"""Bulk operations a user launches from the Dagster UI (Jobs -> Launchpad): re-solve, re-match
and regenerate thumbnails for a folder subtree, and clear the thumbnail cache; plus the cache
statistics asset.

Each operation runs the same per-file steps as the assets, records a materialization of the
asset it refreshes for every file it touches (so the asset's partitions show the new result),
and logs its progress as it goes.
"""

import functools
from collections.abc import Callable

import dagster as dg

from astrocat_pipeline.adapters.catalog import CatalogStore, ImageRow
from astrocat_pipeline.cataloging import operations, steps
from astrocat_pipeline.core.errors import InfrastructureError
from astrocat_pipeline.defs.assets import (
    INFRASTRUCTURE_HINT,
    SOLVER_POOL,
    FileFailure,
    failures_failure,
    outcome_metadata,
)
from astrocat_pipeline.defs.resources import AstrocatResource

PROGRESS_EVERY = 25
FAILED_OPERATION_HINT = (
    "the other files are done; run the job again for the folder, or select the files' "
    "partitions on the asset page and Materialize them"
)


class FolderConfig(dg.Config):
    """Which files: everything under ``folder`` (an absolute path; empty for every root)."""

    folder: str = ""
    force: bool = False  # also redo files whose result is already there


def _run_over(
    context: dg.OpExecutionContext,
    store: CatalogStore,
    asset: str,
    rows: list[ImageRow],
    step: Callable[[str], steps.StepOutcome],
) -> dict[str, int]:
    """``step`` for every file, through the per-file boundary (``steps.run_file_step``: any
    exception is that file's error, shared infrastructure is retried and then fails the run); a
    materialization of ``asset`` for each result, and the run fails at the end naming the files
    whose work failed.

    A failed file gets no materialization (nothing that failed looks done), but its partition
    does not turn "Failed" either: Dagster marks only partitions that an asset run planned, and
    these are op jobs choosing their files as they go. The run's failure lists them.
    """
    counts: dict[str, int] = {}
    failures: list[FileFailure] = []
    total = len(rows)
    context.log.info(f"{asset}: {total} files to process")
    for done, row in enumerate(rows, start=1):
        key = row.partition_key
        try:
            outcome = steps.run_file_step(
                store, key, asset, functools.partial(step, key), log=context.log
            )
        except InfrastructureError as exc:
            raise dg.Failure(
                description=f"{exc}\n{INFRASTRUCTURE_HINT}", allow_retries=False
            ) from exc
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
        if outcome.failed:
            reason = outcome.message or outcome.status
            failures.append(FileFailure(key, asset, reason))
            context.log.warning(f"{key}: {reason}")
        else:
            context.log_event(
                dg.AssetMaterialization(
                    asset_key=asset, partition=key, metadata=outcome_metadata(outcome)
                )
            )
        if done % PROGRESS_EVERY == 0 or done == total:
            context.log.info(f"{asset}: {done}/{total} done {counts}")
    if failures:
        raise failures_failure(failures, total, retry_hint=FAILED_OPERATION_HINT)
    context.add_output_metadata({"files": total, **{f"{k}_count": v for k, v in counts.items()}})
    return counts


@dg.op(pool=SOLVER_POOL)
def resolve_folder_op(
    context: dg.OpExecutionContext, config: FolderConfig, astrocat: AstrocatResource
) -> dict[str, int]:
    """Plate-solve the frames under a folder that are unsolved or failed (all with force)."""
    store = astrocat.store()
    solver, catalog = astrocat.plate_solver(), astrocat.object_catalog()
    checker = astrocat.solution_checker()
    rows = operations.frames_to_resolve(store, config.folder or None, config.force)
    return _run_over(
        context,
        store,
        "plate_solution",
        rows,
        lambda key: steps.solve_plate(
            store, solver, key, catalog, force=config.force, checker=checker
        ),
    )


@dg.op
def rescan_folder_op(
    context: dg.OpExecutionContext, config: FolderConfig, astrocat: AstrocatResource
) -> dict[str, int]:
    """Read the files under a folder again: fingerprint and metadata. Without force, only files
    whose size or modification time changed and files that had an error."""
    store, catalog = astrocat.store(), astrocat.object_catalog()
    rows = operations.files_to_rescan(store, config.folder or None, config.force)
    return _run_over(
        context, store, "image_metadata", rows, lambda key: operations.rescan(store, catalog, key)
    )


@dg.op
def rematch_folder_op(
    context: dg.OpExecutionContext, config: FolderConfig, astrocat: AstrocatResource
) -> dict[str, int]:
    """Match the solved frames under a folder against the object catalogs again."""
    store, catalog = astrocat.store(), astrocat.object_catalog()
    thumbnails = astrocat.thumbnails()  # the annotated copies are drawn again with the matches
    rows = operations.frames_to_rematch(store, config.folder or None)
    return _run_over(
        context,
        store,
        "catalog_matches",
        rows,
        lambda key: steps.match_catalog(store, catalog, key, thumbnails),
    )


@dg.op
def regenerate_thumbnails_op(
    context: dg.OpExecutionContext, config: FolderConfig, astrocat: AstrocatResource
) -> dict[str, int]:
    """Render the thumbnails under a folder that are missing (all of them with force)."""
    store, thumbnails = astrocat.store(), astrocat.thumbnails()
    rows = operations.thumbnails_to_render(store, thumbnails, config.folder or None, config.force)
    return _run_over(
        context,
        store,
        "image_thumbnail",
        rows,
        lambda key: steps.make_thumbnail(store, thumbnails, key),
    )


@dg.op
def clear_thumbnail_cache_op(context: dg.OpExecutionContext, astrocat: AstrocatResource) -> int:
    """Delete the thumbnails this project wrote (nothing else in the folder) and forget them."""
    removed = astrocat.thumbnails().clear()
    forgotten = astrocat.store().clear_thumbnail_paths()
    context.log.info(f"removed {removed} thumbnail files; {forgotten} catalog paths cleared")
    context.add_output_metadata({"removed_files": removed, "cleared_paths": forgotten})
    return removed


@dg.job(description="Plate-solve again the unsolved and failed frames under a folder.")
def resolve_folder() -> None:
    resolve_folder_op()


@dg.job(description="Read the files under a folder again (changed and failed ones, or all).")
def rescan_folder() -> None:
    rescan_folder_op()


@dg.job(description="Match the solved frames under a folder against the catalogs again.")
def rematch_folder() -> None:
    rematch_folder_op()


@dg.job(description="Render missing thumbnails under a folder (all of them with force).")
def regenerate_thumbnails() -> None:
    regenerate_thumbnails_op()


@dg.job(description="Empty the thumbnail cache (only files this project wrote).")
def clear_thumbnail_cache() -> None:
    clear_thumbnail_cache_op()


@dg.asset(group_name="library", kinds={"python"})
def thumbnail_cache_stats(astrocat: AstrocatResource) -> dg.MaterializeResult:
    """Thumbnail cache size: number of files and bytes on disk."""
    stats = astrocat.thumbnails().stats()
    return dg.MaterializeResult(
        metadata={
            "count": stats.count,
            "size_bytes": stats.size_bytes,
            "size_mb": round(stats.size_mb, 3),
            "cache_dir": dg.MetadataValue.path(str(astrocat.settings().thumbnail_cache_path)),
        }
    )


OPERATION_JOBS = [
    rescan_folder,
    resolve_folder,
    rematch_folder,
    regenerate_thumbnails,
    clear_thumbnail_cache,
]
