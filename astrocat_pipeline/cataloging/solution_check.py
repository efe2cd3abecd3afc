"""Every WCS a solver finds is checked against Hipparcos stars before it is taken (invariant 9:
no false solutions), whichever solver found it (local, local-then-nova, nova).

:class:`SolutionChecker` joins the Hipparcos stars (:mod:`~astrocat_pipeline.adapters.
reference_stars`) to the pure check (:func:`~astrocat_pipeline.core.solution_check.
check_solution`). :func:`~astrocat_pipeline.cataloging.steps.solve_file` hands its
:meth:`SolutionChecker.verify` to the solver, which calls it on each match before taking it (so
that the local solver goes on to its blind search after a rejected hinted match), and checks
the solver's answer once more itself: a solver that ignored the hook cannot store a WCS the
check rejects. A rejected WCS becomes a failed solution with the check's reason.
"""

from __future__ import annotations

import dataclasses
import time

from astropy.wcs import WCS

from astrocat_pipeline.adapters.reference_stars import HipparcosStars
from astrocat_pipeline.core.records import PlateSolution
from astrocat_pipeline.core.solution_check import UNDECIDED, SolutionCheck, check_solution
from astrocat_pipeline.core.star_detect import DetectedStars
from astrocat_pipeline.core.tuning import CHECK_REFERENCE_RADIUS_FACTOR
from astrocat_pipeline.core.wcs_geometry import field_geometry, wcs_from_header_text

__all__ = ["SolutionChecker"]


class SolutionChecker:
    """Checks candidate WCSs of frames against the Hipparcos stars.

    Parameters
    ----------
    reference : HipparcosStars, optional
        The reference stars (read once, on the first check); None: the installed catalogue.
    """

    def __init__(self, reference: HipparcosStars | None = None) -> None:
        self.reference = reference if reference is not None else HipparcosStars()

    def __repr__(self) -> str:
        return f"SolutionChecker({self.reference!r})"

    def verify(
        self, wcs: WCS, width_px: int, height_px: int, stars: DetectedStars | None
    ) -> SolutionCheck:
        """The verdict on ``wcs`` for a frame with these detected ``stars`` (0-based array
        pixels, brightest first); ``undecided`` without a star list (the image is never read
        again for it)."""
        if stars is None:
            return SolutionCheck(UNDECIDED, "no star list of the frame to check against")
        try:
            geometry = field_geometry(wcs, width_px, height_px)
        except ValueError as exc:
            return SolutionCheck(UNDECIDED, f"the field's extent is undefined ({exc})")
        ra, dec, mag = self.reference.around(
            geometry.ra_deg, geometry.dec_deg, geometry.radius_deg * CHECK_REFERENCE_RADIUS_FACTOR
        )
        return check_solution(wcs, width_px, height_px, stars, ra, dec, mag)

    def checked(
        self, solution: PlateSolution, width_px: int, height_px: int, stars: DetectedStars | None
    ) -> PlateSolution:
        """``solution`` itself, or, when it is solved and the check rejects its WCS, a failed
        solution saying why (its attempts kept, the last one marked rejected)."""
        if solution.status != "solved" or not solution.wcs_header:
            return solution
        started = time.monotonic()
        verdict = self.verify(wcs_from_header_text(solution.wcs_header), width_px, height_px, stars)
        if not verdict.rejected:
            return solution
        attempts = solution.attempts
        if attempts:
            last = dataclasses.replace(attempts[-1], outcome=f"rejected: {verdict.reason}")
            attempts = (*attempts[:-1], last)
        return dataclasses.replace(
            solution,
            status="failed",
            geometry=None,
            wcs_header=None,
            error=f"the {solution.solver} solution was rejected (a false solution): "
            f"{verdict.reason}",
            attempts=attempts,
            elapsed_s=(solution.elapsed_s or 0.0) + time.monotonic() - started,
        )
