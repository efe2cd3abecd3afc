"""The local solver on realistic frames (demo/realistic.py) with the real astrometry-engine and
Debian's Tycho-2 10-19 index files: Bayer mosaics, never a false solution, the time budget and
the reasons a frame is not solved."""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from astrocat_pipeline.adapters.solvers.local import DEBIAN_INDEX_DIR, LocalSolver
from astrocat_pipeline.adapters.solvers.none import NoSolver
from astrocat_pipeline.cataloging.steps import solve_file
from astrocat_pipeline.core.hints import solve_hints
from astrocat_pipeline.core.loading import read_header
from astrocat_pipeline.core.metadata import normalize_metadata
from astrocat_pipeline.core.records import PlateSolution
from astrocat_pipeline.demo.realistic import (
    CatalogSky,
    FrameSpec,
    SkyStars,
    condition_spec,
    render_frame,
    write_fits,
)
from astrocat_pipeline.settings import Settings
from astrocat_pipeline_tests.defs.conftest import needs_solver

# 4° wide: the 10-19 index files (quads of 1° and more) solve it.
BASE = FrameSpec(
    ra_deg=83.8, dec_deg=-5.4, width_deg=4.0, width_px=1200, height_px=800, seed=11,
    rotation_deg=30.0,
)  # fmt: skip


@pytest.fixture(scope="module")
def sky() -> CatalogSky:
    # The index stars as real stars (they are Tycho-2 stars), on top of Hipparcos.
    return CatalogSky(DEBIAN_INDEX_DIR if DEBIAN_INDEX_DIR.is_dir() else None)


class EmptySky:
    """No catalogue stars: the frame shows only the random faint population, which no index
    file knows (an unsolvable frame that still has hundreds of stars)."""

    def stars(self, ra_deg: float, dec_deg: float, radius_deg: float) -> SkyStars:
        empty = np.zeros(0)
        return SkyStars(empty, empty, empty, empty, np.zeros(0, dtype=bool))

    def density_scale(self, ra_deg: float, dec_deg: float) -> float:
        return 1.0


def _centre_error_arcmin(solution: PlateSolution, spec: FrameSpec) -> float:
    assert solution.geometry is not None
    ra1, dec1, ra2, dec2 = np.radians(
        [solution.geometry.ra_deg, solution.geometry.dec_deg, spec.ra_deg, spec.dec_deg]
    )
    cos = math.sin(dec1) * math.sin(dec2) + math.cos(dec1) * math.cos(dec2) * math.cos(ra1 - ra2)
    return math.degrees(math.acos(min(1.0, cos))) * 60


def _hints(path: Path):
    return solve_hints(normalize_metadata(str(path), read_header(path)))


@needs_solver
@pytest.mark.parametrize(("pattern", "offset"), [("RGGB", (0, 0)), ("GBRG", (1, 1))])
def test_bayer_frames_solve_hinted_and_blind(tmp_path, sky, pattern, offset):
    spec = dataclasses.replace(
        BASE, bayer_pattern=pattern, bayer_offset=offset, filter_name="OSC", satellite_trails=1
    )
    path = write_fits(render_frame(spec, sky), tmp_path / f"osc {pattern}.fits")
    solver = LocalSolver()
    for hints in (_hints(path), None):
        solution = solver.solve(path, spec.width_px, spec.height_px, hints)
        assert solution.status == "solved", solution.error
        assert _centre_error_arcmin(solution, spec) < 1.0


@needs_solver
def test_hints_that_disagree_with_the_sky_give_a_failure_that_says_why(tmp_path, sky):
    # The mount says 8° north of where the frame really is: the hinted search finds nothing,
    # the blind one finds the real field, and that disagrees with the header: no solution.
    spec = dataclasses.replace(BASE, hint_offset_deg=(0.0, 8.0))
    path = write_fits(render_frame(spec, sky), tmp_path / "wrong pointing.fits")
    solution, _ = solve_file(path, LocalSolver(budget_s=6.0))
    assert solution.status == "failed"
    assert solution.geometry is None
    assert solution.wcs_header is None
    assert solution.error is not None
    assert "disagrees with the header's hints: centre 8" in solution.error
    assert [a.outcome.split(":")[0] for a in solution.attempts][-1] == "rejected"


def _with_header_wcs(path: Path, ra_deg: float, dec_deg: float, spec: FrameSpec) -> None:
    """Add a TAN WCS centred on (ra, dec) to the frame's header, in place (a test file)."""
    with fits.open(path, mode="update") as hdus:
        header = hdus[0].header
        scale = spec.pixel_scale_arcsec / 3600
        for key, value in {
            "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": ra_deg, "CRVAL2": dec_deg,
            "CRPIX1": spec.width_px / 2, "CRPIX2": spec.height_px / 2, "CD1_1": -scale,
            "CD1_2": 0.0, "CD2_1": 0.0, "CD2_2": -scale,
        }.items():  # fmt: skip
            header[key] = value


