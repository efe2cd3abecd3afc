"""One way in: every image file becomes ``(array, header)``; nothing downstream branches on the
file format.

Arrays are numpy, (H, W) for mono and (H, W, C) channel-last for colour, in the file's own row
order (for FITS: array row 0 is FITS row 1, the bottom of the picture by convention; the header's
``bottom_up`` says so). Headers are :class:`ImageHeader`: flat keyword -> value mappings plus
what is known of the pixel layout, read without touching the pixel data.

The reader is chosen by file type (:mod:`~astrocat_pipeline.core.formats`), never by trial.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from astrocat_pipeline.core.errors import ImageReadError, UnsupportedFormatError
from astrocat_pipeline.core.formats import image_format
from astrocat_pipeline.core.readers import (
    fits_reader,
    pillow_reader,
    raw_reader,
    tiff_reader,
    xisf_reader,
)
from astrocat_pipeline.core.readers.base import MAX_DECLARED_PIXELS, ImageHeader

__all__ = ["MAX_DECLARED_PIXELS", "ImageHeader", "load_image", "read_header"]


def _require_format(path: Path) -> str:
    fmt = image_format(path)
    if fmt is None:
        raise UnsupportedFormatError(f"{path}: not an image file type the pipeline knows")
    return fmt


def read_header(path: Path) -> ImageHeader:
    """Header keywords and pixel layout of an image file, without reading its pixel data.

    Raises
    ------
    UnsupportedFormatError
        The file type is not an image type the pipeline knows.
    ImageReadError
        The file is missing, unreadable, empty, truncated, corrupt or holds no image.
    """
    path = Path(path)
    fmt = _require_format(path)
    if fmt == "fits":
        return fits_reader.read_header(path, fmt)
    if fmt == "xisf":
        return xisf_reader.read_header(path, fmt)
    if fmt == "raw":
        return raw_reader.read_header(path, fmt)
    if fmt == "tiff":
        return tiff_reader.read_header(path, fmt)
    return pillow_reader.read_header(path, fmt)


def load_image(path: Path, *, draft: bool = False) -> tuple[np.ndarray, ImageHeader]:
    """Pixel data and header of an image file.

    Parameters
    ----------
    path : Path
    draft : bool
        Allow a faster, reduced decode where the format has one (camera raw: LibRaw's half-size
        decode). For previews only: the array may then be smaller than the header's size.

    Returns
    -------
    array : numpy.ndarray
        (H, W) or (H, W, C) with C = 3, in the stored sample type (after FITS BZERO/BSCALE:
        uint16 for unsigned 16-bit FITS), in the file's own row order. Camera raw comes
        demosaiced as linear 16-bit RGB; one-shot-colour FITS/XISF come as the CFA mosaic with
        ``header.bayer_pattern`` set.
    header : ImageHeader
    """
    path = Path(path)
    header = read_header(path)
    if header.format == "fits":
        array = fits_reader.load(path, header)
    elif header.format == "xisf":
        array = xisf_reader.load(path, header)
    elif header.format == "raw":
        array = raw_reader.load(path, header, draft)
    elif header.format == "tiff":
        array = tiff_reader.load(path, header)
    else:
        array = pillow_reader.load(path, header)
    expected = (header.height, header.width)
    if not (draft and header.format == "raw") and array.shape[:2] != expected:
        raise ImageReadError(
            f"{path}: pixel data is {array.shape[1]}x{array.shape[0]}, the header declares "
            f"{header.width}x{header.height}"
        )
    return array, header
