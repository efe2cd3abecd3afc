"""The solve steps through the solver interface alone, with a fake solver: what they ask of a
solver (hints, the input file, a blind retry, resuming) and what they record of its answer
(name, progress, attempts). The real solvers' own tests are in ``adapters/solvers``."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from astropy.coordinates import angular_separation

from astrocat_pipeline.adapters.catalog import CatalogStore
from astrocat_pipeline.adapters.solvers import SolveProgress, build_solver
from astrocat_pipeline.adapters.solvers.none import NO_SOLVER_MESSAGE
from astrocat_pipeline.cataloging.steps import solve_file, solve_plate
from astrocat_pipeline.core.errors import SolverError
from astrocat_pipeline.core.fingerprint import content_fingerprint
from astrocat_pipeline.demo.library import DEMO_FIELDS, true_wcs
from astrocat_pipeline_tests.cataloging.test_steps_solve import _register
from astrocat_pipeline_tests.fakes import FAKE_ELAPSED_S, FakeSolver
from astrocat_pipeline_tests.image_files import write_fits

# The demo's M42 light: a FITS frame, so its true WCS is in the file's own pixels.
M42 = next(f for f in DEMO_FIELDS if f.rel_path == "M42/LIGHT/M42_L_60s_0001.fits")
POINTING = {"RA": 83.9, "DEC": -5.3, "FOCALLEN": 67.5, "XPIXSZ": 3.76}  # scale 11.49"/px


def _frame(tmp_path: Path, **header: object) -> Path:
    data = np.full((M42.height_px, M42.width_px), 1000, np.uint16)
    return write_fits(tmp_path / "M42 light.fits", data, {"IMAGETYP": "LIGHT", **header})


def _off_centre_arcsec(ra_deg: float, dec_deg: float) -> float:
    ra0, dec0 = M42.centre_deg
    radians = angular_separation(*(math.radians(v) for v in (ra_deg, dec_deg, ra0, dec0)))
    return math.degrees(float(radians)) * 3600.0


def test_a_solved_frame_records_the_solver_its_progress_and_its_hints(
    catalog_store: CatalogStore, tmp_path: Path
):
    path = _frame(tmp_path, **POINTING)
    key = _register(catalog_store, path)
    fingerprint = content_fingerprint(path)
    seen: list[str | None] = []

    def look() -> None:
        row = catalog_store.get_solution(fingerprint)
        seen.append(row.status if row else None)

    solver = FakeSolver(true_wcs(M42), during_solve=look)
    outcome = solve_plate(catalog_store, solver, key)

    assert outcome.status == "ok", outcome.message
    assert seen == ["processing"]  # the solver's own progress, stored under its name
    (call,) = solver.calls
    assert solver.inputs == [path]
    assert (call.image_path, call.width_px, call.height_px) == (path, 1000, 667)
    assert call.hints is not None
    assert call.hints.has_position
    assert call.hints.has_scale
    assert call.resume is None
    solution = catalog_store.get_solution(fingerprint)
    assert solution is not None
    assert solution.status == "solved"
    assert solution.solver == "fake"
    assert solution.geometry is not None
    assert _off_centre_arcsec(solution.geometry.ra_deg, solution.geometry.dec_deg) < 1.0
    assert solution.geometry.pixel_scale_arcsec == pytest.approx(M42.pixel_scale_arcsec)
    assert [a.outcome for a in solution.attempts] == ["solved"]
    assert outcome.metadata["solver"] == "fake"


def test_a_frame_with_its_own_wcs_is_not_given_to_the_solver(tmp_path: Path):
    header = dict(true_wcs(M42).to_header())
    path = _frame(tmp_path, **header)
    solver = FakeSolver(true_wcs(M42))

    solution, frame_type = solve_file(path, solver)

    assert frame_type == "light"
    assert solution.status == "solved"
    assert solution.solver == "header"
    assert solution.geometry is not None
    assert _off_centre_arcsec(solution.geometry.ra_deg, solution.geometry.dec_deg) < 1.0
    assert solver.calls == []


def test_a_header_wcs_off_the_sky_is_solved_instead(tmp_path: Path):
    # An orthographic (SIN) projection at 0.2°/px: the frame's corners, 120° from its centre,
    # lie beyond the projection's horizon (90°), so they have no sky position.
    wcs = true_wcs(M42)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.cd = wcs.wcs.cd / abs(wcs.wcs.cd).max() * 0.2
    path = _frame(tmp_path, **dict(wcs.to_header()))
    solver = FakeSolver(true_wcs(M42))

    solution, _ = solve_file(path, solver)

    assert solution.status == "solved"
    assert solution.solver == "fake"
    assert len(solver.calls) == 1


def test_calibration_frames_are_not_given_to_the_solver(tmp_path: Path):
    path = _frame(tmp_path, IMAGETYP="DARK")
    solver = FakeSolver(true_wcs(M42))
    solution, frame_type = solve_file(path, solver)
    assert (solution.status, frame_type) == ("skipped", "dark")
    assert solver.calls == []


@pytest.mark.parametrize("caller_blind_fallback", [True, False])
def test_the_caller_retries_blind_only_for_a_solver_that_asks_it_to(
    catalog_store: CatalogStore, tmp_path: Path, caller_blind_fallback: bool
):
    key = _register(catalog_store, _frame(tmp_path, **POINTING))
    solver = FakeSolver(true_wcs(M42), caller_blind_fallback=caller_blind_fallback, blind_only=True)

    outcome = solve_plate(catalog_store, solver, key)

    hinted = [call.hints is not None for call in solver.calls]
    attempts = outcome.metadata["attempts"]
    if caller_blind_fallback:
        assert hinted == [True, False]
        assert outcome.status == "ok", outcome.message
        assert [a["outcome"] for a in attempts] == ["no match", "solved"]
        assert outcome.metadata["elapsed_s"] == pytest.approx(2 * FAKE_ELAPSED_S)
        assert "hints_used" not in outcome.metadata  # the blind call found it
    else:
        assert hinted == [True]
        assert outcome.status == "unsolved"  # a result (no solution found), not an error
        assert [a["outcome"] for a in attempts] == ["no match"]
        assert outcome.metadata["elapsed_s"] == pytest.approx(FAKE_ELAPSED_S)


def test_a_job_an_earlier_run_left_waiting_is_handed_back_and_not_retried_blind(
    catalog_store: CatalogStore, tmp_path: Path
):
    path = _frame(tmp_path, **POINTING)
    key = _register(catalog_store, path)
    fingerprint = content_fingerprint(path)
    catalog_store.set_solution_status(
        fingerprint, "processing", "nova", submission_id=41, job_id=42
    )
    waiting = SolveProgress("processing", submission_id=41, job_id=42)
    solver = FakeSolver(None, caller_blind_fallback=True)

    outcome = solve_plate(catalog_store, solver, key)

    assert [call.resume for call in solver.calls] == [waiting]  # one call: no blind upload
    assert outcome.status == "unsolved"

    # Forced, the same waiting job is not resumed: the frame is solved again from the start.
    catalog_store.set_solution_status(
        fingerprint, "processing", "nova", submission_id=41, job_id=42
    )
    forced = FakeSolver(true_wcs(M42), caller_blind_fallback=True)
    assert solve_plate(catalog_store, forced, key, force=True).status == "ok"
    assert [call.resume for call in forced.calls] == [None]


def test_a_solver_that_cannot_run_is_a_recorded_failure_under_its_name(
    catalog_store: CatalogStore, tmp_path: Path
):
    path = _frame(tmp_path, **POINTING)
    key = _register(catalog_store, path)
    solver = FakeSolver(raises=SolverError("the fake engine is not installed"))

    outcome = solve_plate(catalog_store, solver, key)

    assert outcome.status == "error"
    assert outcome.message == "the fake engine is not installed"
    solution = catalog_store.get_solution(content_fingerprint(path))
    assert solution is not None
    assert (solution.status, solution.solver) == ("failed", "fake")


def test_the_none_solver_skips_and_names_no_solver(catalog_store: CatalogStore, tmp_path: Path):
    path = _frame(tmp_path, **POINTING)
    key = _register(catalog_store, path)

    outcome = solve_plate(catalog_store, build_solver("none"), key)

    assert outcome.status == "ok"
    assert outcome.message == NO_SOLVER_MESSAGE
    solution = catalog_store.get_solution(content_fingerprint(path))
    assert solution is not None
    assert (solution.status, solution.solver, solution.error) == (
        "skipped",
        None,
        NO_SOLVER_MESSAGE,
    )
