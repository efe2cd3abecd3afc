"""An image file the nova service can read, made from any supported file.

nova (like solve-field) reads FITS, PNG, JPEG and TIFF itself, but not camera raw or XISF, not
an image in a FITS extension, and it reads a colour cube plane by plane. Such files are decoded
with the project's own loader and written as a mono float32 FITS (the same mono image the local
solver finds stars in, :func:`~astrocat_pipeline.core.star_detect.mono_image`) into a temporary
directory; nothing is ever written beside the source. The local solver needs no file: it finds
stars in the loaded array itself.

The array is written as loaded (array row 0 = FITS row 1), so the solved WCS's pixel
coordinates are the loader's array coordinates for every format, as they are for a FITS source.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from astropy.io import fits

from astrocat_pipeline.core.loading import ImageHeader, load_image, read_header
from astrocat_pipeline.core.star_detect import mono_image

__all__ = ["needs_conversion", "solver_ready", "write_solver_fits"]


def needs_conversion(path: Path, header: ImageHeader) -> bool:
    """True unless ``path`` is a FITS file whose primary HDU holds a 2-D mono image."""
    plain_fits = header.format == "fits" and not path.name.lower().endswith(".fz")
    return not (plain_fits and header.hdu_index == 0 and header.channels == 1)


def write_solver_fits(path: Path, target: Path) -> Path:
    """Decode ``path`` and write it to ``target`` as a mono float32 FITS (colour averaged,
    non-finite pixels set to the median so star extraction sees a flat background)."""
    data, _ = load_image(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fits.verify.VerifyWarning)
        fits.PrimaryHDU(mono_image(data)).writeto(target, overwrite=True)
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
