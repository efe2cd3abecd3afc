"""A frame's star list for plate solving, from its loaded pixels, within bounded memory.

The local solver's list (:mod:`~astrocat_pipeline.core.star_detect`'s detection, on 2×2 block
means for frames wider than ``SOLVER_DOWNSAMPLE_ABOVE_PX``, without the lines of artefacts
solve-field's removelines step would cut). It is found once, in the same pass over the file as
the fingerprint and the thumbnail, and stored with the catalog, so that the solver never reads
the image again (invariant 8).

Memory: the stars are detected on a float32 plane of their own, a 26-Mpx 16-bit frame's 2×2
block means (26 MB, half the frame's size) made without a full-size temporary; the frame's
pixels can be dropped once it is made. The detection then works in that plane (its
background subtracted in place) and needs about as much again for sep's own buffers: a file in
flight stays well within 3× its size.
"""

from __future__ import annotations

import numpy as np

from astrocat_pipeline.core.star_detect import (
    DetectedStars,
    detect_stars,
    mono_image,
    remove_line_artifacts,
)
from astrocat_pipeline.core.thumbnail import block_mean
from astrocat_pipeline.core.tuning import SOLVER_DOWNSAMPLE_ABOVE_PX

__all__ = ["frame_stars", "solver_binning", "star_plane", "stars_in_plane"]


def solver_binning(width_px: int, height_px: int) -> int:
    """The block size stars are detected on: big frames oversample their stars, so 2×2
    block means, as solve-field's ``--downsample 2`` did."""
    return 2 if max(width_px, height_px) > SOLVER_DOWNSAMPLE_ABOVE_PX else 1


def frame_stars(data: np.ndarray, *, cfa: bool = False) -> DetectedStars:
    """The stars of a loaded frame, brightest first, in its own 0-based array pixels.

    Parameters
    ----------
    data : numpy.ndarray
        (H, W) or (H, W, C) as :func:`~astrocat_pipeline.core.loading.load_image` returns it
        (a one-shot-colour mosaic as stored); not modified.
    cfa : bool
        ``data`` is a one-shot-colour (Bayer) mosaic: detected on 2×2 superpixels (the mean of
        each cell's red, two greens and blue, whatever the pattern), never on raw CFA pixels.
    """
    return stars_in_plane(*star_plane(data, cfa=cfa))


def star_plane(data: np.ndarray, *, cfa: bool = False) -> tuple[np.ndarray, int]:
    """The plane stars are detected on and its block size: a float32 plane of its own, the
    frame's pixels (block 1, colour averaged) or for a big frame or a Bayer mosaic its 2×2
    block means, colour averaged, made without a full-size temporary. ``data`` is not
    modified, and not needed after this."""
    height, width = data.shape[:2]
    factor = solver_binning(width, height)
    if cfa and data.ndim == 2:
        factor = max(factor, 2)
    if factor == 1:
        return mono_image(data), 1
    planes = [data] if data.ndim == 2 else [data[..., c] for c in range(data.shape[2])]
    binned = block_mean(planes[0], factor)
    for plane in planes[1:]:
        binned += block_mean(plane, factor)
    if len(planes) > 1:
        binned /= np.float32(len(planes))
    return binned, factor


def stars_in_plane(plane: np.ndarray, factor: int) -> DetectedStars:
    """The stars of :func:`star_plane`'s plane, in the frame's full pixels. The plane is the
    detection's working memory: its pixels are overwritten."""
    found = detect_stars(plane, overwrite_input=True)
    if factor == 1:
        return remove_line_artifacts(found)
    # Block (i, j) covers pixels factor*i .. factor*i + factor - 1: its centre, in full pixels,
    # is factor*i + (factor - 1)/2 (what detect_stars's own bin_factor gives).
    offset = (factor - 1) / 2.0
    return remove_line_artifacts(
        DetectedStars(found.x_px * factor + offset, found.y_px * factor + offset, found.flux)
    )
