"""How a blind search (no position, no scale) spends its budget: passes of astrometry-engine.

Without a scale, astrometry-engine looks every quad of the frame's stars up in every index file
(fields of 0.1° to 180°), and verifies each candidate it finds. With Debian's Tycho-2 07-19 set,
the three index files for fields under ~3° (07, 08, 09) hold 90 % of the quads, so on fields of
1°-2° the search spends most of its time on candidates of every other scale before it reaches
the depth (the number of stars) at which the true quad appears. With the true scale ±20 % the
same star lists solve in 0.01-0.7 s of CPU (bench/README.md, "Blind search in passes").

A blind search is therefore run in passes, each an engine run with its own share of the budget:

1. the whole scale range at once, as solve-field does: wide fields (a few small index files)
   solve in a fraction of a second this way;
2. the same range cut into bands of a factor ``BLIND_BAND_FACTOR`` in field width, narrowest
   first, searched ``BLIND_DEPTH_STEP`` stars at a time: the engine takes each depth step over
   every band in turn (engine.c: depth ranges outside, scale ranges inside), so a band's
   candidates no longer wait behind every other band's at the same depth, and bands that no
   installed index file can serve are left out (the engine would search its smallest or
   largest index for them).

The plan is pure: it depends only on the frame's size, the installed index files' quad sizes
and the number of stars handed to the engine.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

from astrocat_pipeline.core.tuning import (
    SOLVER_BLIND_BAND_FACTOR,
    SOLVER_BLIND_DEPTH_STEP,
    SOLVER_BLIND_FIRST_PASS_SHARE,
)

__all__ = [
    "ENGINE_MAX_FIELD_DEG",
    "ENGINE_MIN_FIELD_DEG",
    "QUAD_SIZE_FRACTION_HI",
    "QUAD_SIZE_FRACTION_LO",
    "BlindPass",
    "blind_passes",
    "quad_range_arcsec",
]

# astrometry-engine searches an index when its quads (SCALE_L..SCALE_U) overlap
# [0.1 × shorter side × lowest scale, 1.0 × diagonal × highest scale] (DEFAULT_QSF_LO/HI in
# onefield.c, used in engine.c); the solver selects index files with the same rule.
QUAD_SIZE_FRACTION_LO = 0.1
QUAD_SIZE_FRACTION_HI = 1.0
# Without a scale the engine searches fields 0.1° to 180° wide (engine.c, minwidth/maxwidth).
ENGINE_MIN_FIELD_DEG = 0.1
ENGINE_MAX_FIELD_DEG = 180.0


@dataclass(frozen=True)
class BlindPass:
    """One engine run of a blind search.

    Attributes
    ----------
    scales_arcsec : tuple of (float, float)
        Pixel-scale bands (arcsec per pixel, low, high), searched in this order at each depth
        step; empty: the engine's own whole range in one go.
    depth_step : int or None
        The stars are searched this many at a time (depth ranges 1..n, n+1..2n, ...), every
        band at one depth before the next; None: all at once (the engine's default).
    max_stars : int
        The number of stars in the job (the last depth range ends there).
    share : float
        Fraction of what is left of the blind budget when the pass starts (1.0: all of it).
    """

    scales_arcsec: tuple[tuple[float, float], ...]
    depth_step: int | None
    max_stars: int
    share: float

    def depth_ranges(self) -> tuple[tuple[int, int], ...]:
        """1-based inclusive star ranges (the engine's ANDPL/ANDPU), empty for the default."""
        if self.depth_step is None:
            return ()
        return tuple(
            (first, min(first + self.depth_step - 1, self.max_stars))
            for first in range(1, self.max_stars + 1, self.depth_step)
        )


def quad_range_arcsec(
    size_px: tuple[int, int], scale_low_arcsec: float, scale_high_arcsec: float
) -> tuple[float, float]:
    """The quad sizes (arcsec) the engine looks for in a frame of ``size_px`` at these pixel
    scales: index files whose quads overlap this range are the ones it searches."""
    width_px, height_px = size_px
    return (
        QUAD_SIZE_FRACTION_LO * min(width_px, height_px) * scale_low_arcsec,
        QUAD_SIZE_FRACTION_HI * math.hypot(width_px, height_px) * scale_high_arcsec,
    )


def blind_passes(
    size_px: tuple[int, int],
    index_quads_arcsec: Sequence[tuple[float, float] | None],
    max_stars: int,
) -> tuple[BlindPass, ...]:
    """The passes of a blind search of a ``size_px`` (width, height) frame with ``max_stars``
    stars, given the quad sizes (arcsec, smallest and largest) of each installed index file
    (None for a file whose header does not say).

    The second pass is left out when no band would be searched (no index file says its quad
    sizes) or it would search one band only (the first pass did that already).
    """
    width_px, height_px = size_px
    if width_px < 1 or height_px < 1:
        raise ValueError(f"frame size must be positive, got {width_px}x{height_px}")
    if max_stars < 1:
        raise ValueError(f"max_stars must be positive, got {max_stars}")
    whole = BlindPass((), None, max_stars, SOLVER_BLIND_FIRST_PASS_SHARE)
    known = [quads for quads in index_quads_arcsec if quads is not None]
    bands: list[tuple[float, float]] = []
    low_deg = ENGINE_MIN_FIELD_DEG
    while low_deg < ENGINE_MAX_FIELD_DEG:
        high_deg = min(low_deg * SOLVER_BLIND_BAND_FACTOR, ENGINE_MAX_FIELD_DEG)
        band = (low_deg * 3600.0 / width_px, high_deg * 3600.0 / width_px)
        quad_low, quad_high = quad_range_arcsec(size_px, *band)
        if any(low <= quad_high and quad_low <= high for low, high in known):
            bands.append(band)
        low_deg = high_deg
    if len(bands) < 2:
        return (dataclasses.replace(whole, share=1.0),)
    return (whole, BlindPass(tuple(bands), SOLVER_BLIND_DEPTH_STEP, max_stars, 1.0))
