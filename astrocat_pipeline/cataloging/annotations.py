"""Annotated frames: a solved frame's thumbnail with its catalog objects drawn on it, kept in
the thumbnail cache as ``annotated_{image_id}.jpg`` (AstroCat's naming).

Made when the matches are made (:func:`~.steps.match_catalog`) and, for frames matched before
this existed or whose copy was cleared with the cache, on first view in the gallery. Drawn from
the cached thumbnail (never the library file) and the plate solution in the catalog.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from astrocat_pipeline.adapters.catalog import CatalogStore, ImageRow
from astrocat_pipeline.adapters.thumbnail_store import ThumbnailStore
from astrocat_pipeline.core.annotate import (
    Annotation,
    draw_annotations,
    encode_annotated,
    frame_annotations,
)
from astrocat_pipeline.core.readers.fits_reader import rows_bottom_up
from astrocat_pipeline.core.records import CatalogMatch, PlateSolution
from astrocat_pipeline.core.wcs_geometry import wcs_from_header_text


def cached_thumbnail(thumbnails: ThumbnailStore, image: ImageRow) -> Path | None:
    """The image's thumbnail in the cache, if it is there: the recorded one when it lies in the
    cache (a path from the database never leads anywhere else), else the one its name gives."""
    cache = thumbnails.cache_dir.resolve()
    candidates = []
    if image.thumbnail_path:
        candidates.append(Path(image.thumbnail_path))
    candidates.append(thumbnails.path_for(image.path))
    for candidate in candidates:
        try:
            resolved = candidate.resolve()
        except OSError:
            continue
        if resolved.parent == cache and resolved.is_file():
            return resolved
    return None


def is_bottom_up(store: CatalogStore, image: ImageRow) -> bool:
    """Whether the frame's rows are stored bottom-up (its thumbnail shows them flipped)."""
    if image.format != "fits":
        return False
    return rows_bottom_up(store.get_raw_header(image.partition_key) or {})


def annotations_for(
    image: ImageRow,
    solution: PlateSolution | None,
    matches: Sequence[CatalogMatch],
    thumb_size: tuple[int, int],
    bottom_up: bool,
) -> list[Annotation] | None:
    """The objects as drawn on a thumbnail of ``thumb_size``; None when the frame has no plate
    solution with a WCS or no known size."""
    if (
        solution is None
        or solution.status != "solved"
        or not solution.wcs_header
        or not image.width
        or not image.height
    ):
        return None
    wcs = wcs_from_header_text(solution.wcs_header)
    return frame_annotations(
        wcs, (image.width, image.height), thumb_size, matches, bottom_up=bottom_up
    )


def write_annotated_frame(
    store: CatalogStore,
    thumbnails: ThumbnailStore,
    image: ImageRow,
    solution: PlateSolution | None,
    matches: Sequence[CatalogMatch],
) -> Path | None:
    """Draw and store the annotated copy of ``image``; None (and any old copy removed) when it
    cannot be drawn: no thumbnail in the cache, or no plate solution."""
    thumbnail = cached_thumbnail(thumbnails, image)
    solved = solution is not None and solution.status == "solved" and solution.wcs_header
    if thumbnail is None or not solved:
        thumbnails.remove_annotated(image.image_id)
        return None
    with Image.open(thumbnail) as opened:
        picture = opened.convert("RGB")
    notes = annotations_for(image, solution, matches, picture.size, is_bottom_up(store, image))
    if notes is None:
        thumbnails.remove_annotated(image.image_id)
        return None
    return thumbnails.write_annotated(
        image.image_id, encode_annotated(draw_annotations(picture, notes))
    )


def annotated_frame(
    store: CatalogStore, thumbnails: ThumbnailStore, image: ImageRow
) -> Path | None:
    """The annotated copy of ``image``, made now if it is missing or older than its
    thumbnail; None when it cannot be made (see :func:`write_annotated_frame`)."""
    path = thumbnails.annotated_path(image.image_id)
    thumbnail = cached_thumbnail(thumbnails, image)
    if thumbnail is None:
        return None
    try:
        if path.stat().st_mtime_ns >= thumbnail.stat().st_mtime_ns:
            return path
    except FileNotFoundError:
        pass
    if image.fingerprint is None:
        return None
    solution = store.get_solution(image.fingerprint)
    matches = store.get_matches(image.partition_key)
    return write_annotated_frame(store, thumbnails, image, solution, matches)
