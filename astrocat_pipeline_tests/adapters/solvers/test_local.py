"""LocalSolver against the real astrometry.net engine (installed with solve-field) and Tycho-2
index files, on real-sky synthetic fields.

The synthetic samples carry no WCS; their true one is in ``*.truth.json`` (FITS keywords, FITS
1-based pixels). Each solve takes well under a second (more on a busy machine).
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from astropy.coordinates import angular_separation
from astropy.io import fits
from astropy.wcs import WCS

from astrocat_pipeline.adapters.solvers import local
from astrocat_pipeline.adapters.solvers.blind_plan import BlindPass
from astrocat_pipeline.adapters.solvers.local import DEBIAN_INDEX_DIR, LocalSolver
from astrocat_pipeline.core.errors import ImageReadError, SolverError
from astrocat_pipeline.core.frame_stars import frame_stars
from astrocat_pipeline.core.loading import load_image
from astrocat_pipeline.core.records import PlateSolution, SolveHints
from astrocat_pipeline.core.star_detect import DetectedStars
from astrocat_pipeline.core.wcs_geometry import field_geometry, wcs_from_header_text
from astrocat_pipeline_tests.samples import SAMPLES

SYNTHETIC = SAMPLES / "synthetic"
F = TypeVar("F", bound=Callable[..., Any])


def needs_solver(test: F) -> F:
    """Mark a test as running the real solve-field, skipped (with the reason) without it."""
    skip = pytest.mark.skipif(
        shutil.which("solve-field") is None,
        reason="astrometry.net solve-field is not on PATH (apt-get install astrometry.net "
        "astrometry-data-tycho2-10-19-littleendian)",
    )
    return pytest.mark.solver(skip(test))  # type: ignore[no-any-return]


# --- helpers ------------------------------------------------------------------------------


class Truth:
    """A synthetic sample, its size and its true WCS (evaluated without our geometry code)."""

    def __init__(self, name: str) -> None:
        self.path = SYNTHETIC / f"{name}.fits.gz"
        truth_path = SYNTHETIC / f"{name}.truth.json"
        if not self.path.is_file() or not truth_path.is_file():
            pytest.skip(f"synthetic sample {self.path} or its truth file is missing")
        data = json.loads(truth_path.read_text(encoding="utf-8"))
        self.width_px: int = data["w"]
        self.height_px: int = data["h"]
        header = fits.Header()
        for key, value in data["wcs"].items():
            header[key] = value
        self.wcs = WCS(header)
        centre = self.wcs.pixel_to_world_values((self.width_px - 1) / 2, (self.height_px - 1) / 2)
        self.ra_deg, self.dec_deg = float(centre[0]), float(centre[1])
        cd = self.wcs.pixel_scale_matrix  # CD = CDELT * PC; exact at CRPIX, the frame centre
        self.scale_arcsec = math.sqrt(abs(np.linalg.det(cd))) * 3600
        # Position angle of +y east of north: the (east, north) components of the +y column.
        self.rotation_deg = math.degrees(math.atan2(cd[0, 1], cd[1, 1])) % 360

    def hints(self, radius_deg: float = 2.0) -> SolveHints:
        return SolveHints(
            scale_low_arcsec=self.scale_arcsec * 0.8,
            scale_high_arcsec=self.scale_arcsec * 1.2,
            ra_deg=self.ra_deg + 0.3,  # a mount's pointing is never exact
            dec_deg=self.dec_deg - 0.2 if self.dec_deg > 0 else self.dec_deg + 0.2,
            radius_deg=radius_deg,
        )


def angle_diff_deg(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def sep_deg(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    return math.degrees(float(angular_separation(*np.radians([ra1, dec1, ra2, dec2]))))


def assert_matches_truth(solution: PlateSolution, truth: Truth) -> None:
    assert solution.status == "solved", solution.error
    assert solution.solver == "local"
    assert solution.error is None
    geometry = solution.geometry
    assert geometry is not None
    assert sep_deg(geometry.ra_deg, geometry.dec_deg, truth.ra_deg, truth.dec_deg) < 1 / 60
    assert geometry.pixel_scale_arcsec == pytest.approx(truth.scale_arcsec, rel=0.01)
    assert angle_diff_deg(geometry.rotation_deg, truth.rotation_deg) < 0.5
    assert geometry.parity == "normal"
    # The stored WCS text gives the same geometry back.
    assert solution.wcs_header is not None
    again = field_geometry(
        wcs_from_header_text(solution.wcs_header), truth.width_px, truth.height_px
    )
    assert sep_deg(again.ra_deg, again.dec_deg, geometry.ra_deg, geometry.dec_deg) < 1e-6
    assert solution.elapsed_s is not None
    assert solution.elapsed_s > 0


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in directory.iterdir()}


def live_processes_mentioning(text: str) -> list[str]:
    """Command lines of running (not zombie) processes whose arguments contain ``text``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue  # exited while we looked
        if text in cmdline and state != "Z":
            found.append(cmdline)
    return found


