"""Every WCS passes the Hipparcos check before it is stored (cataloging/solution_check.py):
whatever solver found it, a WCS whose reference stars do not land on the frame's stars is a
recorded failure that says why, and a true one is kept."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import pytest
from astropy.wcs import WCS

from astrocat_pipeline.adapters.catalog import CatalogStore
from astrocat_pipeline.cataloging.solution_check import SolutionChecker
from astrocat_pipeline.cataloging.steps import solve_file, solve_plate
from astrocat_pipeline.core.fingerprint import content_fingerprint
from astrocat_pipeline.core.frame_stars import frame_stars
from astrocat_pipeline.core.star_detect import DetectedStars
from astrocat_pipeline.demo.realistic import CatalogSky, FrameSpec, render_frame, write_fits
from astrocat_pipeline_tests.cataloging.test_steps_solve import _register
from astrocat_pipeline_tests.fakes import FakeSolver

SPEC = FrameSpec(
    ra_deg=250.0, dec_deg=36.0, width_deg=10.0, width_px=1500, height_px=1000, seed=21,
    rotation_deg=75.0, satellite_trails=1,
)  # fmt: skip
REJECTED_TEXT = "solution was rejected (a false solution): the solution's stars do not match"


@pytest.fixture(scope="module")
def checker() -> SolutionChecker:
    return SolutionChecker()


@pytest.fixture(scope="module")
def frame():
    return render_frame(SPEC, CatalogSky(None))


@pytest.fixture(scope="module")
def stars(frame) -> DetectedStars:
    return frame_stars(frame.data)


def _wrong(wcs: WCS) -> WCS:
    """15 px and 2 % off: what the engine's false 40° solution of the corpus was."""
    wrong = copy.deepcopy(wcs)
    wrong.wcs.crpix = wrong.wcs.crpix + np.array([15.0, 0.0])
    wrong.wcs.cd = wrong.wcs.cd * 1.02
    wrong.wcs.set()
    return wrong


def test_a_wrong_wcs_from_any_solver_is_a_failure_that_says_why(
    tmp_path: Path, frame, stars, checker
):
    path = write_fits(frame, tmp_path / "wide.fits")
    solver = FakeSolver(_wrong(frame.wcs), name="nova")
    solution, _ = solve_file(path, solver, stars=stars, checker=checker)
    assert solution.status == "failed"
    assert solution.wcs_header is None
    assert solution.geometry is None
    assert REJECTED_TEXT in (solution.error or "")
    assert "Hipparcos stars found" in (solution.error or "")
    assert solution.attempts[-1].outcome.startswith("rejected: the solution's stars")
    assert solver.verifiers[0] is not None  # the solver was handed the check too


def test_the_true_wcs_is_kept(tmp_path: Path, frame, stars, checker):
    path = write_fits(frame, tmp_path / "wide.fits")
    solution, _ = solve_file(path, FakeSolver(frame.wcs), stars=stars, checker=checker)
    assert solution.status == "solved", solution.error


def test_a_caller_side_blind_retry_follows_a_rejected_hinted_answer(
    tmp_path: Path, frame, stars, checker
):
    """nova-like: the hinted answer is rejected, so the blind upload is tried (and rejected
    too, here: the fake always answers the same wrong WCS)."""
    path = write_fits(frame, tmp_path / "wide.fits")
    solver = FakeSolver(_wrong(frame.wcs), caller_blind_fallback=True)
    solution, _ = solve_file(path, solver, stars=stars, checker=checker)
    assert [call.hints is None for call in solver.calls] == [False, True]
    assert solution.status == "failed"
    assert [a.outcome.split(":")[0] for a in solution.attempts] == ["rejected", "rejected"]


def test_a_wrong_header_wcs_is_not_kept_and_the_frame_is_solved_instead(
    tmp_path: Path, frame, stars, checker
):
    header = frame.header.copy()
    header.update(_wrong(frame.wcs).to_header())
    path = write_fits(dataclasses.replace(frame, header=header), tmp_path / "wide.fits")
    solution, _ = solve_file(path, FakeSolver(frame.wcs), stars=stars, checker=checker)
    assert solution.status == "solved"
    assert solution.solver == "fake"  # not "header"


def test_solve_plate_checks_against_the_stored_star_list(
    catalog_store: CatalogStore, tmp_path: Path, frame, stars, checker
):
    path = write_fits(frame, tmp_path / "wide.fits")
    key = _register(catalog_store, path)
    fingerprint = content_fingerprint(path)
    catalog_store.save_star_list(fingerprint, SPEC.width_px, SPEC.height_px, stars)
    outcome = solve_plate(catalog_store, FakeSolver(_wrong(frame.wcs)), key, checker=checker)
    assert outcome.status == "unsolved"
    assert REJECTED_TEXT in (outcome.message or "")
    stored = catalog_store.get_solution(fingerprint)
    assert stored is not None
    assert stored.status == "failed"
    assert stored.wcs_header is None
