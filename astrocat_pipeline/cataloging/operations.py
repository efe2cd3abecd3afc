"""Which files a bulk operation launched from the UI works on, and the rescan step: the
decisions behind ``defs/operations.py``'s jobs, with no Dagster in them."""

from __future__ import annotations

from pathlib import Path

from astrocat_pipeline.adapters.catalog import CatalogStore, ImageRow
from astrocat_pipeline.adapters.thumbnail_store import ThumbnailStore
from astrocat_pipeline.cataloging import steps
from astrocat_pipeline.core.records import ImageStatus, SolveStatus
from astrocat_pipeline.core.sky_catalog import ObjectCatalog


def frames_to_resolve(store: CatalogStore, folder: str | None, force: bool) -> list[ImageRow]:
    """Frames under ``folder`` (None: every root) that are unsolved or failed; all with force."""
    return [
        row
        for row in store.images_under(folder)
        if force or row.solution_status != SolveStatus.SOLVED
    ]


def files_to_rescan(store: CatalogStore, folder: str | None, force: bool) -> list[ImageRow]:
    """Files under ``folder`` whose size or modification time changed, or that had an error;
    all with force."""
    rows = store.images_under(folder)
    if force:
        return rows
    return [row for row in rows if row.status == ImageStatus.ERROR or _changed_on_disk(row)]


def _changed_on_disk(row: ImageRow) -> bool:
    try:
        stat = Path(row.path).stat()
    except OSError:
        return True  # gone or unreadable: the rescan records why
    return (stat.st_size, stat.st_mtime_ns) != (row.size_bytes, row.mtime_ns)


def rescan(store: CatalogStore, catalog: ObjectCatalog, key: str) -> steps.StepOutcome:
    """Fingerprint and metadata of one file again."""
    outcome = steps.record_file(store, key)
    if outcome.status == "error":
        return outcome
    return steps.extract_metadata(store, key, catalog)


def frames_to_rematch(store: CatalogStore, folder: str | None) -> list[ImageRow]:
    """Frames under ``folder`` that have a plate-solve outcome."""
    return [row for row in store.images_under(folder) if row.solution_status]


def thumbnails_to_render(
    store: CatalogStore, thumbnails: ThumbnailStore, folder: str | None, force: bool
) -> list[ImageRow]:
    """Files under ``folder`` whose thumbnail is missing; all with force."""
    rows = store.images_under(folder)
    if force:
        return rows
    return [
        row for row in rows if not row.thumbnail_path or not thumbnails.path_for(row.path).is_file()
    ]
