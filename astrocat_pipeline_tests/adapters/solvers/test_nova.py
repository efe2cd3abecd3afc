"""NovaSolver against a loopback server that speaks nova's protocol (``nova_double``).

Time is a fake clock advanced only by the solver's sleeps, so deadlines and poll counts are
deterministic and the tests never wait for real.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from astropy.coordinates import angular_separation

from astrocat_pipeline.adapters.solvers.base import SolveProgress
from astrocat_pipeline.adapters.solvers.nova import NovaSolver
from astrocat_pipeline.core.errors import ConfigError, SolverError
from astrocat_pipeline.core.records import PlateSolution, SolveHints
from astrocat_pipeline.core.tuning import NOVA_DOWNSAMPLE_FACTOR, SOLVER_DOWNSAMPLE_ABOVE_PX
from astrocat_pipeline.core.wcs_geometry import wcs_from_header_text
from astrocat_pipeline_tests.adapters.solvers.nova_double import (
    NovaDouble,
    calibration_of,
    wcs_file_bytes,
)

KEY = "novaKEY7f3a9c21d4e8b6"  # what a leaked key would look like in any text
WIDTH, HEIGHT = 1200, 800
# The true field: around M42, 2"/px, image up 30° east of north.
RA, DEC, SCALE, ROTATION = 83.82, -5.39, 2.0, 30.0
HINTS = SolveHints(
    scale_low_arcsec=1.6, scale_high_arcsec=2.4, ra_deg=84.1, dec_deg=-5.2, radius_deg=2.5
)
POLL_S = 5.0


class FakeClock:
    """Monotonic time that moves only when the solver sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def truth_wcs(width_px: int = WIDTH, height_px: int = HEIGHT) -> bytes:
    return wcs_file_bytes(RA, DEC, SCALE, ROTATION, width_px, height_px)


@pytest.fixture
def image(tmp_path: Path) -> Path:
    """An "image" whose bytes include CRLFs and boundary-like runs, to test the multipart."""
    path = tmp_path / "M42 light 0001 (60s).fits"
    path.write_bytes(bytes(range(256)) * 40 + b"\r\n--boundary\r\n\r\n" + b"\x00" * 1000)
    return path


@pytest.fixture
def fake() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_solver(fake: FakeClock) -> Iterator[Callable[..., NovaSolver]]:
    """Build NovaSolvers on the fake clock; all closed after the test."""
    made: list[NovaSolver] = []

    def make(double: NovaDouble, **kwargs: Any) -> NovaSolver:
        options: dict[str, Any] = {
            "poll_interval_s": POLL_S,
            "deadline_s": 600.0,
            "request_timeout_s": 5.0,
            "clock": fake.clock,
            "sleep": fake.sleep,
        }
        options.update(kwargs)
        api_key = options.pop("api_key", double.api_key)
        solver = NovaSolver(double.api_url, api_key, **options)
        made.append(solver)
        return solver

    yield make
    for solver in made:
        solver.close()


def run_double(**kwargs: Any) -> NovaDouble:
    kwargs.setdefault("api_key", KEY)
    kwargs.setdefault("wcs_file", truth_wcs())
    return NovaDouble(**kwargs)


def assert_solved_truth(solution: PlateSolution) -> None:
    assert solution.status == "solved", solution.error
    assert solution.solver == "nova"
    geometry = solution.geometry
    assert geometry is not None
    offset_deg = math.degrees(
        angular_separation(
            math.radians(RA),
            math.radians(DEC),
            math.radians(geometry.ra_deg),
            math.radians(geometry.dec_deg),
        )
    )
    assert offset_deg < 1e-6
    assert geometry.pixel_scale_arcsec == pytest.approx(SCALE, rel=1e-6)
    assert geometry.rotation_deg == pytest.approx(ROTATION, abs=1e-6)
    assert geometry.parity == "normal"
    assert geometry.width_deg == pytest.approx(WIDTH * SCALE / 3600, rel=1e-3)
    assert solution.wcs_header is not None
    wcs = wcs_from_header_text(solution.wcs_header)
    ra, dec = wcs.pixel_to_world_values((WIDTH - 1) / 2, (HEIGHT - 1) / 2)
    assert float(ra) == pytest.approx(RA, abs=1e-7)
    assert float(dec) == pytest.approx(DEC, abs=1e-7)