@pytest.fixture
def shared_synthetic_unchanged() -> Any:
    """Fails the test if the shared sample folder gained or changed a file."""
    if not SYNTHETIC.is_dir():
        pytest.skip(f"synthetic samples not found at {SYNTHETIC}")
    before = snapshot(SYNTHETIC)
    yield
    assert snapshot(SYNTHETIC) == before


# --- solving the samples ------------------------------------------------------------------


@needs_solver
@pytest.mark.samples
@pytest.mark.usefixtures("shared_synthetic_unchanged")
def test_hinted_solve():
    truth = Truth("m31_3deg")
    hints = truth.hints()
    solution = LocalSolver().solve(truth.path, truth.width_px, truth.height_px, hints)
    assert_matches_truth(solution, truth)
    assert solution.hints_used == hints


@needs_solver
@pytest.mark.samples
@pytest.mark.usefixtures("shared_synthetic_unchanged")
def test_blind_solve():
    truth = Truth("m31_3deg")
    solution = LocalSolver().solve(truth.path, truth.width_px, truth.height_px, None)
    assert_matches_truth(solution, truth)
    assert solution.hints_used is None


@needs_solver
@pytest.mark.samples
def test_field_across_ra_zero():
    truth = Truth("ra0_3deg")
    solution = LocalSolver().solve(truth.path, truth.width_px, truth.height_px, truth.hints())
    assert_matches_truth(solution, truth)
    assert solution.geometry is not None
    ras = sorted(ra for ra, _ in solution.geometry.corners_deg)
    assert ras[0] < 3.0
    assert ras[-1] > 357.0
    assert solution.geometry.radius_deg < 2.0


@needs_solver
@pytest.mark.samples
def test_field_around_the_pole_blind():
    truth = Truth("pole89_3deg")
    solution = LocalSolver().solve(truth.path, truth.width_px, truth.height_px, None)
    assert_matches_truth(solution, truth)
    assert solution.wcs_header is not None
    wcs = wcs_from_header_text(solution.wcs_header)
    pole_x, pole_y = wcs.world_to_pixel_values(0.0, 90.0)
    assert -0.5 < pole_x < truth.width_px - 0.5
    assert -0.5 < pole_y < truth.height_px - 0.5


WRONG_HINTS = SolveHints(
    # A wrong scale fails fast (no index fits a 0.1"/px field); a wrong position with the right
    # scale also fails, but only after solve-field's CPU limit.
    scale_low_arcsec=0.1,
    scale_high_arcsec=0.2,
    ra_deg=200.0,
    dec_deg=-30.0,
    radius_deg=2.0,
)


@needs_solver
@pytest.mark.samples
def test_wrong_hint_is_never_a_solution():
    # The hinted scale fits no index (a quick miss) and no blind search follows: the frame's
    # scale is known. Had a blind run solved it, 200°/-30° would reject the match anyway.
    truth = Truth("ra0_3deg")
    solution = LocalSolver().solve(truth.path, truth.width_px, truth.height_px, WRONG_HINTS)
    assert solution.status == "failed"
    assert solution.geometry is None
    assert solution.wcs_header is None
    assert solution.error is not None
    assert "no index for its scale" in solution.error
    assert [a.outcome for a in solution.attempts] == ["no index for its scale"]


