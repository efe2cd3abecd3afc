"""What every format reader returns, and the checks they share."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from astrocat_pipeline.core.errors import ImageReadError, ImageTooLargeError
from astrocat_pipeline.core.tuning import MAX_IMAGE_BYTES

if TYPE_CHECKING:
    from astropy.io import fits


class HeaderTextWarning(UserWarning):
    """A header held bytes that are not text (non-ASCII in a FITS header); they were replaced
    (by '?', as astropy replaces them) and the file was read on. A warning, never an error: the
    rest of the header is still good, and one odd byte must not cost the file its entry."""


@dataclass(frozen=True)
class ImageHeader:
    """Header keywords of one image and its pixel layout, as read from the file.

    ``keywords`` holds the file's own names: FITS keywords (``EXPTIME``), XISF properties
    (``Instrument:ExposureTime``) and EXIF tag names (``ExposureTime``) never collide, so one
    flat mapping serves every format and :mod:`~astrocat_pipeline.core.metadata` reads them all
    without asking which format they came from.
    """

    format: str
    width: int | None  # None only when a camera raw's pixel data cannot be decoded
    height: int | None
    channels: int  # channels of the array load_image returns (3 for decoded camera raw)
    bit_depth: int  # bits per sample as stored (14 for a 14-bit raw, 16 for unsigned FITS)
    sample_kind: str  # "uint", "int" or "float"
    keywords: dict[str, Any] = field(default_factory=dict)
    fits_header: fits.Header | None = None  # FITS keywords as a header, for WCS parsing
    hdu_index: int = 0  # FITS only: the HDU holding the image
    # FITS only: where a plain primary image's data starts in the file, when the header parser
    # read it (None: astropy reads the pixels).
    data_offset: int | None = None
    bottom_up: bool = False  # row 0 of the array is the bottom of the picture (FITS)
    bayer_pattern: str | None = None  # CFA of a mosaic array ("RGGB"), None when not a mosaic


def check_file(path: Path) -> int:
    """The file's size in bytes; raises ImageReadError when it is missing, unreadable or empty."""
    try:
        size = path.stat().st_size
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    if size == 0:
        raise ImageReadError(f"{path}: empty file (0 bytes)")
    return size


def byte_size(count: int) -> str:
    """A byte count for a message: ``1.9 GB``, ``744.0 MB``, ``12 kB``."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


def too_large(path: Path, what: str, max_bytes: int) -> ImageTooLargeError:
    """The error for a file whose pixel data is beyond the limit per file."""
    return ImageTooLargeError(
        f"{path}: {what}, over the limit of {byte_size(max_bytes)} of pixel data per file"
    )


def check_declared_size(
    path: Path,
    width: int,
    height: int,
    channels: int,
    bytes_per_sample: int,
    max_bytes: int = MAX_IMAGE_BYTES,
) -> int:
    """The declared pixel data in bytes (``width * height * channels * bytes_per_sample``, as
    the loaded array holds it); raises ImageReadError for an empty declared image and
    ImageTooLargeError beyond ``max_bytes``. Every reader calls it before it allocates or
    decompresses anything."""
    if width < 1 or height < 1 or channels < 1:
        raise ImageReadError(f"{path}: header declares an empty image ({width}x{height})")
    declared = width * height * channels * bytes_per_sample
    if declared > max_bytes:
        raise too_large(
            path,
            f"header declares {width}x{height}x{channels} samples of {bytes_per_sample} "
            f"byte(s) ({byte_size(declared)})",
            max_bytes,
        )
    return declared


def plain_value(value: Any) -> Any:
    """A header value as JSON-friendly Python: numbers, bools, strings, short lists or None."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").strip("\x00 ")
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return [plain_value(v) for v in value] if len(value) <= 16 else None
    return str(value)


def text_to_value(text: str) -> Any:
    """A keyword value written as text (XISF FITSKeyword) as a bool, int, float or string."""
    stripped = text.strip().strip("'").strip()
    if stripped in ("T", "F"):
        return stripped == "T"
    for convert in (int, float):
        try:
            number = convert(stripped)
        except ValueError:
            continue
        return plain_value(number)
    return stripped


def kind_of(dtype: np.dtype) -> str:
    """ "uint", "int" or "float" for a numpy dtype."""
    if dtype.kind == "u" or dtype.kind == "b":
        return "uint"
    if dtype.kind == "i":
        return "int"
    return "float"
