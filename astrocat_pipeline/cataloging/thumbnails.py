"""One file's thumbnail, as the asset and ``astrocat thumbnail`` make it.

Kept apart from the other steps so a command that only renders a thumbnail imports only the
loader, the stretch and the renderer (not the catalog database or the object catalogs).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from astrocat_pipeline.core.debayer import bayer_pattern_from_keywords
from astrocat_pipeline.core.loading import ImageHeader, load_image
from astrocat_pipeline.core.metadata import normalize_metadata
from astrocat_pipeline.core.stretch import choose_stretch
from astrocat_pipeline.core.thumbnail import render_thumbnail
from astrocat_pipeline.core.tuning import THUMBNAIL_MAX_SIZE_PX


def render_file_thumbnail(
    path: Path,
    max_size_px: int = THUMBNAIL_MAX_SIZE_PX,
    kept: Mapping[str, Any] | None = None,
) -> tuple[Any, dict]:
    """Load one file and render its thumbnail (a PIL image) and the stretch used.

    The stretch follows the frame: AutoSTF for linear frames, a percentile range for processed
    16/32-bit images, none for 8-bit pictures; a one-shot-colour mosaic is debayered. ``kept``:
    the stretch an earlier thumbnail of the same content was made with, applied again without
    computing statistics (see :func:`~astrocat_pipeline.core.thumbnail.render_thumbnail`).
    """
    data, header = load_image(path, draft=True)
    return render_loaded_thumbnail(path, data, header, max_size_px, kept)


def render_loaded_thumbnail(
    path: Path,
    data: Any,
    header: ImageHeader,
    max_size_px: int = THUMBNAIL_MAX_SIZE_PX,
    kept: Mapping[str, Any] | None = None,
) -> tuple[Any, dict]:
    """:func:`render_file_thumbnail` of a file already loaded (``load_image``'s pair)."""
    metadata = normalize_metadata(str(path), header)
    pattern = None
    if data.ndim == 2:
        # FITS BAYERPAT needs its row order and XBAYROFF/YBAYROFF applied; XISF's is as stored.
        if header.format == "fits" and header.height:
            pattern = bayer_pattern_from_keywords(header.keywords, header.height)
        else:
            pattern = header.bayer_pattern
    stretch = choose_stretch(metadata.frame_type, header.bit_depth, header.sample_kind)
    return render_thumbnail(
        data,
        flip_vertical=header.bottom_up,
        max_size_px=max_size_px,
        stretch=stretch,
        bayer_pattern=pattern,
        kept=kept,
    )
