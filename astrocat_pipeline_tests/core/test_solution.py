"""solution_from_wcs: the checks every WCS passes before it is a plate solution."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from astrocat_pipeline.core.errors import InvalidSolutionError, SolverError
from astrocat_pipeline.core.records import SolveHints
from astrocat_pipeline.core.solution import solution_from_wcs
from astrocat_pipeline.core.wcs_geometry import (
    celestial_wcs,
    field_geometry,
    wcs_from_header_text,
)
from astrocat_pipeline_tests.core.test_wcs_geometry import make_header

WIDTH, HEIGHT = 1500, 1000
HINTS = SolveHints(scale_low_arcsec=1.5, scale_high_arcsec=2.5)


def _solver_wcs_file() -> fits.Header:
    """What a solver's WCS file holds: the WCS and the size of the image it solved."""
    header = make_header(83.82, -5.39, 2.0, 30.0, width_px=WIDTH, height_px=HEIGHT)
    header["IMAGEW"], header["IMAGEH"] = WIDTH, HEIGHT
    return header


def _solve(header: fits.Header, width_px: int = WIDTH, **kwargs: object):
    return solution_from_wcs(
        header,
        width_px,
        HEIGHT,
        solver="local",
        image="/lib/M42 light.fits",
        source="astrometry-engine",
        solved_size_px=(header.get("IMAGEW"), header.get("IMAGEH")),
        **kwargs,
    )


def test_a_solver_wcs_file_becomes_a_solved_solution_with_its_geometry():
    header = _solver_wcs_file()
    solution = _solve(header, hints=HINTS, elapsed_s=1.5)

    assert (solution.status, solution.solver) == ("solved", "local")
    assert (solution.hints_used, solution.elapsed_s) == (HINTS, 1.5)
    wcs = celestial_wcs(header)
    assert wcs is not None
    assert solution.geometry == field_geometry(wcs, WIDTH, HEIGHT)
    assert solution.geometry.pixel_scale_arcsec == pytest.approx(2.0)
    assert solution.geometry.rotation_deg == pytest.approx(30.0)
    assert solution.wcs_header is not None
    stored = wcs_from_header_text(solution.wcs_header)
    for pixel in ((10.0, 20.0), (WIDTH - 1.0, HEIGHT - 1.0)):
        assert np.allclose(stored.pixel_to_world_values(*pixel), wcs.pixel_to_world_values(*pixel))


def test_a_wcs_and_the_header_holding_it_give_the_same_solution():
    header = _solver_wcs_file()
    wcs = celestial_wcs(header)
    assert _solve(header) == solution_from_wcs(
        wcs, WIDTH, HEIGHT, solver="local", image="x", source="y"
    )


def test_bottom_up_false_describes_the_picture_with_row_0_on_top():
    header = _solver_wcs_file()
    up = _solve(header).geometry
    down = _solve(header, bottom_up=False).geometry
    assert up is not None
    assert down is not None
    assert up.parity != down.parity
    assert (up.ra_deg, up.dec_deg) == (down.ra_deg, down.dec_deg)


def test_a_solution_of_another_image_size_is_refused_naming_the_file():
    with pytest.raises(InvalidSolutionError) as raised:
        _solve(_solver_wcs_file(), width_px=1200)
    message = str(raised.value)
    assert message.startswith("/lib/M42 light.fits: astrometry-engine solved a 1500x1000 px")
    assert "the frame is 1200x1000 px" in message
    assert isinstance(raised.value, SolverError)  # callers that catch solver errors see it


def test_a_wcs_file_without_the_solved_size_is_refused():
    header = _solver_wcs_file()
    del header["IMAGEW"]
    with pytest.raises(InvalidSolutionError, match="solved a Nonex1000 px image"):
        _solve(header)


def test_a_header_without_a_usable_wcs_is_refused():
    header = fits.Header({"IMAGEW": WIDTH, "IMAGEH": HEIGHT, "RA": 83.8, "DEC": -5.4})
    with pytest.raises(InvalidSolutionError, match="astrometry-engine gave no usable celestial"):
        _solve(header)


def test_a_wcs_leaving_the_frames_corners_off_the_sky_is_refused():
    # Orthographic at 0.2°/px: the corners lie 180° from the centre, beyond its 90° horizon.
    header = _solver_wcs_file()
    header["CTYPE1"], header["CTYPE2"] = "RA---SIN", "DEC--SIN"
    for key in ("CD1_1", "CD1_2", "CD2_1", "CD2_2"):
        header[key] = header[key] / 2.0 * 3600.0 * 0.2
    with pytest.raises(InvalidSolutionError, match="no sky position for the centre or a corner"):
        _solve(header)
