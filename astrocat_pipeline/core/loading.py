"""One way in: every image file becomes ``(array, header)``; nothing downstream branches on the
file format.

Arrays are numpy, (H, W) for mono and (H, W, C) channel-last for colour, in the file's own row
order (for FITS: array row 0 is FITS row 1, the bottom of the picture by convention; the header's
``bottom_up`` says so). Headers are :class:`ImageHeader`: flat keyword -> value mappings plus
what is known of the pixel layout, read without touching the pixel data.

The reader is chosen by file type (:mod:`~astrocat_pipeline.core.formats`), never by trial.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from astrocat_pipeline.core.errors import ImageReadError, UnsupportedFormatError
from astrocat_pipeline.core.fingerprint import bytes_fingerprint
from astrocat_pipeline.core.formats import image_format
from astrocat_pipeline.core.readers.base import ImageHeader
from astrocat_pipeline.core.tuning import MAX_HEADER_BYTES, MAX_IMAGE_BYTES

__all__ = [
    "MAX_IMAGE_BYTES",
    "ImageHeader",
    "LoadedFile",
    "load_image",
    "load_image_once",
    "read_header",
]


_READER_MODULES = {
    "fits": "fits_reader",
    "xisf": "xisf_reader",
    "raw": "raw_reader",
    "tiff": "tiff_reader",
}


def _reader(fmt: str) -> ModuleType:
    """The reader module of ``fmt``, imported on first use: each brings its own libraries
    (astropy, xisf, LibRaw, tifffile, Pillow), and a command that reads one FITS header should
    not pay for the others' start-up."""
    name = {
        "fits": "fits_reader",
        "xisf": "xisf_reader",
        "raw": "raw_reader",
        "tiff": "tiff_reader",
    }
    return importlib.import_module(
        f"astrocat_pipeline.core.readers.{name.get(fmt, 'pillow_reader')}"
    )


def _require_format(path: Path) -> str:
    fmt = image_format(path)
    if fmt is None:
        raise UnsupportedFormatError(f"{path}: not an image file type the pipeline knows")
    return fmt


def read_header(path: Path, *, max_bytes: int = MAX_IMAGE_BYTES) -> ImageHeader:
    """Header keywords and pixel layout of an image file, without reading its pixel data.

    ``max_bytes`` is the most pixel data the file may declare (width x height x planes x bytes
    per sample of the array :func:`load_image` would return); no header is decompressed past
    what that allows either.

    Raises
    ------
    UnsupportedFormatError
        The file type is not an image type the pipeline knows.
    ImageReadError
        The file is missing, unreadable, empty, truncated, corrupt or holds no image.
    ImageTooLargeError
        An ImageReadError: the file declares more than ``max_bytes`` of pixel data.
    """
    path = Path(path)
    fmt = _require_format(path)
    header: ImageHeader = _reader(fmt).read_header(path, fmt, max_bytes)
    return header


def load_image(
    path: Path, *, draft: bool = False, max_bytes: int = MAX_IMAGE_BYTES
) -> tuple[np.ndarray, ImageHeader]:
    """Pixel data and header of an image file.

    Parameters
    ----------
    path : Path
    draft : bool
        Allow a faster, reduced decode where the format has one (camera raw: LibRaw's half-size
        decode). For previews only: the array may then be smaller than the header's size.
    max_bytes : int
        The most pixel data the file may declare, in bytes; every decompression stops at what
        the file declares, so the array is never larger (ImageTooLargeError beyond it).

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
    header = read_header(path, max_bytes=max_bytes)
    reader = _reader(header.format)
    array: np.ndarray
    if header.format == "raw":
        array = reader.load(path, header, draft)
    else:
        array = reader.load(path, header, max_bytes)
    expected = (header.height, header.width)
    if not (draft and header.format == "raw") and array.shape[:2] != expected:
        raise ImageReadError(
            f"{path}: pixel data is {array.shape[1]}x{array.shape[0]}, the header declares "
            f"{header.width}x{header.height}"
        )
    return array, header


@dataclass(frozen=True)
class LoadedFile:
    """One image file read once: its content fingerprint, its size and mtime when read, its
    header and its pixels (as :func:`load_image` returns them)."""

    fingerprint: str  # as core.fingerprint.content_fingerprint gives it
    size_bytes: int
    mtime_ns: int
    header: ImageHeader
    data: np.ndarray


def load_image_once(path: Path, *, max_bytes: int = MAX_IMAGE_BYTES) -> LoadedFile | None:
    """Fingerprint, header and pixels of an image file from one read of its bytes.

    For plain FITS files (what capture programs write): the file is read into memory once,
    hashed there, its header parsed from it and its pixels are a view of the same memory, so
    the file costs one read and about its own size in memory. None for any other file (another
    format, compressed or scaled FITS, a header the fast parser leaves to astropy, a file
    larger than any image the limit allows): the caller then fingerprints and loads it as
    usual, which reads it twice.

    Raises
    ------
    ImageReadError
        The file cannot be read, or is a truncated FITS file.
    ImageTooLargeError
        Its header declares more than ``max_bytes`` of pixel data.
    """
    path = Path(path)
    if image_format(path) != "fits":
        return None
    from astrocat_pipeline.core.readers import fits_reader

    try:
        with path.open("rb") as handle:
            stat = os.fstat(handle.fileno())
            if stat.st_size == 0 or stat.st_size > max_bytes + MAX_HEADER_BYTES:
                return None  # the usual way reports what is wrong with it
            content = bytearray(stat.st_size)
            view = memoryview(content)
            filled = 0
            while filled < stat.st_size:
                count = handle.readinto(view[filled:])
                if not count:
                    break
                filled += count
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    if filled != stat.st_size:  # shrunk while being read: the usual way gives its message
        return None
    fingerprint = bytes_fingerprint(content)
    header = fits_reader.header_from_bytes(path, "fits", content, max_bytes)
    if header is None:
        return None
    data = fits_reader.pixels_from_bytes(path, header, content)
    if data is None:
        return None
    return LoadedFile(
        fingerprint=fingerprint,
        size_bytes=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
        header=header,
        data=data,
    )