# --- the happy path -----------------------------------------------------------------------


def test_solves_with_hints_and_uploads_the_file_unchanged(image, make_solver):
    with run_double() as double:
        solution = make_solver(double).solve(image, WIDTH, HEIGHT, HINTS)

        assert_solved_truth(solution)
        assert solution.hints_used == HINTS
        assert solution.elapsed_s == 0.0  # nothing to wait for: the job was done at once
        assert len(double.uploads) == 1
        upload = double.uploads[0]
        data = image.read_bytes()
        assert upload.file_size == len(data)
        assert upload.file_sha256 == hashlib.sha256(data).hexdigest()
        assert upload.file_name == image.name
        sent = upload.request_json
        assert sent["session"] in double.sessions
        assert sent["publicly_visible"] == "n"
        assert sent["allow_commercial_use"] == "n"
        assert sent["allow_modifications"] == "n"
        assert sent["scale_units"] == "arcsecperpix"
        assert sent["scale_type"] == "ul"
        assert (sent["scale_lower"], sent["scale_upper"]) == (1.6, 2.4)
        assert (sent["center_ra"], sent["center_dec"], sent["radius"]) == (84.1, -5.2, 2.5)
        assert "downsample_factor" not in sent  # a small frame
        assert double.errors == []


def test_blind_upload_sends_no_hints(image, make_solver):
    # A scale with one bound and a position without a radius are not usable hints.
    partial = SolveHints(scale_low_arcsec=1.5, ra_deg=10.0, dec_deg=20.0)
    with run_double() as double:
        solution = make_solver(double).solve(image, WIDTH, HEIGHT, partial)

        assert_solved_truth(solution)
        assert solution.hints_used is None
        sent = double.uploads[0].request_json
        for key in ("scale_units", "scale_type", "scale_lower", "scale_upper"):
            assert key not in sent
        for key in ("center_ra", "center_dec", "radius"):
            assert key not in sent


def test_large_frame_is_downsampled_by_nova_and_the_wcs_still_fits_the_original(image, make_solver):
    width, height = SOLVER_DOWNSAMPLE_ABOVE_PX + 1000, 2000
    with run_double(wcs_file=truth_wcs(width, height)) as double:
        solution = make_solver(double).solve(image, width, height, None)

        assert solution.status == "solved"
        assert double.uploads[0].request_json["downsample_factor"] == NOVA_DOWNSAMPLE_FACTOR
        assert solution.geometry is not None
        assert solution.geometry.width_deg == pytest.approx(width * SCALE / 3600, rel=1e-3)


def test_wcs_file_for_another_image_size_raises(image, make_solver):
    with run_double() as double:
        solver = make_solver(double)
        with pytest.raises(SolverError, match=r"1200x800 px image .* frame is 1000x800 px"):
            solver.solve(image, 1000, HEIGHT, HINTS)


def test_calibration_that_contradicts_the_wcs_file_raises(image, make_solver):
    calibration = calibration_of(truth_wcs())
    calibration["ra"] += 5.0
    with (
        run_double(calibration=calibration) as double,
        pytest.raises(SolverError, match="does not match its WCS file"),
    ):
        make_solver(double).solve(image, WIDTH, HEIGHT, HINTS)


# --- waiting -----------------------------------------------------------------------------


def test_slow_job_is_polled_until_solved_and_progress_is_reported(image, make_solver, fake):
    seen: list[SolveProgress] = []
    with run_double(empty_job_polls=2, null_job_polls=3, solving_polls=4) as double:
        solution = make_solver(double).solve(image, WIDTH, HEIGHT, HINTS, on_progress=seen.append)

        assert_solved_truth(solution)
        # 5 submission polls without a job, then the job: 4 times "solving", then "success".
        assert double.request_count("submissions") == 6
        assert double.request_count("jobs") == 5
        assert fake.sleeps == [POLL_S] * 9
        assert solution.elapsed_s == pytest.approx(9 * POLL_S)

    sub_id = seen[0].submission_id
    assert seen[0] == SolveProgress("submitted", submission_id=sub_id)  # right after the upload
    assert seen[1:6] == [SolveProgress("submitted", submission_id=sub_id)] * 5
    job_ids = {p.job_id for p in seen[6:]}
    assert len(job_ids) == 1
    assert None not in job_ids
    assert all(p.status == "processing" and p.submission_id == sub_id for p in seen[6:])
    assert len(seen) == 1 + 5 + 4  # the upload, then every unfinished poll


