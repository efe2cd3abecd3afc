"""How a blind search (no position, no scale) spends its budget: passes of astrometry-engine.

Without a scale, astrometry-engine looks every quad of the frame's first stars up in every index
file (fields of 0.1° to 180°) and verifies each candidate within its code tolerance (0.01,
solve-field's default). Measured on the realistic frames that failed blind (bench/README.md,
"Blind search in passes"), the time goes into those candidates, not into depth: limiting the
search to the first 50 stars solved the same frames as all 200 (but one of 84, cut by the wall
clock on a loaded machine) in about the same time. A code
tolerance of half the default admits about 2^4 = 16 times fewer candidates (the code is
4-dimensional) and cut the CPU time of the same searches about 4-fold (wide fields: median 0.44
s to 0.09 s, 47/48 to 48/48 solved; 1°-2° fields 29/36 to 33/36 in the first tests).

A quad's code error comes from the star positions relative to the quad's size: centroids good
to 0.1 px on the smallest quads the engine forms (a tenth of the frame's short side, 100 px on a
1000 px frame) move the code by ~0.002, within the tight tolerance. Frames whose positions are
worse (defocused donuts, trailed stars, a wide lens's distortion across a large quad) may need
the default one. So a blind search runs in passes, each an engine run with its own share of the
budget:

1. the tight tolerance ``SOLVER_BLIND_TIGHT_CODE_TOLERANCE``, with
   ``SOLVER_BLIND_FIRST_PASS_SHARE`` of the budget;
2. the engine's default tolerance with the rest (a search from the start: the engine cannot
   resume one).

Also measured and not kept (bench/README.md): cutting the scale range into bands searched a few
stars at a time (narrowest first it solved more 1°-2° fields but lost 40° ones; widest first
lost 1° ones), handing the engine 100 or 400 stars instead of 200, and a depth limit.

The plan is pure: it depends on nothing but the tuning constants.
"""

from __future__ import annotations

from dataclasses import dataclass

from astrocat_pipeline.core.tuning import (
    SOLVER_BLIND_FIRST_PASS_SHARE,
    SOLVER_BLIND_TIGHT_CODE_TOLERANCE,
)

__all__ = ["BlindPass", "blind_passes"]


@dataclass(frozen=True)
class BlindPass:
    """One engine run of a blind search.

    Attributes
    ----------
    code_tolerance : float or None
        The engine's quad-matching distance in code space (its ``ANCTOL``); None: its default
        (0.01).
    share : float
        Fraction of what is left of the blind budget when the pass starts (1.0: all of it).
    """

    code_tolerance: float | None
    share: float


def blind_passes() -> tuple[BlindPass, ...]:
    """The passes of a blind search, in order: tight codes first, then the default."""
    return (
        BlindPass(SOLVER_BLIND_TIGHT_CODE_TOLERANCE, SOLVER_BLIND_FIRST_PASS_SHARE),
        BlindPass(None, 1.0),
    )