@needs_solver
@pytest.mark.samples
def test_wrong_scale_falls_back_to_blind_and_the_right_position_keeps_it():
    truth = Truth("ra0_3deg")
    hints = dataclasses.replace(
        truth.hints(),
        scale_low_arcsec=truth.scale_arcsec * 2.5,
        scale_high_arcsec=truth.scale_arcsec * 3.0,
    )
    solution = LocalSolver().solve(truth.path, truth.width_px, truth.height_px, hints)
    assert_matches_truth(solution, truth)
    assert solution.hints_used is None  # the blind attempt is the one that solved
    assert [a.outcome for a in solution.attempts][-1] == "solved"


@needs_solver
@pytest.mark.samples
def test_a_blind_match_far_from_the_hinted_position_is_rejected():
    # A mount that says 200°/-30° while the frame is at RA 0: the hinted search finds nothing
    # there, the blind one finds the real field, and it disagrees with the header: a failure.
    truth = Truth("ra0_3deg")
    hints = dataclasses.replace(truth.hints(), ra_deg=200.0, dec_deg=-30.0, radius_deg=2.0)
    solution = LocalSolver(budget_s=20.0).solve(truth.path, truth.width_px, truth.height_px, hints)
    assert solution.status == "failed"
    assert solution.geometry is None
    assert solution.wcs_header is None
    assert solution.error is not None
    assert "a match was rejected (disagrees with the header's hints: centre" in solution.error
    assert solution.attempts[-1].hints is None
    assert solution.attempts[-1].outcome.startswith("rejected: disagrees")


@needs_solver
@pytest.mark.samples
def test_wrong_hint_without_fallback_fails_and_says_what_was_tried():
    truth = Truth("ra0_3deg")
    solver = LocalSolver(blind_fallback=False)
    solution = solver.solve(truth.path, truth.width_px, truth.height_px, WRONG_HINTS)
    assert solution.status == "failed"
    assert solution.geometry is None
    assert solution.wcs_header is None
    assert solution.hints_used == WRONG_HINTS
    assert solution.error is not None
    assert "ra0_3deg.fits.gz" in solution.error
    assert 'hinted (scale 0.1–0.2"/px, 2.0° around 200.00 -30.00): no index for its scale' in (
        solution.error
    )
    assert "blind" not in solution.error


@needs_solver
@pytest.mark.samples
def test_awkward_file_name_and_index_dir_leave_the_source_folder_alone(tmp_path):
    truth = Truth("ra0_3deg")
    source_dir = tmp_path / "night 1, 'M31' \"test\""
    source_dir.mkdir()
    image = source_dir / "ra0 ★ $HOME; `x` ü, 'q' \"d\" -v.fits.gz"
    shutil.copyfile(truth.path, image)
    # An index directory elsewhere (as ASTROMETRY_INDEX_DIR may say), with a space and unicode.
    index_dir = tmp_path / "index files ü"
    index_dir.mkdir()
    for index in sorted(DEBIAN_INDEX_DIR.glob("index-*.fits")):
        (index_dir / index.name).symlink_to(index)
    if not any(index_dir.iterdir()):
        pytest.skip(f"no index files in {DEBIAN_INDEX_DIR} to link")
    before = snapshot(source_dir)

    solution = LocalSolver(index_dir=index_dir).solve(
        image, truth.width_px, truth.height_px, truth.hints()
    )

    assert_matches_truth(solution, truth)
    assert snapshot(source_dir) == before


# --- timeouts and errors ------------------------------------------------------------------


WRONG_POSITION = SolveHints(
    scale_low_arcsec=5.76, scale_high_arcsec=8.64, ra_deg=200.0, dec_deg=-30.0, radius_deg=2.0
)