def test_network_errors_and_5xx_answers_while_polling_mean_pending(image, make_solver):
    script = {
        "server_errors": {"submissions": 2, "jobs": 1, "calibration": 1, "wcs_file": 1},
        "dropped": {"submissions": 1, "jobs": 1},
        "stalls": {"jobs": 1},
    }
    with run_double(null_job_polls=1, stall_s=5.0, **script) as double:
        solver = make_solver(double, request_timeout_s=0.2)
        solution = solver.solve(image, WIDTH, HEIGHT, HINTS)

        assert_solved_truth(solution)
        assert len(double.uploads) == 1
        assert double.errors == []


def test_deadline_gives_a_failed_solution_naming_the_wait_and_the_ids(image, make_solver, fake):
    seen: list[SolveProgress] = []
    with run_double(solving_polls=10_000) as double:
        solver = make_solver(double, deadline_s=42.0)
        solution = solver.solve(image, WIDTH, HEIGHT, HINTS, on_progress=seen.append)

    assert solution.status == "failed"
    assert solution.solver == "nova"
    assert solution.hints_used == HINTS
    assert solution.elapsed_s == pytest.approx(42.0)
    assert fake.now == pytest.approx(42.0)
    last = seen[-1]
    assert last.job_id is not None
    assert solution.error is not None
    assert "42 s" in solution.error
    assert f"submission {last.submission_id}" in solution.error
    assert f"job {last.job_id}" in solution.error


def test_deadline_reports_the_last_http_error(image, make_solver):
    with run_double(server_errors={"submissions": 10_000}) as double:
        solution = make_solver(double, deadline_s=20.0).solve(image, WIDTH, HEIGHT, HINTS)

    assert solution.status == "failed"
    assert solution.error is not None
    assert "no job yet" in solution.error
    assert "HTTP 503" in solution.error


# --- failures the service reports --------------------------------------------------------


def test_failed_job_is_a_failed_solution(image, make_solver):
    with run_double(solving_polls=2, job_outcome="failure") as double:
        solution = make_solver(double).solve(image, WIDTH, HEIGHT, HINTS)

        assert solution.status == "failed"
        assert solution.geometry is None
        assert solution.hints_used == HINTS
        assert solution.error is not None
        assert "no solution" in solution.error
        assert double.request_count("wcs_file") == 0


def test_submission_the_service_cannot_process_is_a_failed_solution(image, make_solver):
    with run_double(empty_job_polls=1, submission_error="Failed to load image") as double:
        solution = make_solver(double).solve(image, WIDTH, HEIGHT, HINTS)

    assert solution.status == "failed"
    assert solution.error is not None
    assert "Failed to load image" in solution.error


def test_refused_upload_is_a_failed_solution(image, make_solver):
    refusal = {"status": "error", "errormessage": "File too large"}
    with run_double(overrides={"upload": refusal}) as double:
        solution = make_solver(double).solve(image, WIDTH, HEIGHT, HINTS)

    assert solution.status == "failed"
    assert solution.error == f"nova refused the upload of {image.name}: File too large"


def test_upload_that_gets_no_answer_raises(image, make_solver):
    with (
        run_double(dropped={"upload": 1}) as double,
        pytest.raises(SolverError, match=r"nova upload of .* failed: no answer"),
    ):
        make_solver(double).solve(image, WIDTH, HEIGHT, HINTS)


# --- login and session -------------------------------------------------------------------


