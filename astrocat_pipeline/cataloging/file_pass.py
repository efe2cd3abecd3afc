"""One pass over a file's bytes for all of its indexing (invariant 8).

:func:`read_file_pass` reads a file once and gives every per-file step what it needs: the
inventory's fingerprint, size and mtime, the header the metadata comes from, the thumbnail
(rendered and encoded) and the star list the solver works from. Steps given a pass use it
instead of reading the file (``steps.record_file`` ... ``steps.solve_plate``); a step run alone
reads the file itself, as before.

Memory: a pass holds its file's content (one copy: the pixels are a view of it) until its
thumbnail is rendered and its pixels binned for the star detection, then only the binned plane
and the detection's working planes; what it keeps once done is small (the thumbnail, the
header, at most ``STAR_LIST_MAX_STARS`` stars). ``batch.run_batch`` runs passes in parallel.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from astrocat_pipeline.cataloging.thumbnails import render_loaded_thumbnail
from astrocat_pipeline.core.fingerprint import content_fingerprint
from astrocat_pipeline.core.formats import image_format
from astrocat_pipeline.core.frame_stars import star_plane, stars_in_plane
from astrocat_pipeline.core.loading import ImageHeader, load_image, load_image_once
from astrocat_pipeline.core.metadata import normalize_metadata
from astrocat_pipeline.core.star_detect import DetectedStars
from astrocat_pipeline.core.thumbnail import encode_jpeg
from astrocat_pipeline.core.tuning import (
    FILE_PASS_MAX_WORKERS,
    STAR_LIST_MAX_STARS,
    THUMBNAIL_JPEG_QUALITY,
    THUMBNAIL_MAX_SIZE_PX,
)

__all__ = ["FilePass", "default_workers", "read_file_pass"]


@dataclass(frozen=True)
class FilePass:
    """What one read of a file gives the steps of its indexing."""

    path: str
    fingerprint: str
    size_bytes: int
    mtime_ns: int
    header: ImageHeader
    # The rendered thumbnail (a PIL image), its stretch and its JPEG bytes; None when it could
    # not be made from this read (thumbnail_error says why; the thumbnail step then makes it
    # itself and records what fails).
    thumbnail: Any | None
    stretch: dict[str, Any] | None
    jpeg: bytes | None
    thumbnail_error: str | None
    # The frame's stars (brightest first, at most STAR_LIST_MAX_STARS), None when the frame is
    # not one the solver would search (a calibration frame, one with its own WCS) or its
    # pixels are not the solver's (a camera raw's reduced preview decode).
    stars: DetectedStars | None
    reads: int  # how many times the file's bytes were read: 1, or 2 where no one-pass reader


def default_workers() -> int:
    """Files read at once: one per core this process may use, at most FILE_PASS_MAX_WORKERS."""
    return max(1, min(FILE_PASS_MAX_WORKERS, len(os.sched_getaffinity(0))))


def read_file_pass(
    path: Path,
    max_size_px: int = THUMBNAIL_MAX_SIZE_PX,
    *,
    thumbnail: bool = True,
    stars: bool = True,
) -> FilePass:
    """Read ``path`` once (plain FITS; twice for other formats: hash, then decode) and derive
    everything the steps need from that read: the thumbnail and the star list only when asked.

    Raises what reading the file raises (``OSError``, ``ImageReadError`` ...): the caller then
    leaves the file to the steps, which read it themselves and record what fails.
    """
    path = Path(path)
    loaded = load_image_once(path)
    draft = False
    if loaded is not None:
        fingerprint, size_bytes, mtime_ns = loaded.fingerprint, loaded.size_bytes, loaded.mtime_ns
        header, data, reads = loaded.header, loaded.data, 1
    else:
        stat = path.stat()
        fingerprint, size_bytes, mtime_ns = (
            content_fingerprint(path),
            stat.st_size,
            stat.st_mtime_ns,
        )
        draft = image_format(path) == "raw"  # the thumbnail's half-size decode, as its step
        data, header = load_image(path, draft=draft)
        reads = 2
    image = stretch = jpeg = thumbnail_error = None
    if thumbnail:
        try:
            image, stretch = render_loaded_thumbnail(path, data, header, max_size_px)
            jpeg = encode_jpeg(image, THUMBNAIL_JPEG_QUALITY)
        except Exception as exc:  # the thumbnail step does it again and records what fails
            thumbnail_error = f"{type(exc).__name__}: {exc}"
    found = None
    metadata = normalize_metadata(str(path), header)
    if stars and metadata.frame_type.shows_sky and not metadata.has_wcs and not draft:
        plane, factor = star_plane(data, cfa=header.bayer_pattern is not None)
        # The file's content goes before the detection's working planes come.
        del data, loaded
        found = stars_in_plane(plane, factor).head(STAR_LIST_MAX_STARS)
    return FilePass(
        path=str(path),
        fingerprint=fingerprint,
        size_bytes=size_bytes,
        mtime_ns=mtime_ns,
        header=header,
        thumbnail=image,
        stretch=stretch,
        jpeg=jpeg,
        thumbnail_error=thumbnail_error,
        stars=found,
        reads=reads,
    )
