"""An image a plate solver can read, made from any supported file.

solve-field (and the nova service) read FITS, PNG, JPEG and TIFF themselves, but not camera raw
or XISF, not an image in a FITS extension, and they read a colour cube plane by plane. Such
files are decoded with the project's own loader and written as a mono float32 FITS into a
temporary directory of the caller's; nothing is ever written beside the source.

The array is written as loaded (array row 0 = FITS row 1), so the solved WCS's pixel
coordinates are the loader's array coordinates for every format, as they are for a FITS source.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from astropy.io import fits

from astrocat_pipeline.core.loading import ImageHeader, load_image, read_header

__all__ = ["needs_conversion", "solver_ready", "write_solver_fits"]


def needs_conversion(path: Path, header: ImageHeader) -> bool:
    """True unless ``path`` is a FITS file whose primary HDU holds a 2-D mono image."""
    plain_fits = header.format == "fits" and not path.name.lower().endswith(".fz")
    return not (plain_fits and header.hdu_index == 0 and header.channels == 1)


def write_solver_fits(path: Path, target: Path) -> Path:
    """Decode ``path`` and write it to ``target`` as a mono float32 FITS (colour averaged,
    non-finite pixels set to the median so star extraction sees a flat background)."""
    data, _ = load_image(path)
    mono = data.astype(np.float32)
    if mono.ndim == 3:
        mono = mono.mean(axis=2, dtype=np.float32)
    finite = np.isfinite(mono)
    if not finite.all():
        fill = float(np.median(mono[finite])) if finite.any() else 0.0
        mono[~finite] = fill
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fits.verify.VerifyWarning)
        fits.PrimaryHDU(mono).writeto(target, overwrite=True)
    return target


@contextmanager
def solver_ready(path: Path) -> Iterator[Path]:
    """``path`` itself when a solver reads it as it is, else a converted FITS in a temporary
    directory that is removed afterwards."""
    header = read_header(path)
    if not needs_conversion(path, header):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="astrocat-solver-input-") as tmp:
        yield write_solver_fits(path, Path(tmp) / "input.fits")