def test_login_failure_raises_with_the_service_message(image, make_solver):
    wrong = "wrongKEY0000aaaa1111"
    with run_double() as double:
        solver = make_solver(double, api_key=wrong)
        with pytest.raises(SolverError) as raised:
            solver.solve(image, WIDTH, HEIGHT, HINTS)

        assert str(raised.value) == "nova login failed: bad apikey"
        assert double.uploads == []


def test_one_session_serves_many_solves(image, make_solver):
    with run_double() as double:
        solver = make_solver(double)
        for _ in range(3):
            assert solver.solve(image, WIDTH, HEIGHT, HINTS).status == "solved"

        assert double.logins == 1
        assert len(double.uploads) == 3
        assert len({u.request_json["session"] for u in double.uploads}) == 1


def test_expired_session_logs_in_again_once(image, make_solver):
    with run_double() as double:
        solver = make_solver(double)
        assert solver.solve(image, WIDTH, HEIGHT, HINTS).status == "solved"
        double.expire_sessions()
        assert solver.solve(image, WIDTH, HEIGHT, HINTS).status == "solved"

        assert double.logins == 2
        assert len(double.uploads) == 2
        assert double.request_count("upload") == 3  # one refused for the dead session


# --- resuming ----------------------------------------------------------------------------


class CrashError(Exception):
    """Stands in for a run killed between the upload and the result."""


def test_crash_after_upload_then_resume_polls_without_uploading_again(image, make_solver):
    stored: list[SolveProgress] = []

    def store_then_crash(progress: SolveProgress) -> None:
        stored.append(progress)
        raise CrashError

    with run_double(null_job_polls=2, solving_polls=2) as double:
        with pytest.raises(CrashError):
            make_solver(double).solve(image, WIDTH, HEIGHT, HINTS, on_progress=store_then_crash)
        assert stored == [SolveProgress("submitted", submission_id=stored[0].submission_id)]

        restarted = make_solver(double)  # a new process: a new solver, no session
        solution = restarted.solve(image, WIDTH, HEIGHT, HINTS, resume=stored[-1])

        assert_solved_truth(solution)
        assert len(double.uploads) == 1
        assert double.request_count("upload") == 1
        assert double.logins == 1  # polling needs no session


def test_deadline_then_resume_with_the_job_id_finishes_the_same_job(image, make_solver):
    seen: list[SolveProgress] = []
    with run_double(solving_polls=6) as double:
        first = make_solver(double, deadline_s=2 * POLL_S)
        failed = first.solve(image, WIDTH, HEIGHT, HINTS, on_progress=seen.append)
        assert failed.status == "failed"
        assert seen[-1].job_id is not None

        solution = make_solver(double).solve(image, WIDTH, HEIGHT, HINTS, resume=seen[-1])

        assert_solved_truth(solution)
        assert len(double.uploads) == 1
        # The resumed solver went straight to the job.
        assert double.request_count("submissions") == 1


def test_resume_does_not_need_the_file(tmp_path, make_solver):
    with run_double() as double:
        solver = make_solver(double)
        progress = SolveProgress("submitted", submission_id=9_000_001)
        missing = tmp_path / "moved away.fits"
        with pytest.raises(FileNotFoundError):
            solver.solve(missing, WIDTH, HEIGHT, HINTS)
        # Nothing was uploaded, so that submission is unknown (404) until the deadline.
        solution = make_solver(double, deadline_s=10.0).solve(
            missing, WIDTH, HEIGHT, HINTS, resume=progress
        )
        assert solution.status == "failed"
        assert solution.error is not None
        assert "HTTP 404" in solution.error
        assert double.uploads == []


# --- protocol violations -----------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["login", "upload", "submissions", "jobs", "calibration"])
def test_non_json_answer_raises(image, make_solver, endpoint):
    with (
        run_double(malformed=[endpoint]) as double,
        pytest.raises(SolverError, match="is not a JSON object"),
    ):
        make_solver(double).solve(image, WIDTH, HEIGHT, HINTS)


