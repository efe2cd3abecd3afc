"""JPEG and PNG through Pillow, with EXIF (and PNG text chunks)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from astrocat_pipeline.core.errors import ImageReadError
from astrocat_pipeline.core.readers.base import (
    ImageHeader,
    check_declared_size,
    check_file,
    plain_value,
)
from astrocat_pipeline.core.readers.exif import read_exif
from astrocat_pipeline.core.tuning import MAX_IMAGE_BYTES

_EXPECTED = {"jpeg": ("JPEG", "MPO"), "png": ("PNG",)}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Pillow modes: samples per pixel of the array load() returns, bits per sample, kind.
_MODES: dict[str, tuple[int, int, str]] = {
    "1": (1, 8, "uint"),
    "L": (1, 8, "uint"),
    "LA": (1, 8, "uint"),
    "P": (3, 8, "uint"),
    "PA": (3, 8, "uint"),
    "RGB": (3, 8, "uint"),
    "RGBA": (3, 8, "uint"),
    "RGBX": (3, 8, "uint"),
    "CMYK": (3, 8, "uint"),
    "YCbCr": (3, 8, "uint"),
    "I;16": (1, 16, "uint"),
    "I;16B": (1, 16, "uint"),
    "I;16L": (1, 16, "uint"),
    "I": (1, 32, "int"),
    "F": (1, 32, "float"),
}
_OPEN_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    UnidentifiedImageError,
    Image.DecompressionBombError,
)


def _png_bit_depth(path: Path) -> int | None:
    """Bits per sample from the PNG IHDR (Pillow reads 16-bit colour PNGs as 8-bit RGB)."""
    with path.open("rb") as handle:
        head = handle.read(25)
    if len(head) == 25 and head.startswith(_PNG_SIGNATURE) and head[12:16] == b"IHDR":
        return int(head[24])
    return None


def _open(path: Path, fmt: str) -> Image.Image:
    # Pillow warns (or refuses) for images over ~89 (~179) Mpx as a guard against
    # decompression bombs; the pipeline has its own declared-size check after opening.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = Image.open(path)
    if image.format not in _EXPECTED[fmt]:
        image.close()
        raise ImageReadError(f"{path}: the file holds {image.format} data, not {fmt.upper()}")
    return image


def read_header(path: Path, fmt: str, max_bytes: int = MAX_IMAGE_BYTES) -> ImageHeader:
    check_file(path)
    try:
        with _open(path, fmt) as image:
            width, height = image.size
            mode = image.mode
            text = {str(k): plain_value(v) for k, v in image.info.items() if isinstance(v, str)}
        channels, bit_depth, kind = _MODES.get(mode, (3, 8, "uint"))
        check_declared_size(path, width, height, channels, bit_depth // 8, max_bytes)
        keywords: dict[str, Any] = read_exif(path)
    except ImageReadError:
        raise
    except _OPEN_ERRORS as exc:
        raise ImageReadError(f"{path}: not a readable {fmt.upper()} file ({exc})") from exc
    for key, value in text.items():
        keywords.setdefault(key, value)
    if fmt == "png":
        bit_depth = _png_bit_depth(path) or bit_depth
    return ImageHeader(
        format=fmt,
        width=width,
        height=height,
        channels=channels,
        bit_depth=bit_depth,
        sample_kind=kind,
        keywords=keywords,
        bottom_up=False,
    )


def load(path: Path, header: ImageHeader, max_bytes: int = MAX_IMAGE_BYTES) -> np.ndarray:
    """The pixels; read_header has checked the declared size against ``max_bytes``, and
    Pillow decodes into an image of that size."""
    try:
        with _open(path, header.format) as image:
            mode = image.mode
            if mode in ("1", "LA"):
                image = image.convert("L")
            elif mode.startswith("I;16"):
                return np.asarray(image, dtype=np.uint16)
            elif mode not in ("L", "RGB", "I", "F"):
                image = image.convert("RGB")
            return np.asarray(image)
    except ImageReadError:
        raise
    except _OPEN_ERRORS as exc:
        raise ImageReadError(f"{path}: pixel data cannot be read ({exc})") from exc
