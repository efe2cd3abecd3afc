"""photutils' DAOStarFinder as a third star detector beside the project's two, for
``solve_bench``'s comparison (issue 19: the detector measured against sep and photutils).

photutils is not a dependency of the pipeline: ``.venv/bin/pip install -e '.[bench]'`` adds it
(and scipy, which its finders need). Without it the benchmark says so and compares the other
two.

The comparison is made the way a user of photutils would detect stars, on the same plane the
project detects on (``core/frame_stars.star_plane``: 2×2 block means for big frames and
one-shot-colour mosaics):

- the background and its noise from ``Background2D`` (64-pixel boxes, 3×3 median filter,
  sigma-clipped medians: the same mesh as the project's), subtracted;
- ``DAOStarFinder`` at 5 times the background's median noise (the project's threshold), with
  the frame's true FWHM from the generator, in the plane's pixels: knowledge a real frame does
  not give, so this is photutils at its best; its own sharpness and roundness limits (the
  defaults) stand for the project's shape tests;
- sorted by flux, brightest first, in the frame's full pixels.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from astrocat_pipeline.core.frame_stars import star_plane
from astrocat_pipeline.core.star_detect import DetectedStars

BOX_PX = 64
DETECT_SIGMA = 5.0


def available() -> bool:
    """Whether photutils and scipy (which its finders need) are installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("photutils", "scipy"))


def photutils_stars(data: np.ndarray, *, cfa: bool, fwhm_px: float) -> DetectedStars:
    """Stars of a loaded frame found by photutils, brightest first (see the module docstring).

    Parameters
    ----------
    data : numpy.ndarray
        (H, W) or (H, W, C), as the project's loader returns it.
    cfa : bool
        ``data`` is a one-shot-colour mosaic (detected on 2×2 superpixels).
    fwhm_px : float
        The stars' FWHM in the frame's pixels.
    """
    from photutils.background import Background2D, MedianBackground
    from photutils.detection import DAOStarFinder

    plane, factor = star_plane(data, cfa=cfa)
    background = Background2D(plane, BOX_PX, filter_size=(3, 3), bkg_estimator=MedianBackground())
    residual = plane - background.background
    finder = DAOStarFinder(
        threshold=DETECT_SIGMA * float(background.background_rms_median),
        fwhm=max(fwhm_px / factor, 1.0),
    )
    table = finder(residual)
    if table is None or len(table) == 0:
        empty = np.zeros(0, dtype=np.float64)
        return DetectedStars(empty, empty.copy(), empty.copy())
    flux = np.asarray(table["flux"], dtype=np.float64)
    order = np.argsort(-flux, kind="stable")
    offset = (factor - 1) / 2.0
    x = np.asarray(table["x_centroid"], dtype=np.float64)[order] * factor + offset
    y = np.asarray(table["y_centroid"], dtype=np.float64)[order] * factor + offset
    return DetectedStars(x, y, flux[order])
