"""One way from a WCS to a plate solution, with the checks every source of a WCS must pass.

The local solver's ``job.wcs``, nova's WCS file and a frame's own header WCS all become a
:class:`~astrocat_pipeline.core.records.PlateSolution` here, so that "solved" means the same
thing whoever solved the frame (no false solutions: a wrong WCS is worse than none).

Pure: no Dagster, no environment, no subprocess, no network.
"""

from __future__ import annotations

import os

from astropy.io import fits
from astropy.wcs import WCS

from astrocat_pipeline.core.errors import InvalidSolutionError
from astrocat_pipeline.core.records import PlateSolution, SolveHints
from astrocat_pipeline.core.wcs_geometry import celestial_wcs, field_geometry, wcs_to_header_text

__all__ = ["solution_from_wcs"]


def solution_from_wcs(
    wcs: WCS | fits.Header,
    width_px: int,
    height_px: int,
    *,
    solver: str,
    image: str | os.PathLike[str],
    source: str,
    solved_size_px: tuple[object, object] | None = None,
    hints: SolveHints | None = None,
    elapsed_s: float | None = None,
    bottom_up: bool = True,
) -> PlateSolution:
    """A ``solved`` plate solution of a ``width_px`` x ``height_px`` frame under ``wcs``.

    Parameters
    ----------
    wcs : astropy.wcs.WCS or astropy.io.fits.Header
        The solution's WCS, or a FITS header holding it (a solver's WCS file); a header is
        read with :func:`~astrocat_pipeline.core.wcs_geometry.celestial_wcs`.
    width_px, height_px : int
        Size of the frame the solution is for, in pixels.
    solver : str
        Who solved it, recorded in the solution: ``"local"``, ``"nova"``, ``"header"``.
    image : str or path-like
        The image file, named in error messages.
    source : str
        What produced the WCS, for error messages (``"astrometry-engine"``,
        ``"nova (job 12 (submission 34))"``, ``"its header"``).
    solved_size_px : tuple, optional
        The image size the solver says it solved (its WCS file's ``IMAGEW``, ``IMAGEH``);
        when given it must be the frame's size.
    hints : SolveHints, optional
        The hints of the attempt that found the solution (None: blind, or not a solver's).
    elapsed_s : float, optional
        How long solving took, in seconds.
    bottom_up : bool
        How the picture is shown (see
        :func:`~astrocat_pipeline.core.wcs_geometry.field_geometry`).

    Returns
    -------
    PlateSolution
        ``status="solved"`` with the field geometry and the WCS as header text.

    Raises
    ------
    InvalidSolutionError
        The solver solved an image of another size (another HDU or a resampled copy), there is
        no usable celestial WCS, or the WCS gives no sky position for the frame's centre or a
        corner. The message names ``image`` and ``source``.
    """
    if solved_size_px is not None and tuple(solved_size_px) != (width_px, height_px):
        raise InvalidSolutionError(
            f"{image}: {source} solved a {solved_size_px[0]}x{solved_size_px[1]} px image but "
            f"the frame is {width_px}x{height_px} px (another HDU or a resampled copy?)"
        )
    celestial = celestial_wcs(wcs) if isinstance(wcs, fits.Header) else wcs
    if celestial is None or not celestial.has_celestial:
        raise InvalidSolutionError(f"{image}: {source} gave no usable celestial WCS")
    try:
        geometry = field_geometry(celestial, width_px, height_px, bottom_up=bottom_up)
    except ValueError as exc:
        raise InvalidSolutionError(f"{image}: {source}: {exc}") from None
    return PlateSolution(
        status="solved",
        solver=solver,
        geometry=geometry,
        wcs_header=wcs_to_header_text(celestial),
        hints_used=hints,
        elapsed_s=elapsed_s,
    )