@needs_solver
def test_a_header_wcs_that_disagrees_with_the_hints_is_not_taken(tmp_path, sky):
    path = write_fits(render_frame(BASE, sky), tmp_path / "bad wcs.fits")
    _with_header_wcs(path, BASE.ra_deg + 20.0, BASE.dec_deg, BASE)
    # Without a solver: a failure that names the header WCS's problem.
    solution, _ = solve_file(path, NoSolver())
    assert solution.status != "solved"
    assert solution.error is not None
    assert "its header WCS disagrees with its hints" in solution.error
    # With one: the frame is solved instead, where it really is.
    solution, _ = solve_file(path, LocalSolver())
    assert solution.status == "solved", solution.error
    assert solution.solver == "local"
    assert _centre_error_arcmin(solution, BASE) < 1.0


def test_a_header_wcs_that_agrees_is_taken_as_it_is(tmp_path, sky):
    path = write_fits(render_frame(BASE, sky), tmp_path / "good wcs.fits")
    _with_header_wcs(path, BASE.ra_deg, BASE.dec_deg, BASE)
    solution, _ = solve_file(path, NoSolver())
    assert solution.status == "solved"
    assert solution.solver == "header"


@needs_solver
def test_an_unsolvable_frame_gives_up_within_its_budget_and_says_so(tmp_path):
    spec = dataclasses.replace(BASE, limiting_mag=13.5)
    path = write_fits(render_frame(spec, EmptySky()), tmp_path / "no catalogue star.fits")
    solver = LocalSolver(budget_s=3.0)
    started = time.monotonic()
    solution = solver.solve(path, spec.width_px, spec.height_px, _hints(path))
    wall_s = time.monotonic() - started
    assert solution.status == "failed"
    assert solution.error is not None
    assert "hinted (" in solution.error
    assert "blind: " in solution.error
    # CPU budget 3 s; the wall clock allows the engine's overshoot and a busy machine.
    assert wall_s < 3.0 * 3.0 + 3.0
    assert sum(a.elapsed_s for a in solution.attempts) <= wall_s


def test_the_default_budget_is_ten_seconds_of_one_core():
    assert LocalSolver().budget_s == 10.0
    assert Settings.from_env(environ={}).solve_budget_s == 10.0
    assert Settings.from_env(environ={"ASTROCAT_SOLVE_BUDGET_S": "4.5"}).solve_budget_s == 4.5


def index_files_10_to_19(tmp_path: Path) -> Path:
    """A folder with Debian's Tycho-2 index files 10-19 only (what scripts/setup installs
    without the narrow-field option), whatever else the machine has."""
    index_dir = tmp_path / "index 10-19"
    index_dir.mkdir()
    for index in sorted(DEBIAN_INDEX_DIR.glob("index-tycho2-1[0-9]*.fits")):
        (index_dir / index.name).symlink_to(index)
    return index_dir


@needs_solver
def test_too_few_stars_fails_at_once(tmp_path):
    spec = dataclasses.replace(
        condition_spec(BASE, "short_exposure"), limiting_mag=6.0, width_px=400, height_px=300
    )
    path = write_fits(render_frame(spec, EmptySky()), tmp_path / "twilight.fits")
    solution = LocalSolver().solve(path, spec.width_px, spec.height_px, _hints(path))
    assert solution.status == "failed"
    assert solution.error is not None
    assert "too few stars (" in solution.error
    assert solution.attempts == ()


@needs_solver
def test_a_field_too_narrow_for_the_index_files_fails_fast_and_says_so(tmp_path, sky):
    # 0.3° is narrower than any Tycho-2 index solves; with 10-19 only, anything under ~1°.
    index_dir = index_files_10_to_19(tmp_path)
    spec = dataclasses.replace(BASE, width_deg=0.3)
    path = write_fits(render_frame(spec, sky), tmp_path / "narrow.fits")
    started = time.monotonic()
    solution = LocalSolver(index_dir=index_dir).solve(
        path, spec.width_px, spec.height_px, _hints(path)
    )
    assert time.monotonic() - started < 3.0
    assert solution.status == "failed"
    assert solution.error is not None
    assert "no index for its scale" in solution.error
    assert [a.outcome for a in solution.attempts] == ["no index for its scale"]