@pytest.mark.parametrize(
    ("endpoint", "reply", "message"),
    [
        ("submissions", {"processing_started": "None"}, "has no job list"),
        ("submissions", {"jobs": ["12"]}, "is not ids"),
        ("upload", {"status": "success", "hash": "abc"}, "has no submission id"),
        ("login", {"status": "success"}, "nova login failed: .* no session key"),
        ("calibration", {"ra": 83.8}, "lacks ra/dec/pixscale"),
    ],
)
def test_missing_fields_raise(image, make_solver, endpoint, reply, message):
    with (
        run_double(overrides={endpoint: reply}) as double,
        pytest.raises(SolverError, match=message),
    ):
        make_solver(double).solve(image, WIDTH, HEIGHT, HINTS)


def test_wcs_file_that_is_not_fits_raises(image, make_solver):
    with run_double(wcs_file=b"<html>not a FITS file</html>") as double:
        calibration = calibration_of(truth_wcs())
        double.calibration = calibration
        with pytest.raises(SolverError, match="is not a FITS file"):
            make_solver(double).solve(image, WIDTH, HEIGHT, HINTS)


# --- configuration and secrets -----------------------------------------------------------


def test_without_a_key_it_is_unavailable_and_refuses_to_solve(image):
    with NovaSolver("https://nova.astrometry.net/api/", None) as solver:
        assert not solver.available()
        with pytest.raises(SolverError, match=r"needs an astrometry\.net API key"):
            solver.solve(image, WIDTH, HEIGHT, HINTS)
    with NovaSolver("https://nova.astrometry.net/api/", "") as solver:
        assert not solver.available()


def test_api_url_must_be_the_api_root():
    with NovaSolver("https://nova.astrometry.net/api", KEY) as solver:
        assert solver.api_url == "https://nova.astrometry.net/api/"
        assert solver.site_url == "https://nova.astrometry.net/"
    for bad in ("https://nova.astrometry.net/", "nova.astrometry.net/api/"):
        with pytest.raises(ConfigError, match="must be an http"):
            NovaSolver(bad, KEY)


def _texts_of(value: Any) -> str:
    """Every text a value shows: str, repr and, for a solution, its JSON and fields."""
    texts = [str(value), repr(value)]
    if isinstance(value, BaseException):
        cause = value.__cause__ or value.__context__
        if cause is not None:
            texts.append(_texts_of(cause))
    if isinstance(value, PlateSolution):
        texts.append(json.dumps(value.to_dict()))
        texts.extend(str(getattr(value, f.name)) for f in dataclasses.fields(value))
    return "\n".join(texts)


def test_the_api_key_never_appears_in_exceptions_logs_or_solutions(image, make_solver, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, urllib3's request lines included
    shown: list[str] = []
    sessions: set[str] = set()

    def attempt(solver: NovaSolver, **kwargs: Any) -> None:
        shown.append(repr(solver))
        try:
            shown.append(_texts_of(solver.solve(image, WIDTH, HEIGHT, HINTS, **kwargs)))
        except (SolverError, CrashError) as exc:
            shown.append(_texts_of(exc))

    # A login answered by an error page that echoes the request (the key in it).
    with run_double(server_errors={"login": 1}) as double:
        attempt(make_solver(double))
        attempt(make_solver(double))  # then a success
        sessions |= double.sessions
    # An upload answered by an echoing error page (the session in it).
    with run_double(server_errors={"upload": 1}) as double:
        attempt(make_solver(double))
        sessions |= double.sessions
    # A wrong key, an expired session, a deadline, a failed job, a protocol violation.
    with run_double() as double:
        attempt(make_solver(double, api_key=KEY + "-revoked"))
    with run_double(solving_polls=10_000, server_errors={"jobs": 3}) as double:
        solver = make_solver(double, deadline_s=30.0)
        attempt(solver)
        double.expire_sessions()
        attempt(solver)
        sessions |= double.sessions
    with run_double(job_outcome="failure") as double:
        attempt(make_solver(double))
    with run_double(malformed=["jobs"]) as double:
        attempt(make_solver(double))

    everything = "\n".join(shown + [r.getMessage() for r in caplog.records] + [caplog.text])
    assert "[redacted]" in everything  # the echoing error pages were scrubbed, not absent
    assert "HTTP 503" in everything
    assert KEY not in everything
    assert KEY[:12] not in everything
    assert sessions
    for session in sessions:
        assert session not in everything