@needs_solver
@pytest.mark.samples
@pytest.mark.parametrize(
    "timeout_s",
    [
        # Killed while astrometry-engine starts up (reads its configuration and index files).
        pytest.param(0.01, id="start-up"),
        # Killed while it searches: the right scale at the wrong place keeps it busy until its
        # CPU limit (30 s).
        pytest.param(2.0, id="search"),
    ],
)
def test_timeout_kills_every_process_and_reports(tmp_path, monkeypatch, timeout_s):
    truth = Truth("m31_3deg")
    work_root = tmp_path / "work"
    work_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(work_root))  # the solver's temp dirs go here
    solver = LocalSolver(timeout_s=timeout_s, blind_fallback=False)

    solution = solver.solve(truth.path, truth.width_px, truth.height_px, WRONG_POSITION)

    assert solution.status == "failed"
    assert solution.error is not None
    assert f"around 200.00 -30.00): timed out after {timeout_s:g} s" in solution.error
    assert solution.elapsed_s is not None
    assert timeout_s <= solution.elapsed_s < timeout_s + 10
    assert solution.attempts[0].outcome == "timed out"
    assert live_processes_mentioning(str(work_root)) == []
    assert list(work_root.iterdir()) == []  # the temporary directory is gone too


@needs_solver
@pytest.mark.samples
def test_hinted_timeout_then_blind_timeout_are_both_reported():
    truth = Truth("m31_3deg")
    # 0.01 s is less than the engine needs to start, let alone search every index blind.
    solution = LocalSolver(timeout_s=0.01).solve(
        truth.path, truth.width_px, truth.height_px, WRONG_POSITION
    )
    assert solution.status == "failed"
    assert solution.error is not None
    assert "hinted (scale" in solution.error
    assert "-30.00): timed out after 0.01 s" in solution.error
    # The blind search's two passes (blind_plan.py) were each killed after 0.01 s.
    assert "blind: timed out after 0.02 s" in solution.error
    assert [a.outcome for a in solution.attempts] == ["timed out", "timed out"]