@needs_solver
def test_a_field_too_narrow_goes_to_nova_when_a_key_is_set(tmp_path, sky):
    from astrocat_pipeline.adapters.solvers.narrow import LocalWithNovaForNarrowFields
    from astrocat_pipeline.adapters.solvers.nova import NovaSolver
    from astrocat_pipeline_tests.adapters.solvers.nova_double import NovaDouble, wcs_file_bytes

    index_dir = index_files_10_to_19(tmp_path)
    spec = dataclasses.replace(BASE, width_deg=0.3)
    path = write_fits(render_frame(spec, sky), tmp_path / "narrow.fits")
    wcs = wcs_file_bytes(
        spec.ra_deg, spec.dec_deg, spec.pixel_scale_arcsec, 30.0, spec.width_px, spec.height_px
    )
    with NovaDouble(api_key="novaKEY-narrow", wcs_file=wcs) as double:
        nova = NovaSolver(double.api_url, "novaKEY-narrow", poll_interval_s=0.05)
        solver = LocalWithNovaForNarrowFields(LocalSolver(index_dir=index_dir), nova)
        try:
            solution = solver.solve(path, spec.width_px, spec.height_px, _hints(path))
        finally:
            solver.close()
        assert double.request_count("upload") == 1
    assert solution.status == "solved", solution.error
    assert solution.solver == "nova"
    assert solution.attempts[0].outcome == "no index for its scale"
    assert _centre_error_arcmin(solution, spec) < 1.0
    # A field the local index files do cover never reaches nova.
    with NovaDouble(api_key="novaKEY-narrow", wcs_file=wcs) as double:
        nova = NovaSolver(double.api_url, "novaKEY-narrow", poll_interval_s=0.05)
        solver = LocalWithNovaForNarrowFields(LocalSolver(index_dir=index_dir), nova)
        wide = write_fits(render_frame(BASE, sky), tmp_path / "wide.fits")
        try:
            solution = solver.solve(wide, BASE.width_px, BASE.height_px, _hints(wide))
        finally:
            solver.close()
        assert double.request_count("upload") == 0
    assert solution.solver == "local"


@needs_solver
def test_a_narrow_fields_nova_job_is_recorded_as_novas_and_resumed_not_uploaded_again(
    tmp_path, sky
):
    from astrocat_pipeline.adapters.solvers.base import SolveProgress
    from astrocat_pipeline.adapters.solvers.narrow import LocalWithNovaForNarrowFields
    from astrocat_pipeline.adapters.solvers.nova import NovaSolver
    from astrocat_pipeline_tests.adapters.solvers.nova_double import NovaDouble, wcs_file_bytes

    index_dir = index_files_10_to_19(tmp_path)
    spec = dataclasses.replace(BASE, width_deg=0.3)
    path = write_fits(render_frame(spec, sky), tmp_path / "narrow.fits")
    wcs = wcs_file_bytes(
        spec.ra_deg, spec.dec_deg, spec.pixel_scale_arcsec, 30.0, spec.width_px, spec.height_px
    )

    class Crash(Exception):  # noqa: N818 (stands in for a killed run)
        pass

    recorded: list[SolveProgress] = []

    def crash_once_nova_has_a_job(progress: SolveProgress) -> None:
        recorded.append(progress)
        if progress.job_id is not None:
            raise Crash

    with NovaDouble(api_key="novaKEY-narrow", wcs_file=wcs, solving_polls=2) as double:
        nova = NovaSolver(double.api_url, "novaKEY-narrow", poll_interval_s=0.05)
        solver = LocalWithNovaForNarrowFields(LocalSolver(index_dir=index_dir), nova)
        try:
            with pytest.raises(Crash):
                solver.solve(
                    path,
                    spec.width_px,
                    spec.height_px,
                    _hints(path),
                    on_progress=crash_once_nova_has_a_job,
                )
            waiting = recorded[-1]
            # What the catalog records is nova's job, under nova's name: resumable.
            assert waiting.solver == "nova"
            assert waiting.job_id is not None
            solution = solver.solve(
                path, spec.width_px, spec.height_px, _hints(path), resume=waiting
            )
        finally:
            solver.close()
        assert double.request_count("upload") == 1
    assert solution.status == "solved", solution.error
    assert solution.solver == "nova"


def _cpu_s() -> float:
    """CPU seconds of this process and its reaped children (the engine runs)."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


@needs_solver
def test_an_unsolvable_frame_stays_within_its_cpu_budget_hinted_and_blind_together(tmp_path):
    """Issue 19: an unsolvable frame gives up within the budget of one core (loading, star
    finding and both searches), and the failure says there was no match."""
    spec = dataclasses.replace(BASE, limiting_mag=13.5)
    path = write_fits(render_frame(spec, EmptySky()), tmp_path / "no catalogue star.fits")
    hints = _hints(path)
    solver = LocalSolver(budget_s=3.0)
    before = _cpu_s()
    solution = solver.solve(path, spec.width_px, spec.height_px, hints)
    spent = _cpu_s() - before
    assert solution.status == "failed"
    assert spent <= 3.0, f"{spent:.2f} s of CPU for a 3 s budget"
    assert spent >= 2.0  # it did search
    assert "no match within its" in (solution.error or "")
    assert "of the 3 s CPU budget" in (solution.error or "")
