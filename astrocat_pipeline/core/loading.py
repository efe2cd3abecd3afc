"""One way in: every image file becomes ``(array, header)``; nothing downstream branches on the
file format.

Arrays are numpy, (H, W) for mono and (H, W, C) channel-last for colour, in the file's own row
order (for FITS: array row 0 is FITS row 1, the bottom of the picture by convention). Headers are
:class:`ImageHeader`: flat keyword -> value mappings plus what is known of the pixel layout,
read without touching the pixel data.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning
from astropy.wcs import FITSFixedWarning

from astrocat_pipeline.core.errors import ImageReadError, UnsupportedFormatError
from astrocat_pipeline.core.formats import READABLE_FORMATS, image_format

# Declared image sizes beyond this are treated as corrupt headers, not as images to allocate.
MAX_DECLARED_PIXELS = 2_000_000_000


@dataclass(frozen=True)
class ImageHeader:
    """Header keywords of one image and its pixel layout, as read from the file."""

    format: str
    width: int
    height: int
    channels: int
    bit_depth: int  # bits per sample as stored (16 for unsigned 16-bit FITS)
    sample_kind: str  # "uint", "int" or "float"
    keywords: dict[str, Any] = field(default_factory=dict)
    fits_header: fits.Header | None = None  # the FITS header itself, for WCS parsing
    hdu_index: int = 0

    @property
    def bottom_up(self) -> bool:
        """True when row 0 of the array is the bottom of the picture (the FITS convention,
        unless the writer says ROWORDER = 'TOP-DOWN')."""
        if self.format != "fits":
            return False
        return str(self.keywords.get("ROWORDER", "BOTTOM-UP")).strip().upper() != "TOP-DOWN"


@contextmanager
def _quiet_astropy() -> Iterator[None]:
    # Real-world headers are full of non-standard cards; astropy warns and fixes them. The
    # fixes are what we want; the warnings would only be noise in logs.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyUserWarning)
        warnings.simplefilter("ignore", FITSFixedWarning)
        warnings.simplefilter("ignore", fits.verify.VerifyWarning)
        yield


def _require_format(path: Path) -> str:
    fmt = image_format(path)
    if fmt is None:
        raise UnsupportedFormatError(f"{path}: not an image file type the pipeline knows")
    if fmt not in READABLE_FORMATS:
        raise UnsupportedFormatError(f"{path}: {fmt} files are not read yet")
    return fmt


def _check_file(path: Path) -> None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read file ({exc.strerror})") from exc
    if size == 0:
        raise ImageReadError(f"{path}: empty file (0 bytes)")


def _header_keywords(header: fits.Header) -> dict[str, Any]:
    """FITS cards as a JSON-friendly dict; COMMENT/HISTORY joined, undefined values None."""
    out: dict[str, Any] = {}
    for card in header.cards:
        key = card.keyword
        if not key:
            continue
        value = card.value
        if key in ("COMMENT", "HISTORY"):
            out[key] = (out[key] + "\n" if key in out else "") + str(value)
            continue
        if isinstance(value, fits.card.Undefined):
            value = None
        elif isinstance(value, bool | np.bool_):
            value = bool(value)
        elif isinstance(value, int | np.integer):
            value = int(value)
        elif isinstance(value, float | np.floating):
            value = float(value) if np.isfinite(value) else None
        elif not isinstance(value, str):
            value = str(value)
        out.setdefault(key, value)
    return out


def _fits_image_hdu(hdul: fits.HDUList, path: Path) -> int:
    """Index of the first HDU holding an image (the primary, or an extension)."""
    for index, hdu in enumerate(hdul):
        if isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU):
            naxis = int(hdu.header.get("NAXIS", 0))
            if naxis >= 2 and all(int(hdu.header.get(f"NAXIS{i}", 0)) > 0 for i in (1, 2)):
                return index
    raise ImageReadError(f"{path}: FITS file has no image data (no HDU with 2 or more axes)")


def _fits_layout(header: fits.Header, path: Path) -> tuple[int, int, int, int, str]:
    naxis = int(header.get("NAXIS", 0))
    width = int(header["NAXIS1"])
    height = int(header["NAXIS2"])
    channels = int(header.get("NAXIS3", 1)) if naxis >= 3 else 1
    if width * height * channels > MAX_DECLARED_PIXELS:
        raise ImageReadError(
            f"{path}: header declares {width}x{height}x{channels} pixels, beyond any real image"
        )
    bitpix = int(header["BITPIX"])
    bzero = header.get("BZERO", 0)
    bscale = header.get("BSCALE", 1)
    if bitpix < 0:
        kind = "float"
    elif bitpix == 8:
        kind = "uint"
    elif bscale == 1 and bzero == 2 ** (bitpix - 1):
        kind = "uint"  # the FITS convention for unsigned integers
    else:
        kind = "int"
    return width, height, channels, abs(bitpix), kind


def read_header(path: Path) -> ImageHeader:
    """Header keywords and pixel layout of an image file, without reading its pixel data.

    Raises
    ------
    UnsupportedFormatError
        The file type is not read (yet).
    ImageReadError
        The file is empty, truncated, corrupt or has no image.
    """
    fmt = _require_format(path)
    _check_file(path)
    try:
        with _quiet_astropy(), fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
            index = _fits_image_hdu(hdul, path)
            hdu = hdul[index]
            header = hdu.header.copy()
            keywords = _header_keywords(header)
            if index > 0:
                # Extensions inherit the primary header's observation keywords
                # (OBJECT, DATE-OBS, EXPTIME ... often live only there).
                for key, value in _header_keywords(hdul[0].header).items():
                    keywords.setdefault(key, value)
            width, height, channels, bit_depth, kind = _fits_layout(header, path)
    except (ImageReadError, UnsupportedFormatError):
        raise
    except (OSError, ValueError, KeyError, TypeError, IndexError, EOFError) as exc:
        raise ImageReadError(f"{path}: not a readable FITS file ({exc})") from exc
    return ImageHeader(
        format=fmt,
        width=width,
        height=height,
        channels=channels,
        bit_depth=bit_depth,
        sample_kind=kind,
        keywords=keywords,
        fits_header=header,
        hdu_index=index,
    )


def load_image(path: Path) -> tuple[np.ndarray, ImageHeader]:
    """Pixel data and header of an image file.

    Returns
    -------
    array : numpy.ndarray
        (H, W) or (H, W, C), in the stored dtype after BZERO/BSCALE (uint16 for unsigned 16-bit
        FITS); the file's own row order.
    header : ImageHeader
    """
    header = read_header(path)
    try:
        with _quiet_astropy(), fits.open(path, memmap=False) as hdul:
            data = hdul[header.hdu_index].data
            if data is None:
                raise ImageReadError(f"{path}: FITS image HDU has no data")
            array = np.asarray(data)
    except ImageReadError:
        raise
    except (OSError, ValueError, TypeError, EOFError) as exc:
        raise ImageReadError(f"{path}: pixel data cannot be read ({exc})") from exc
    if array.ndim == 3:
        # FITS colour cubes are (C, H, W); keep the first three planes of longer cubes.
        array = np.moveaxis(array[:3], 0, -1)
    elif array.ndim > 3:
        raise ImageReadError(f"{path}: {array.ndim}-dimensional FITS data is not an image")
    if array.shape[0] != header.height or array.shape[1] != header.width:
        raise ImageReadError(
            f"{path}: pixel data is {array.shape}, header declares {header.width}x{header.height}"
        )
    return array, header
