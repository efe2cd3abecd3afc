"""An independent check of a plate solution: do reference stars the solver never saw land on
stars of the frame?

A solver's own confidence (astrometry.net's log-odds) is computed from its own index stars; a
match of a few index quads in a crowded list can reach its threshold by chance (a 40° field of
the realistic corpus did, 15 px off). This check projects reference stars of another catalogue
(Hipparcos) through the candidate WCS and counts how many fall on one of the frame's own
detected stars, against how many would by chance.

The chance model: under a wrong WCS the projected positions are unrelated to the detections, so
reference star *i* falls within its match radius ``r_i`` of some detection with probability
``p_i = 1 - exp(-π r_i² n_i)``, ``n_i`` being the density of detections around it (counted in
an annulus outside the match radius, within the frame). Under a true WCS it is found with
probability ``q_i = c + (1 - c) p_i`` for a completeness ``c`` of at least
``CHECK_MIN_COMPLETENESS``. Each star adds ``log10(q_i/p_i)`` when found and
``log10((1-q_i)/(1-p_i))`` when not; the sum is the evidence, in decades, that the WCS is
right rather than chance (a likelihood ratio of the two Poisson-binomial outcomes). It is summed
over the whole frame and over each quarter, so that a solution right in one corner and wrong
elsewhere (a distorted wide field fitted badly) fails in the quarters where it is wrong.

Stars whose surroundings hold almost no detections (behind a roof or a cloud, off a dark edge)
say nothing either way and are left out. A field with too few reference stars to decide (narrow,
deep fields have a handful of Hipparcos stars) is ``undecided``: the caller falls back to its
other rules.

Pure: numpy and astropy's WCS only; no catalogue reading (the caller passes the stars).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from astropy.wcs import WCS

from astrocat_pipeline.core.star_detect import DetectedStars
from astrocat_pipeline.core.tuning import (
    CHECK_ACCEPT_LOG10,
    CHECK_ANNULUS_COUNT,
    CHECK_DECISIVE_LOG10,
    CHECK_MATCH_RADIUS_FRACTION,
    CHECK_MATCH_RADIUS_PX,
    CHECK_MAX_DETECTIONS,
    CHECK_MAX_REFERENCE,
    CHECK_MIN_ANNULUS_COUNT,
    CHECK_MIN_COMPLETENESS,
    CHECK_REFERENCE_PER_DETECTION,
    CHECK_REJECT_LOG10,
    CHECK_TYPICAL_COMPLETENESS,
)

__all__ = ["CONFIRMED", "REJECTED", "UNDECIDED", "RegionCheck", "SolutionCheck", "check_solution"]

CONFIRMED = "confirmed"
REJECTED = "rejected"
UNDECIDED = "undecided"

# Points of the polar grid on which the part of an annulus inside the frame is measured.
_ANNULUS_RADII = np.sqrt((np.arange(6) + 0.5) / 6.0)  # equal-area rings, as fractions
_ANNULUS_ANGLES = np.linspace(0.0, 2.0 * math.pi, 24, endpoint=False)


@dataclass(frozen=True)
class RegionCheck:
    """The evidence of one part of the frame.

    Attributes
    ----------
    name : str
        ``"the whole frame"`` or the quarter's pixel ranges.
    tested : int
        Reference stars projected into it whose surroundings hold detections.
    found : int
        Of those, how many have a detection within their match radius.
    chance : float
        How many would have one by chance (the sum of the ``p_i``).
    log10_evidence : float
        log10 of how much likelier the outcome is under a true WCS than by chance.
    """

    name: str
    tested: int
    found: int
    chance: float
    log10_evidence: float

    def describe(self) -> str:
        return (
            f"{self.found} of {self.tested} Hipparcos stars found on the frame's stars in "
            f"{self.name}, {self.chance:.1f} expected by chance"
        )


@dataclass(frozen=True)
class SolutionCheck:
    """The verdict on one WCS: ``confirmed``, ``rejected`` or ``undecided``, and why."""

    verdict: str
    reason: str
    regions: tuple[RegionCheck, ...] = ()

    @property
    def rejected(self) -> bool:
        return self.verdict == REJECTED


def check_solution(
    wcs: WCS,
    width_px: int,
    height_px: int,
    stars: DetectedStars,
    ref_ra_deg: np.ndarray,
    ref_dec_deg: np.ndarray,
    ref_mag: np.ndarray,
) -> SolutionCheck:
    """Check a candidate WCS of a ``width_px`` x ``height_px`` frame against reference stars.

    Parameters
    ----------
    wcs : astropy.wcs.WCS
        The candidate celestial WCS, mapping the frame's 0-based array pixels (x = column,
        y = row) to ICRS degrees (SIP included, when it has one).
    width_px, height_px : int
        The frame's size in pixels.
    stars : DetectedStars
        The frame's own detected stars, brightest first, in the same 0-based pixels (the star
        list stored for the frame; the first ``CHECK_MAX_DETECTIONS`` are used).
    ref_ra_deg, ref_dec_deg, ref_mag : numpy.ndarray
        (M,) reference stars around the field (ICRS degrees, magnitude); stars outside the
        frame are dropped here. They must not be the solver's own index stars.

    Returns
    -------
    SolutionCheck
        ``rejected`` when the whole frame, or any quarter, shows the reference stars on the
        detections no more often than chance (evidence at most ``-CHECK_REJECT_LOG10``);
        ``rejected`` too when the frame has so many reference stars that a typical true
        solution would score ``CHECK_DECISIVE_LOG10`` and this one does not reach
        ``CHECK_ACCEPT_LOG10``; ``confirmed`` when the whole frame's evidence reaches
        ``CHECK_ACCEPT_LOG10``;
        ``undecided`` otherwise (too few reference stars, or too few detections).
    """
    detections = stars.head(CHECK_MAX_DETECTIONS)
    det_x, det_y = detections.x_px, detections.y_px
    if len(det_x) == 0:
        return SolutionCheck(UNDECIDED, "the frame has no detected stars to check against")
    ref_x, ref_y = _project(wcs, ref_ra_deg, ref_dec_deg)
    inside = (
        np.isfinite(ref_x)
        & np.isfinite(ref_y)
        & (ref_x >= 0)
        & (ref_x <= width_px - 1)
        & (ref_y >= 0)
        & (ref_y <= height_px - 1)
    )
    order = np.argsort(np.where(inside, ref_mag, np.inf), kind="stable")[: int(inside.sum())]
    wanted = max(1, math.ceil(CHECK_REFERENCE_PER_DETECTION * len(det_x)))
    order = order[: min(wanted, CHECK_MAX_REFERENCE)]
    ref_x, ref_y = ref_x[order], ref_y[order]
    if len(ref_x) == 0:
        return SolutionCheck(UNDECIDED, "no Hipparcos star falls inside the frame")

    centre_x, centre_y = (width_px - 1) / 2.0, (height_px - 1) / 2.0
    radius = CHECK_MATCH_RADIUS_PX + CHECK_MATCH_RADIUS_FRACTION * np.hypot(
        ref_x - centre_x, ref_y - centre_y
    )
    # The annulus that measures the local density: on average CHECK_ANNULUS_COUNT detections.
    outer = math.sqrt(CHECK_ANNULUS_COUNT * width_px * height_px / (math.pi * len(det_x)))
    outer_r = np.maximum(outer, 3.0 * radius)
    d2 = (ref_x[:, None] - det_x[None, :]) ** 2 + (ref_y[:, None] - det_y[None, :]) ** 2
    found = (d2 <= (radius**2)[:, None]).any(axis=1)
    in_annulus = ((d2 > (radius**2)[:, None]) & (d2 <= (outer_r**2)[:, None])).sum(axis=1)
    area = _annulus_area_inside(ref_x, ref_y, radius, outer_r, width_px, height_px)
    density = in_annulus / np.maximum(area, 1.0)
    chance = 1.0 - np.exp(-math.pi * radius**2 * density)
    usable = in_annulus >= CHECK_MIN_ANNULUS_COUNT
    chance = np.clip(chance, 1e-6, 1.0 - 1e-6)
    c = CHECK_MIN_COMPLETENESS
    true_rate = c + (1.0 - c) * chance
    if_found = np.log10(true_rate / chance)
    if_missed = np.log10((1.0 - true_rate) / (1.0 - chance))
    evidence = np.where(found, if_found, if_missed)
    # What a typical true solution would score: each star found with probability
    # CHECK_TYPICAL_COMPLETENESS (or by chance).
    typical = CHECK_TYPICAL_COMPLETENESS + (1.0 - CHECK_TYPICAL_COMPLETENESS) * chance
    expected = typical * if_found + (1.0 - typical) * if_missed

    half_x, half_y = width_px / 2.0, height_px / 2.0
    regions = [_region("the whole frame", usable, found, chance, evidence)]
    for top in (True, False):
        for left in (True, False):
            part = usable & ((ref_x < half_x) == left) & ((ref_y < half_y) == top)
            xs = f"x {0 if left else math.ceil(half_x)}-{math.ceil(half_x) if left else width_px}"
            ys = f"y {0 if top else math.ceil(half_y)}-{math.ceil(half_y) if top else height_px}"
            regions.append(_region(f"the quarter {xs}, {ys} px", part, found, chance, evidence))
    whole = regions[0]
    wrong = [r for r in regions if r.log10_evidence <= -CHECK_REJECT_LOG10]
    if wrong:
        worst = min(wrong, key=lambda r: r.log10_evidence)
        return SolutionCheck(
            REJECTED,
            f"the solution's stars do not match the frame: {worst.describe()}",
            tuple(regions),
        )
    typical_evidence = float(expected[usable].sum())
    if typical_evidence >= CHECK_DECISIVE_LOG10 and whole.log10_evidence < CHECK_ACCEPT_LOG10:
        # Enough reference stars that a true solution would have shown itself plainly.
        return SolutionCheck(
            REJECTED,
            f"the solution's stars do not match the frame: {whole.describe()} (a true "
            f"solution finds about {CHECK_TYPICAL_COMPLETENESS:.0%} of them)",
            tuple(regions),
        )
    if whole.log10_evidence >= CHECK_ACCEPT_LOG10:
        return SolutionCheck(CONFIRMED, whole.describe(), tuple(regions))
    return SolutionCheck(
        UNDECIDED,
        f"too few Hipparcos stars to tell ({whole.describe()})",
        tuple(regions),
    )


def _region(
    name: str, part: np.ndarray, found: np.ndarray, chance: np.ndarray, evidence: np.ndarray
) -> RegionCheck:
    return RegionCheck(
        name=name,
        tested=int(part.sum()),
        found=int((found & part).sum()),
        chance=float(chance[part].sum()),
        log10_evidence=float(evidence[part].sum()),
    )


def _project(wcs: WCS, ra_deg: np.ndarray, dec_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """0-based pixel positions of sky positions (NaN where the WCS has none)."""
    ra = np.asarray(ra_deg, dtype=np.float64)
    dec = np.asarray(dec_deg, dtype=np.float64)
    if ra.size == 0:
        return ra.copy(), dec.copy()
    if not wcs.wcs.ctype[0].upper().startswith("RA"):
        # Galactic or ecliptic axes: through astropy's frame conversion (slower, and rare).
        from astropy.coordinates import SkyCoord
        from astropy.wcs.utils import skycoord_to_pixel

        with np.errstate(all="ignore"):
            x, y = skycoord_to_pixel(SkyCoord(ra, dec, unit="deg", frame="icrs"), wcs, origin=0)
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    with np.errstate(all="ignore"):
        if wcs.sip is not None:
            # quiet: where the SIP inversion does not converge (far outside the frame), its
            # best estimate; such stars land outside the frame and are dropped.
            x, y = wcs.all_world2pix(ra, dec, 0, quiet=True)
        else:
            x, y = wcs.wcs_world2pix(ra, dec, 0)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def _annulus_area_inside(
    x: np.ndarray,
    y: np.ndarray,
    inner: np.ndarray,
    outer: np.ndarray,
    width_px: int,
    height_px: int,
) -> np.ndarray:
    """Area (px²) of each annulus ``inner < r <= outer`` around (x, y) that lies inside the
    frame, measured on an equal-area polar grid of points."""
    ring2 = inner[:, None] ** 2 + (outer[:, None] ** 2 - inner[:, None] ** 2) * (
        _ANNULUS_RADII[None, :] ** 2
    )
    rings = np.sqrt(ring2)  # (M, R)
    px = x[:, None, None] + rings[:, :, None] * np.cos(_ANNULUS_ANGLES)[None, None, :]
    py = y[:, None, None] + rings[:, :, None] * np.sin(_ANNULUS_ANGLES)[None, None, :]
    inside = (px >= -0.5) & (px <= width_px - 0.5) & (py >= -0.5) & (py <= height_px - 0.5)
    fraction = inside.reshape(len(x), -1).mean(axis=1)
    return fraction * math.pi * (outer**2 - inner**2)
