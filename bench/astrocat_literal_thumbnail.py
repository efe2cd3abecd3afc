"""AstroCat's thumbnail algorithm restated literally, as a standalone command: the baseline that
``bench/cli_bench.py`` times ``astrocat thumbnail`` against, process for process.

    python -m bench.astrocat_literal_thumbnail FRAME.fits OUT.jpg

The seed's steps, all at full resolution in float64: read the primary image, min/max
normalization, median and MAD over every pixel, shadows clipped at median − 1.25·MAD, the
midtones transfer function that takes the median to 0.25, 8-bit, fit in 800×800 with Lanczos,
JPEG quality 85. It imports only numpy, astropy.io.fits and Pillow (nothing of the project), so
its start-up is the least such a script could cost.
"""

from __future__ import annotations

import sys

import numpy as np
from astropy.io import fits
from PIL import Image

MAX_SIZE_PX = 800
JPEG_QUALITY = 85
SHADOWS_MAD = -1.25
TARGET_BACKGROUND = 0.25


def mtf(m: float, x: np.ndarray) -> np.ndarray:
    """The midtones transfer function: 0 -> 0, m -> 0.5, 1 -> 1."""
    return ((m - 1.0) * x) / ((2.0 * m - 1.0) * x - m)


def main(argv: list[str]) -> int:
    source, target = argv
    x = fits.getdata(source).astype(np.float64)
    low, high = np.nanmin(x), np.nanmax(x)
    x = (x - low) / (high - low)
    median = float(np.nanmedian(x))
    mad = float(np.nanmedian(np.abs(x - median)))
    c0 = min(max(median + SHADOWS_MAD * mad, 0.0), 1.0)
    m = float(mtf(TARGET_BACKGROUND, np.array(median - c0)))
    x = np.clip((x - c0) / (1.0 - c0), 0.0, 1.0)
    pixels = np.rint(np.nan_to_num(mtf(m, x)) * 255.0).astype(np.uint8)[::-1]  # FITS: bottom-up
    height, width = pixels.shape
    scale = min(MAX_SIZE_PX / width, MAX_SIZE_PX / height, 1.0)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = Image.fromarray(np.ascontiguousarray(pixels)).resize(size, Image.Resampling.LANCZOS)
    image.save(target, format="JPEG", quality=JPEG_QUALITY)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
