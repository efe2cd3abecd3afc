"""Synthetic image files of every supported format, written by the libraries users' software
writes them with (astropy, xisf, tifffile, Pillow), for tests that must run without samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tifffile
import xisf
from astropy.io import fits
from PIL import Image

# EXIF tag numbers (TIFF/EP allows them in IFD0, which is where the synthetic DNG puts them).
_EXIF_MAKE, _EXIF_MODEL = 271, 272
_EXIF_EXPOSURE, _EXIF_ISO, _EXIF_DATE, _EXIF_FOCAL = 33434, 34855, 36867, 37386
_EXIF_LENS_MODEL = 42036


def star_field(shape: tuple[int, int], seed: int = 1, sky: float = 1000.0) -> np.ndarray:
    """A seeded float frame: sky with noise and a few Gaussian stars."""
    rng = np.random.default_rng(seed)
    height, width = shape
    frame = rng.normal(sky, 10.0, shape)
    yy, xx = np.mgrid[0:height, 0:width]
    for _ in range(12):
        x, y = rng.uniform(5, width - 5), rng.uniform(5, height - 5)
        frame += rng.uniform(2000, 20000) * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 4.0)
    return frame


def write_fits(
    path: Path,
    data: np.ndarray,
    header: dict[str, Any] | None = None,
    *,
    compressed: bool = False,
    extension: bool = False,
) -> Path:
    """A FITS file; ``compressed`` writes a tile-compressed image HDU, ``extension`` puts the
    image in an extension behind an empty primary HDU. ``.gz`` names are gzip-compressed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cards = fits.Header()
    for key, value in (header or {}).items():
        cards[key] = value
    if compressed:
        hdul = fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data, header=cards)])
    elif extension:
        hdul = fits.HDUList([fits.PrimaryHDU(header=cards), fits.ImageHDU(data)])
    else:
        hdul = fits.HDUList([fits.PrimaryHDU(data, header=cards)])
    hdul.writeto(path)
    return path


def write_xisf(
    path: Path,
    data: np.ndarray,
    fits_keywords: dict[str, Any] | None = None,
    properties: dict[str, tuple[str, Any]] | None = None,
    codec: str | None = None,
) -> Path:
    """An XISF file (attached data block) with FITS keywords and typed XISF properties
    (``{"Instrument:ExposureTime": ("Float32", 300.0)}``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    array = data if data.ndim == 3 else data[:, :, np.newaxis]
    image_metadata: dict[str, Any] = {
        "FITSKeywords": {
            k: [{"value": str(v), "comment": ""}] for k, v in (fits_keywords or {}).items()
        },
        "XISFProperties": {
            k: {"id": k, "type": t, "value": v} for k, (t, v) in (properties or {}).items()
        },
    }
    xisf.XISF.write(
        str(path),
        array,
        creator_app="astrocat tests",
        image_metadata=image_metadata,
        codec=codec,
        shuffle=codec is not None,
    )
    return path


def write_tiff(path: Path, data: np.ndarray, *, planar: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    photometric = "rgb" if data.ndim == 3 else "minisblack"
    if planar and data.ndim == 3:
        tifffile.imwrite(path, np.moveaxis(data, -1, 0), photometric="rgb", planarconfig="separate")
    else:
        tifffile.imwrite(path, data, photometric=photometric)
    return path


def camera_exif(
    model: str = "EOS 6D",
    make: str = "Canon",
    exposure: float = 30.0,
    iso: int = 1600,
    date: str = "2024:10:05 21:14:03",
    focal_mm: float = 135.0,
    lens: str = "EF135mm f/2L USM",
) -> Image.Exif:
    exif = Image.Exif()
    exif[_EXIF_MAKE] = make
    exif[_EXIF_MODEL] = model
    sub = exif.get_ifd(0x8769)
    sub[_EXIF_EXPOSURE] = exposure
    sub[_EXIF_ISO] = iso
    sub[_EXIF_DATE] = date
    sub[_EXIF_FOCAL] = focal_mm
    sub[_EXIF_LENS_MODEL] = lens
    return exif


def write_pillow(path: Path, data: np.ndarray, exif: Image.Exif | None = None) -> Path:
    """A JPEG or PNG (by suffix) from uint8 (mono/RGB) or uint16 mono data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(data)
    kwargs: dict[str, Any] = {"exif": exif} if exif is not None else {}
    if path.suffix.lower() in (".jpg", ".jpeg"):
        kwargs["quality"] = 95
    image.save(path, **kwargs)
    return path


def write_dng(
    path: Path,
    cfa: np.ndarray,
    *,
    make: str = "Canon",
    model: str = "EOS Ra",
    exposure_s: tuple[int, int] = (120, 1),
    iso: int = 800,
    date: str = "2024:10:05 21:14:03",
    focal_mm: int = 400,
    white_level: int = 16383,
) -> Path:
    """A minimal RGGB DNG (uncompressed CFA, identity colour matrix) that LibRaw decodes, with
    the EXIF a camera writes in IFD0."""
    path.parent.mkdir(parents=True, exist_ok=True)
    extratags = [
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, (0, 1, 1, 2), True),  # CFAPattern: R G / G B
        (50717, "I", 1, white_level, True),  # WhiteLevel
        (50721, "2i", 9, (1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1), True),
        (_EXIF_MAKE, "s", 0, make, True),
        (_EXIF_MODEL, "s", 0, model, True),
        (_EXIF_EXPOSURE, "2I", 1, exposure_s, True),
        (_EXIF_ISO, "H", 1, iso, True),
        (_EXIF_DATE, "s", 0, date, True),
        (_EXIF_FOCAL, "2I", 1, (focal_mm, 1), True),
    ]
    tifffile.imwrite(path, cfa.astype(np.uint16), photometric=32803, extratags=extratags)
    return path
