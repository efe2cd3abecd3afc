"""TIFF through tifffile: 8/16-bit integer and 32-bit float, mono and RGB, with its tags and
EXIF. The first page (the full-resolution image) is the picture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from astrocat_pipeline.core.errors import ImageReadError
from astrocat_pipeline.core.readers.base import (
    ImageHeader,
    check_declared_size,
    check_file,
    kind_of,
    plain_value,
)
from astrocat_pipeline.core.tuning import MAX_IMAGE_BYTES

# Baseline TIFF tags worth keeping (the rest describe the byte layout).
_TAGS = ("ImageDescription", "Make", "Model", "Software", "DateTime", "Artist", "Copyright")


def _is_rational(value: Any) -> bool:
    """tifffile gives EXIF RATIONAL values as (numerator, denominator) pairs."""
    return isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value)


def _keywords(page: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _TAGS:
        tag = page.tags.get(name)
        if tag is not None and (value := plain_value(tag.value)) not in (None, ""):
            out[name] = value
    exif = page.tags.get("ExifTag")
    if exif is not None and isinstance(exif.value, dict):
        for name, value in exif.value.items():
            if _is_rational(value):
                value = value[0] / value[1] if value[1] else None
            value = plain_value(value)
            if value not in (None, "") and not name.startswith("MakerNote"):
                out.setdefault(name, value)
    return out


def read_header(path: Path, fmt: str, max_bytes: int = MAX_IMAGE_BYTES) -> ImageHeader:
    check_file(path)
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            width, height = int(page.imagewidth), int(page.imagelength)
            samples = int(page.samplesperpixel)
            dtype = np.dtype(page.dtype) if page.dtype is not None else None
            # tifffile allocates every sample of the page (alpha too) before decoding into it.
            item = dtype.itemsize if dtype is not None else 1
            check_declared_size(path, width, height, samples, item, max_bytes)
            photometric = int(page.photometric)
            keywords = _keywords(page)
    except ImageReadError:
        raise
    except (OSError, ValueError, KeyError, TypeError, IndexError, tifffile.TiffFileError) as exc:
        raise ImageReadError(f"{path}: not a readable TIFF file ({exc})") from exc
    if dtype is None:
        raise ImageReadError(f"{path}: TIFF sample format is not one numpy can hold")
    if photometric == tifffile.PHOTOMETRIC.PALETTE:
        raise ImageReadError(f"{path}: palette-colour TIFF is not an astronomical image")
    colour = photometric in (tifffile.PHOTOMETRIC.RGB, tifffile.PHOTOMETRIC.YCBCR)
    return ImageHeader(
        format=fmt,
        width=width,
        height=height,
        channels=3 if colour and samples >= 3 else 1,
        bit_depth=dtype.itemsize * 8,
        sample_kind=kind_of(dtype),
        keywords=keywords,
        bottom_up=False,
    )


def load(path: Path, header: ImageHeader, max_bytes: int = MAX_IMAGE_BYTES) -> np.ndarray:
    """The first page's pixels; read_header has checked its declared size against
    ``max_bytes``, and tifffile decodes into an array of that size."""
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            array = np.asarray(page.asarray())
            separate = int(page.planarconfig) == tifffile.PLANARCONFIG.SEPARATE
    except (OSError, ValueError, KeyError, TypeError, IndexError, tifffile.TiffFileError) as exc:
        raise ImageReadError(f"{path}: pixel data cannot be read ({exc})") from exc
    if array.ndim == 3 and separate:
        array = np.moveaxis(array, 0, -1)
    if array.ndim == 3:
        # Extra samples (alpha) are dropped; grey + alpha keeps the grey.
        array = array[:, :, :3] if header.channels == 3 else array[:, :, 0]
    if array.ndim != 2 + (header.channels == 3):
        raise ImageReadError(f"{path}: TIFF pixel data has shape {array.shape}, not an image")
    return array