@needs_solver
def test_unreadable_image_is_an_error_naming_it(tmp_path):
    bogus = tmp_path / "not really.fits"
    bogus.write_text("this is not a FITS file\n")
    with pytest.raises(ImageReadError, match=r"not really\.fits: not a readable FITS file"):
        LocalSolver().solve(bogus, 100, 100, None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not really.fits"]


@needs_solver
def test_empty_index_dir_is_not_available(tmp_path):
    solver = LocalSolver(index_dir=tmp_path)
    assert not solver.available()
    with pytest.raises(SolverError, match=r"no astrometry\.net index files"):
        solver.solve(tmp_path / "x.fits", 100, 100, None)


@needs_solver
def test_installed_solver_is_available():
    if not any(DEBIAN_INDEX_DIR.glob("index-*.fits")):
        pytest.skip(f"no index files in {DEBIAN_INDEX_DIR}")
    assert LocalSolver().available()
    assert LocalSolver(index_dir=DEBIAN_INDEX_DIR).available()


def test_missing_executable_is_not_available(tmp_path):
    solver = LocalSolver(executable="astrocat-no-such-astrometry-engine")
    assert not solver.available()
    with pytest.raises(SolverError, match="not on PATH"):
        solver.solve(tmp_path / "x.fits", 100, 100, None)


@needs_solver
def test_missing_image_raises_file_not_found(tmp_path):
    if not LocalSolver().available():
        pytest.skip("no index files installed")
    with pytest.raises(FileNotFoundError, match="not found"):
        LocalSolver().solve(tmp_path / "gone.fits", 100, 100, None)


@needs_solver
@pytest.mark.samples
def test_frame_size_mismatch_is_an_error():
    """The loaded image must be the frame the caller describes."""
    truth = Truth("ra0_3deg")
    with pytest.raises(SolverError, match="1500x1000 px image but the frame is 3000x2000"):
        LocalSolver().solve(truth.path, 3000, 2000, None)


@needs_solver
@pytest.mark.samples
def test_big_frame_is_binned_for_detection_and_solved_in_its_own_pixels(tmp_path):
    """A frame over SOLVER_DETECT_MAX_PIXELS: stars are found on 2×2 block means, yet the
    solution (centre, scale, every corner) refers to the full-size frame."""
    truth = Truth("ra0_3deg")
    data = fits.getdata(truth.path)
    big = np.repeat(np.repeat(data, 2, axis=0), 2, axis=1)  # 3000x2000, 2× finer pixels
    path = tmp_path / "big.fits"
    fits.PrimaryHDU(big).writeto(path)
    height, width = big.shape
    hints = truth.hints()
    hints = SolveHints(
        hints.scale_low_arcsec / 2, hints.scale_high_arcsec / 2, *dataclasses.astuple(hints)[2:]
    )
    solution = LocalSolver().solve(path, width, height, hints)
    assert solution.status == "solved", solution.error
    geometry = solution.geometry
    assert geometry is not None
    assert geometry.pixel_scale_arcsec == pytest.approx(truth.scale_arcsec / 2, rel=0.01)
    assert sep_deg(geometry.ra_deg, geometry.dec_deg, truth.ra_deg, truth.dec_deg) < 1 / 60
    # Big pixel (x, y) covers small pixels 2x..2x+1: its centre is small pixel 2x + 0.5.
    assert solution.wcs_header is not None
    solved = wcs_from_header_text(solution.wcs_header)
    for x_px, y_px in ((0.0, 0.0), (width - 1.0, height - 1.0), (0.0, height - 1.0)):
        ra, dec = solved.pixel_to_world_values(x_px, y_px)
        ra_true, dec_true = truth.wcs.pixel_to_world_values((x_px - 0.5) / 2, (y_px - 0.5) / 2)
        assert sep_deg(float(ra), float(dec), float(ra_true), float(dec_true)) < 30 / 3600


def test_job_file_says_what_solve_field_would(tmp_path, monkeypatch):
    """The engine's job: solve-field's options (--crpix-center, --no-tweak, hints, CPU limit) as
    its augment-xylist step writes them, 1-based star positions, and a configuration listing
    the index files the engine would search, smallest quads first."""
    index_dir = tmp_path / "idx"
    index_dir.mkdir()
    for number, (low_deg, high_deg) in enumerate([(4.0, 6.0), (1.0, 1.4), (30.0, 42.0)]):
        header = fits.Header()
        header["SCALE_L"] = math.radians(low_deg)
        header["SCALE_U"] = math.radians(high_deg)
        fits.PrimaryHDU(header=header).writeto(index_dir / f"index-{number}.fits")
    solver = LocalSolver(index_dir=index_dir, cpu_limit_s=12.5)
    stars = DetectedStars(np.array([10.0, 0.0]), np.array([20.0, 5.5]), np.array([9.0, 3.0]))
    # 1000x667 px at 10-15"/px: quads of 0.19°-4.0°, so the 1°-1.4° and 4°-6° indexes.
    hints = SolveHints(10.0, 15.0, 10.68, -41.27, 3.6)
    out = tmp_path / "job"
    out.mkdir()
    config, job = solver._write_job(
        out,
        solver._indexes_for(solver.index_files(), (1000, 667), hints),
        stars,
        (1000, 667),
        hints,
        solver.cpu_limit_s,
    )

    lines = config.read_text(encoding="utf-8").splitlines()
    assert lines == [
        "cpulimit 13",
        f"index {(index_dir / 'index-1.fits').resolve()}",
        f"index {(index_dir / 'index-0.fits').resolve()}",
    ]
    with fits.open(job) as hdus:
        header = hdus[0].header
        for key, value in {
            "IMAGEW": 1000, "IMAGEH": 667, "ANRUN": True, "ANCLIM": 13, "ANCRPIXC": True,
            "ANTWEAK": False, "ANAPPL1": 10.0, "ANAPPU1": 15.0, "ANERA": 10.68,
            "ANEDEC": -41.27, "ANERAD": 3.6, "ANWCS": "job.wcs", "ANSOLVED": "job.solved",
            "ANMATCH": "job.match",
        }.items():  # fmt: skip
            assert header[key] == value, key
        table = hdus[1].data
        assert list(table["X"]) == [11.0, 1.0]
        assert list(table["Y"]) == [21.0, 6.5]
        assert list(table["FLUX"]) == [9.0, 3.0]

    blind = tmp_path / "blind"
    blind.mkdir()
    config, job = solver._write_job(
        blind,
        solver._indexes_for(solver.index_files(), (1000, 667), None),
        stars,
        (1000, 667),
        None,
        solver.cpu_limit_s,
    )
    lines = config.read_text(encoding="utf-8").splitlines()
    assert lines[:2] == ["cpulimit 13", "inparallel"]
    assert [line.rsplit("/", 1)[-1] for line in lines[2:]] == [
        "index-1.fits",
        "index-0.fits",
        "index-2.fits",
    ]
    header = fits.getheader(job)
    assert "ANAPPL1" not in header
    assert "ANERA" not in header

    # An index set too big to hold in memory at once is searched one file after the other.
    monkeypatch.setattr(local, "SOLVER_PARALLEL_INDEX_MAX_BYTES", 1000)
    big = tmp_path / "big"
    big.mkdir()
    config, _ = solver._write_job(
        big,
        solver._indexes_for(solver.index_files(), (1000, 667), None),
        stars,
        (1000, 667),
        None,
        solver.cpu_limit_s,
    )
    assert "inparallel" not in config.read_text(encoding="utf-8").splitlines()


def test_a_blind_pass_writes_its_code_tolerance(tmp_path):
    """A pass of a blind search (blind_plan.py) with a code tolerance of its own hands it to
    the engine (ANCTOL, solve-field's --code-tolerance); the default pass writes none."""
    solver = LocalSolver(index_dir=tmp_path)
    stars = DetectedStars(np.arange(25.0), np.arange(25.0), np.arange(25.0, 0.0, -1.0))
    tight, default = tmp_path / "tight", tmp_path / "default"
    tight.mkdir()
    default.mkdir()
    _, job = solver._write_job(tight, [], stars, (1000, 667), None, 5.0, BlindPass(0.004, 0.5))
    assert fits.getheader(job)["ANCTOL"] == 0.004
    _, job = solver._write_job(default, [], stars, (1000, 667), None, 5.0, BlindPass(None, 1.0))
    assert "ANCTOL" not in fits.getheader(job)


def test_a_scale_no_index_covers_is_a_quick_no_match(tmp_path):
    index_dir = tmp_path / "idx"
    index_dir.mkdir()
    header = fits.Header()
    header["SCALE_L"], header["SCALE_U"] = math.radians(1.0), math.radians(1.4)
    fits.PrimaryHDU(header=header).writeto(index_dir / "index-10.fits")
    solver = LocalSolver(index_dir=index_dir)
    assert solver._indexes_for(solver.index_files(), (1000, 667), WRONG_HINTS) == []
    assert len(solver._indexes_for(solver.index_files(), (1000, 667), None)) == 1


@pytest.mark.parametrize(
    ("hints", "expected"),
    [
        (None, None),
        (SolveHints(), None),
        (SolveHints(scale_low_arcsec=5.0), None),  # half a scale
        (SolveHints(ra_deg=10.0, dec_deg=20.0), None),  # no radius
        (SolveHints(8.0, 5.0), None),  # bounds the wrong way round
        (SolveHints(ra_deg=10.0, dec_deg=95.0, radius_deg=2.0), None),
        (SolveHints(5.0, 8.0, 10.0, 95.0, 2.0), SolveHints(5.0, 8.0)),
        (SolveHints(None, 8.0, 370.0, 20.0, 2.0), SolveHints(None, None, 10.0, 20.0, 2.0)),
    ],
)
def test_only_usable_hints_reach_solve_field(hints, expected):
    from astrocat_pipeline.core.hints import usable_hints

    assert usable_hints(hints) == expected


def test_the_solve_budget_counts_only_its_own_thread_and_engine():
    # Files are solved in worker threads at the same time: another thread's work (its star
    # finding, its engine) must not use this solve's budget.
    import threading

    from astrocat_pipeline.adapters.solvers import local

    clock = local._CpuClock()

    def burn() -> None:
        deadline = time.thread_time() + 0.5
        while time.thread_time() < deadline:
            pass

    other = threading.Thread(target=burn)
    other.start()
    other.join()
    assert clock.spent_s() < 0.2
    clock.add_engine(1.5)
    assert 1.5 <= clock.spent_s() < 1.7


def test_the_wait_ends_when_the_engine_exits_not_at_the_next_poll(monkeypatch):
    # A hinted search often ends within the CPU poll's period: the wait wakes on the exit
    # itself (Linux's pidfd), not at the poll's next tick.
    import subprocess
    import sys

    monkeypatch.setattr(local, "_CPU_POLL_S", 30.0)
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    started = time.monotonic()
    returncode, cpu_s = local._wait(process, wall_s=120.0, cpu_s=60.0)
    assert returncode == 0
    assert 0.0 <= cpu_s < 5.0
    assert time.monotonic() - started < 15.0  # a sleep of the poll's period would take 30 s


def test_the_wait_still_stops_an_engine_at_its_cpu_budget():
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        returncode, cpu_s = local._wait(process, wall_s=60.0, cpu_s=0.3)
    finally:
        process.kill()
        process.wait()
    assert returncode is None
    assert cpu_s >= 0.3


@needs_solver
@pytest.mark.samples
@pytest.mark.usefixtures("shared_synthetic_unchanged")
def test_a_given_star_list_is_solved_without_reading_the_image(tmp_path):
    # The stars the indexing found in the frame (one read, stored with the catalog), handed to
    # the solver with a copy of the frame whose pixels are blank: solved from the list alone.
    truth = Truth("m31_3deg")
    data, _ = load_image(truth.path)
    stars = frame_stars(data)
    blank = tmp_path / "blank.fits"
    fits.PrimaryHDU(np.zeros_like(data)).writeto(blank)

    solution = LocalSolver().solve(
        blank, truth.width_px, truth.height_px, truth.hints(), stars=stars
    )

    assert_matches_truth(solution, truth)
    without = LocalSolver(blind_fallback=False).solve(
        blank, truth.width_px, truth.height_px, truth.hints()
    )
    assert without.status == "failed"  # the blank pixels alone hold no stars


def test_a_blind_search_runs_its_passes_with_their_shares_until_one_matches(tmp_path, monkeypatch):
    """Blind: the tight-tolerance pass with its share of the budget, then the default pass with
    what is left; a pass that matches ends the search (blind_plan.py)."""
    solver = LocalSolver(index_dir=tmp_path)
    calls: list[tuple[float | None, float]] = []
    matched_on = {"pass": 2}
    run = LocalSolver._run

    def fake_run(self, executable, index_files, stars, out, size_px, hints, allowed_s, clock=None,
                 blind_pass=None):  # fmt: skip
        if blind_pass is None:
            return run(self, executable, index_files, stars, out, size_px, hints, allowed_s, clock)
        calls.append((blind_pass.code_tolerance, allowed_s))
        clock.add_engine(allowed_s)  # spends its whole share
        header = fits.Header() if len(calls) == matched_on["pass"] else None
        return local._Attempt(hints=None, header=header, timed_out=header is None,
                              elapsed_s=allowed_s, budget_s=allowed_s)  # fmt: skip

    monkeypatch.setattr(LocalSolver, "_run", fake_run)
    stars = DetectedStars(np.arange(25.0), np.arange(25.0), np.arange(25.0, 0.0, -1.0))
    (tight, share), (default, _) = [(p.code_tolerance, p.share) for p in local.blind_passes()]

    clock = local._CpuClock()
    attempt = solver._run("engine", [], stars, tmp_path / "a", (1000, 667), None, 10.0, clock)
    assert attempt.header is not None
    assert [c[0] for c in calls] == [tight, default]
    assert calls[0][1] == pytest.approx(10.0 * share, abs=0.05)
    assert calls[1][1] == pytest.approx(10.0 * (1 - share), abs=0.05)
    assert attempt.budget_s == pytest.approx(10.0, abs=0.1)

    calls.clear()
    matched_on["pass"] = 1
    attempt = solver._run("engine", [], stars, tmp_path / "b", (1000, 667), None, 10.0)
    assert attempt.header is not None
    assert [c[0] for c in calls] == [tight]  # the default pass never ran
