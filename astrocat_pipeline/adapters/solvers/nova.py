"""Plate solving through astrometry.net's web service, "nova" (https://nova.astrometry.net).

The protocol, as astrometry.net's own client (``net/client/client.py``) and server
(``net/api.py``, ``net/urls.py``, ``Job.get_status_blurb`` in ``net/models.py``) speak it. The
service reports its own errors in a 200 answer, ``{"status": "error", "errormessage": ...}``,
and sends JSON as ``text/plain``.

- ``POST {api}login``, form field ``request-json={"apikey": KEY}``:
  ``{"status": "success", "session": S}``, or the error ``bad apikey``.
- ``POST {api}upload``, multipart/form-data with a ``request-json`` part (session, licence,
  visibility, scale and position hints, downsample factor) and a ``file`` part:
  ``{"status": "success", "subid": N, "hash": ...}``. A session the service no longer knows
  gives the error ``no session with key "S"``.
- ``GET {api}submissions/N``: ``{"processing_started", "processing_finished", "jobs",
  "job_calibrations", ...}`` plus ``error_message`` when processing failed. ``jobs`` is ``[]``
  until the upload is processed and holds ``null`` for a job not created yet.
- ``GET {api}jobs/J``: ``{"status": "processing" | "solving" | "success" | "failure"}``.
- ``GET {api}jobs/J/calibration/``: ``ra``, ``dec``, ``radius`` (degrees), ``pixscale``
  (arcsec/px), ``orientation``, ``parity``; ``{"error": ...}`` when there is none.
- ``GET {site}wcs_file/J``, outside the API (the API URL without its ``api/``): the solution
  as a header-only FITS file (solve-field's ``.wcs``), with ``IMAGEW``/``IMAGEH``.

The API key never leaves this module except in the login request: it is not in the repr, in
log lines, in exception messages or in the returned solution, and any text the service sends
back is scrubbed of it (and of session keys) before it is used.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import math
import re
import time
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

import requests
from astropy.coordinates import angular_separation
from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning

from astrocat_pipeline.adapters.solvers.base import (
    ProgressCallback,
    SolutionVerifier,
    SolveProgress,
)
from astrocat_pipeline.adapters.solvers.input import solver_ready
from astrocat_pipeline.core.errors import ConfigError, SolverError
from astrocat_pipeline.core.hints import usable_hints
from astrocat_pipeline.core.records import FieldGeometry, PlateSolution, SolveAttempt, SolveHints
from astrocat_pipeline.core.solution import solution_from_wcs
from astrocat_pipeline.core.tuning import (
    NOVA_CALIBRATION_MATCH_FRACTION,
    NOVA_DEADLINE_S,
    NOVA_DOWNSAMPLE_FACTOR,
    NOVA_PIXSCALE_MATCH_FRACTION,
    NOVA_POLL_INTERVAL_S,
    NOVA_REQUEST_TIMEOUT_S,
    SOLVER_DOWNSAMPLE_ABOVE_PX,
)

if TYPE_CHECKING:
    from astrocat_pipeline.core.star_detect import DetectedStars

__all__ = ["NovaSolver"]

logger = logging.getLogger(__name__)

_REDACTED = "[redacted]"
_HTML_TAG = re.compile(r"<[^<>]{1,200}>")
_EXCERPT_CHARS = 300
# Errors of the upload endpoint that mean "log in again" (net/api.py's session decorators).
_SESSION_ERRORS = ("no session with key", 'no "session" in json', "user is not authenticated")
# Network failures that mean "the service is not reachable right now", not "it said no".
_TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


@dataclass(frozen=True)
class _Poll:
    """What one round of polling learned."""

    progress: SolveProgress
    problem: str | None = None  # a transient one (network, HTTP error): poll again
    error: str | None = None  # the service's final word: the solve failed
    header: fits.Header | None = None  # the WCS file, once solved
    calibration: dict[str, Any] | None = None


class _UnreachableError(Exception):
    """A request got no HTTP answer (connection refused or dropped, timeout)."""


class NovaSolver:
    """Plate-solve image files with astrometry.net's web API.

    One login session is kept and reused across solves (logged in lazily, and once more when
    the service says it no longer knows the session). Not thread-safe: use one per thread.

    Parameters
    ----------
    api_url : str
        The API's base URL, ending in ``/api/`` (``https://nova.astrometry.net/api/``). The
        WCS file is fetched from the same site, outside the API.
    api_key : str, optional
        The account's API key; without one the solver is not available.
    poll_interval_s : float
        Wait between two polls of a submission or job.
    deadline_s : float
        Give up (a failed solution) when a solve call has waited this long for a result.
    request_timeout_s : float
        requests' timeout of each HTTP request (connect, and each read).
    session : requests.Session, optional
        HTTP session to use (the caller closes it); by default one of its own, closed by
        :meth:`close`.
    clock, sleep : callable
        Monotonic seconds and a sleep, replaceable in tests.
    blind_fallback : bool
        Whether the caller should upload once more without hints when a hinted solve fails
        (each :meth:`solve` call is one upload and one recorded attempt; the pipeline's step
        makes the second call): ``caller_blind_fallback``.
    """

    name = "nova"

    def __init__(
        self,
        api_url: str,
        api_key: str | None,
        *,
        poll_interval_s: float = NOVA_POLL_INTERVAL_S,
        deadline_s: float = NOVA_DEADLINE_S,
        request_timeout_s: float = NOVA_REQUEST_TIMEOUT_S,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        blind_fallback: bool = True,
    ) -> None:
        url = api_url.strip()
        url = url if url.endswith("/") else url + "/"
        if not url.endswith("/api/") or "://" not in url:
            raise ConfigError(
                f"the nova API URL must be an http(s) URL ending in /api/ "
                f"(like https://nova.astrometry.net/api/), got {api_url!r}"
            )
        for name, value in (
            ("poll_interval_s", poll_interval_s),
            ("deadline_s", deadline_s),
            ("request_timeout_s", request_timeout_s),
        ):
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"nova {name} must be a finite number >= 0, got {value!r}")
        self.api_url = url
        self.site_url = url[: -len("api/")]
        self.poll_interval_s = poll_interval_s
        self.deadline_s = deadline_s
        self.request_timeout_s = request_timeout_s
        self._api_key = api_key or None
        self._http = session if session is not None else requests.Session()
        self._owns_http = session is None
        self._clock = clock
        self._sleep = sleep
        self.blind_fallback = blind_fallback
        self._session_key: str | None = None
        # Every credential whose text must never leave this object: the key, session keys.
        self._secrets: set[str] = {api_key} if api_key else set()

    def __repr__(self) -> str:
        key = "'<set>'" if self._api_key else "None"
        return (
            f"NovaSolver(api_url={self.api_url!r}, api_key={key}, "
            f"poll_interval_s={self.poll_interval_s}, deadline_s={self.deadline_s}, "
            f"request_timeout_s={self.request_timeout_s})"
        )

    @property
    def caller_blind_fallback(self) -> bool:
        return self.blind_fallback

    def available(self) -> bool:
        """True if an API key is set (whether the service accepts it shows at the first solve)."""
        return self._api_key is not None

    def close(self) -> None:
        """Close the HTTP session if this solver opened it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> NovaSolver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- solving --------------------------------------------------------------------------

    def input_file(self, image_path: Path) -> AbstractContextManager[Path]:
        """The image as nova reads it: the file itself when it is a mono FITS image, else a
        mono FITS written into a temporary directory (see :mod:`.input`)."""
        return solver_ready(image_path)

    def solve(
        self,
        image_path: Path,
        width_px: int,
        height_px: int,
        hints: SolveHints | None,
        *,
        resume: SolveProgress | None = None,
        on_progress: ProgressCallback | None = None,
        stars: DetectedStars | None = None,
        verify: SolutionVerifier | None = None,
        neighbour: SolveHints | None = None,
    ) -> PlateSolution:
        """Plate-solve one image file online, or resume waiting for an earlier upload.

        Parameters
        ----------
        image_path : Path
            An image nova reads itself (FITS, JPEG, PNG, TIFF; :meth:`input_file` makes one
            from any format); uploaded unchanged, so the solution refers to its pixels. Only
            read, and not needed when resuming.
        width_px, height_px : int
            Size of the frame in pixels; nova's WCS file must say the same.
        hints : SolveHints, optional
            Scale and/or position hints; incomplete parts are not sent (as for the local
            solver). When resuming, the hints of the original upload (only recorded).
        resume : SolveProgress, optional
            The progress of an earlier call that uploaded this image: poll that submission
            (and job) instead of uploading again. Without a submission id it is ignored.
        on_progress : callable, optional
            Called with a :class:`~.base.SolveProgress` (``submitted`` with the submission id,
            then ``processing`` with the job id) after the upload and after every poll that
            leaves the solve unfinished, so the caller can store the ids and show it is alive.
            What it raises propagates (the solve stops; resume it later).
        stars, verify, neighbour : optional
            Not used: nova finds its own stars, one upload gives one answer, which the caller
            checks (:mod:`~astrocat_pipeline.cataloging.solution_check`), and a neighbour's
            hints are merged into ``hints`` by the caller (never an upload of their own).

        Returns
        -------
        PlateSolution
            ``status="solved"`` with geometry, WCS text and the hints sent, or
            ``status="failed"`` with the reason: the service refused the upload, could not
            process it, found no solution, or gave no result before the deadline (the last
            network or HTTP problem included). ``elapsed_s`` covers this call, which is its
            one recorded attempt.

        Raises
        ------
        SolverError
            No API key, login failed, the upload could not be delivered, or the service
            broke its protocol (a non-JSON answer, missing fields, a WCS file that is not FITS
            or does not fit the frame).
        FileNotFoundError
            ``image_path`` is not a file (when uploading).
        """
        if self._api_key is None:
            raise SolverError(
                "the nova solver needs an astrometry.net API key (ASTROMETRY_API_KEY); none is set"
            )
        image_path = Path(image_path)
        if width_px < 1 or height_px < 1:
            raise ValueError(
                f"{image_path}: frame size must be positive, got {width_px}x{height_px}"
            )
        usable = usable_hints(hints)
        started = self._clock()

        if resume is None or resume.submission_id is None:
            if not image_path.is_file():
                raise FileNotFoundError(f"image to plate-solve not found: {image_path}")
            uploaded = self._upload(image_path, width_px, usable)
            if isinstance(uploaded, str):
                return self._failed(usable, started, uploaded)
            progress = SolveProgress("submitted", submission_id=uploaded)
            logger.info("nova: uploaded %s as submission %d", image_path.name, uploaded)
            if on_progress is not None:
                on_progress(progress)
        else:
            progress = resume
            logger.info(
                "nova: resuming submission %d (job %s) for %s",
                progress.submission_id,
                progress.job_id,
                image_path.name,
            )

        last_problem: str | None = None
        while True:
            poll = self._poll(progress)
            if poll.progress.job_id is not None and progress.job_id is None:
                logger.info(
                    "nova: submission %d is job %d",
                    poll.progress.submission_id,
                    poll.progress.job_id,
                )
            progress = poll.progress
            if poll.error is not None:
                return self._failed(usable, started, poll.error)
            if poll.header is not None and poll.calibration is not None:
                return self._solution(
                    image_path,
                    progress,
                    poll.header,
                    poll.calibration,
                    usable,
                    (width_px, height_px),
                    self._clock() - started,
                )
            if poll.problem is not None:
                last_problem = poll.problem
                logger.warning("nova: %s; will poll again", poll.problem)
            if on_progress is not None:
                on_progress(progress)
            waited_s = self._clock() - started
            if waited_s >= self.deadline_s:
                job = f"job {progress.job_id}" if progress.job_id is not None else "no job yet"
                message = (
                    f"nova gave no result after waiting {waited_s:.0f} s (deadline "
                    f"{self.deadline_s:g} s) for submission {progress.submission_id} ({job})"
                )
                if last_problem is not None:
                    message += f"; last problem: {last_problem}"
                return self._failed(usable, started, message)
            self._sleep(min(self.poll_interval_s, self.deadline_s - waited_s))

    def _failed(self, hints: SolveHints | None, started: float, error: str) -> PlateSolution:
        elapsed_s = self._clock() - started
        error = self._redact(error)
        return PlateSolution(
            status="failed",
            solver="nova",
            hints_used=hints,
            elapsed_s=elapsed_s,
            error=error,
            attempts=(SolveAttempt("nova", hints, f"failed: {error}", elapsed_s),),
        )

    # --- the protocol -----------------------------------------------------------------------

    def _upload_args(self, width_px: int, hints: SolveHints | None) -> dict[str, Any]:
        """The upload's ``request-json`` (without the session)."""
        args: dict[str, Any] = {
            # Private, and no licence granted: these are the user's frames.
            "publicly_visible": "n",
            "allow_commercial_use": "n",
            "allow_modifications": "n",
            # The reference pixel at the centre, as the local solver asks for.
            "crpix_center": True,
        }
        if width_px > SOLVER_DOWNSAMPLE_ABOVE_PX:
            args["downsample_factor"] = NOVA_DOWNSAMPLE_FACTOR
        if hints is not None and hints.has_scale:
            args.update(
                scale_units="arcsecperpix",
                scale_type="ul",
                scale_lower=hints.scale_low_arcsec,
                scale_upper=hints.scale_high_arcsec,
            )
        if hints is not None and hints.has_position:
            args.update(center_ra=hints.ra_deg, center_dec=hints.dec_deg, radius=hints.radius_deg)
        return args

    def _upload(self, image_path: Path, width_px: int, hints: SolveHints | None) -> int | str:
        """Upload the image; its submission id, or the service's reason for refusing it."""
        url = self.api_url + "upload"
        args = self._upload_args(width_px, hints)
        for attempt in (1, 2):
            payload = {"session": self._login_if_needed(), **args}
            with image_path.open("rb") as image:
                try:
                    response = self._send(
                        "POST",
                        url,
                        data={"request-json": json.dumps(payload)},
                        files={"file": (image_path.name, image, "application/octet-stream")},
                    )
                except _UnreachableError as exc:
                    raise SolverError(
                        f"nova upload of {image_path} failed: {self._redact(str(exc))}"
                    ) from None
            if (problem := self._http_problem(response)) is not None:
                raise SolverError(f"nova upload of {image_path} failed: {problem}")
            reply = self._json_object(response, "upload")
            if reply.get("status") == "error":
                message = self._service_message(reply)
                if attempt == 1 and message.lower().startswith(_SESSION_ERRORS):
                    logger.info("nova: the session expired; logging in again")
                    self._session_key = None
                    continue
                return f"nova refused the upload of {image_path.name}: {message}"
            subid = _as_id(reply.get("subid"))
            if reply.get("status") != "success" or subid is None:
                raise SolverError(
                    f"nova's answer to the upload of {image_path} has no submission id: "
                    f"{self._excerpt(response.text)}"
                )
            return subid
        raise AssertionError("unreachable: the second upload attempt returns or raises")

    def _login_if_needed(self) -> str:
        """The session key, logging in first if there is none."""
        if self._session_key is not None:
            return self._session_key
        url = self.api_url + "login"
        try:
            response = self._send(
                "POST", url, data={"request-json": json.dumps({"apikey": self._api_key})}
            )
        except _UnreachableError as exc:
            raise SolverError(f"nova login failed: {self._redact(str(exc))}") from None
        if (problem := self._http_problem(response)) is not None:
            raise SolverError(f"nova login failed: {problem}")
        reply = self._json_object(response, "login")
        if reply.get("status") != "success":
            raise SolverError(f"nova login failed: {self._service_message(reply)}")
        session = reply.get("session")
        if not isinstance(session, str) or not session:
            raise SolverError("nova login failed: the service's answer has no session key")
        self._secrets.add(session)
        self._session_key = session
        logger.info("nova: logged in at %s", self.api_url)
        return session

    def _poll(self, progress: SolveProgress) -> _Poll:
        """One round: the submission until it has a job, then the job, then its results."""
        sub_id = progress.submission_id
        if progress.job_id is None:
            reply = self._get_json(f"{self.api_url}submissions/{sub_id}", f"submission {sub_id}")
            if isinstance(reply, str):
                return _Poll(progress, problem=reply)
            if reply.get("status") == "error":
                return _Poll(
                    progress, error=f"nova submission {sub_id}: {self._service_message(reply)}"
                )
            jobs = reply.get("jobs")
            if not isinstance(jobs, list):
                raise SolverError(
                    f"nova's status of submission {sub_id} has no job list: {self._shown(reply)}"
                )
            job_ids = [_as_id(job) for job in jobs if job is not None]
            if None in job_ids:
                raise SolverError(f"nova's job list of submission {sub_id} is not ids: {jobs}")
            if not job_ids:
                sub_error = reply.get("error_message")
                if sub_error and _is_set(reply.get("processing_finished")):
                    return _Poll(
                        progress,
                        error=f"nova could not process submission {sub_id}: {sub_error}",
                    )
                return _Poll(progress)
            progress = SolveProgress("processing", submission_id=sub_id, job_id=job_ids[0])

        job_id = progress.job_id
        what = f"job {job_id} (submission {sub_id})"
        reply = self._get_json(f"{self.api_url}jobs/{job_id}", what)
        if isinstance(reply, str):
            return _Poll(progress, problem=reply)
        status = reply.get("status")
        if status == "failure":
            return _Poll(progress, error=f"nova found no solution: {what} failed")
        if status == "error":
            return _Poll(progress, error=f"nova {what}: {self._service_message(reply)}")
        if not isinstance(status, str):
            raise SolverError(f"nova's status of {what} has no status: {self._shown(reply)}")
        if status != "success":  # "processing" (queued), "solving", "?"
            return _Poll(progress)

        calibration = self._get_json(f"{self.api_url}jobs/{job_id}/calibration/", what)
        if isinstance(calibration, str):
            return _Poll(progress, problem=calibration)
        wcs_url = f"{self.site_url}wcs_file/{job_id}"
        try:
            response = self._send("GET", wcs_url)
        except _UnreachableError as exc:
            return _Poll(progress, problem=str(exc))
        if (problem := self._http_problem(response)) is not None:
            return _Poll(progress, problem=problem)
        return _Poll(
            progress,
            header=self._wcs_header(response.content, wcs_url),
            calibration=calibration,
        )

    # --- the solution -----------------------------------------------------------------------

    def _wcs_header(self, content: bytes, url: str) -> fits.Header:
        """The primary header of nova's WCS file."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", AstropyWarning)
                with fits.open(io.BytesIO(content)) as hdul:
                    return hdul[0].header.copy()
        except (OSError, ValueError, IndexError) as exc:
            raise SolverError(
                f"nova's WCS file {url} is not a FITS file ({len(content)} bytes: "
                f"{self._redact(str(exc))})"
            ) from None

    def _solution(
        self,
        image_path: Path,
        progress: SolveProgress,
        header: fits.Header,
        calibration: dict[str, Any],
        hints: SolveHints | None,
        size_px: tuple[int, int],
        elapsed_s: float,
    ) -> PlateSolution:
        width_px, height_px = size_px
        what = f"job {progress.job_id} (submission {progress.submission_id})"
        solution = solution_from_wcs(
            header,
            width_px,
            height_px,
            solver="nova",
            image=image_path,
            source=f"nova ({what})",
            solved_size_px=(header.get("IMAGEW"), header.get("IMAGEH")),
            hints=hints,
            elapsed_s=elapsed_s,
        )
        assert solution.geometry is not None  # a solved solution always has one
        self._check_calibration(image_path, what, calibration, solution.geometry)
        return dataclasses.replace(
            solution, attempts=(SolveAttempt("nova", hints, "solved", elapsed_s),)
        )

    def _check_calibration(
        self, image_path: Path, what: str, calibration: dict[str, Any], geometry: FieldGeometry
    ) -> None:
        """Raise SolverError unless nova's calibration describes the field of its WCS file."""
        if "error" in calibration and "ra" not in calibration:
            raise SolverError(
                f"{image_path}: nova reported {what} solved but has no calibration: "
                f"{self._redact(str(calibration['error']))}"
            )
        values = [_as_number(calibration.get(key)) for key in ("ra", "dec", "pixscale")]
        ra, dec, pixscale = values
        if ra is None or dec is None or pixscale is None:
            raise SolverError(
                f"{image_path}: nova's calibration of {what} lacks ra/dec/pixscale: "
                f"{self._shown(calibration)}"
            )
        offset_deg = math.degrees(
            float(
                angular_separation(
                    math.radians(ra),
                    math.radians(dec),
                    math.radians(geometry.ra_deg),
                    math.radians(geometry.dec_deg),
                )
            )
        )
        scale_ratio = pixscale / geometry.pixel_scale_arcsec
        if (
            offset_deg > NOVA_CALIBRATION_MATCH_FRACTION * geometry.radius_deg
            or abs(scale_ratio - 1.0) > NOVA_PIXSCALE_MATCH_FRACTION
        ):
            raise SolverError(
                f"{image_path}: nova's calibration of {what} (centre {ra:.4f} {dec:+.4f}, "
                f'{pixscale:.3f}"/px) does not match its WCS file (centre {geometry.ra_deg:.4f} '
                f'{geometry.dec_deg:+.4f}, {geometry.pixel_scale_arcsec:.3f}"/px)'
            )

    # --- HTTP ------------------------------------------------------------------------------

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One request; _UnreachableError (with a key-free message) when nothing answers."""
        try:
            return self._http.request(method, url, timeout=self.request_timeout_s, **kwargs)
        except _TRANSIENT_ERRORS as exc:
            raise _UnreachableError(
                self._redact(f"no answer from {url} ({type(exc).__name__}: {exc})")
            ) from None

    def _get_json(self, url: str, what: str) -> dict[str, Any] | str:
        """A polled JSON object, or a transient problem (no answer, an HTTP error) as text."""
        try:
            response = self._send("GET", url)
        except _UnreachableError as exc:
            return str(exc)
        if (problem := self._http_problem(response)) is not None:
            return problem
        return self._json_object(response, what)

    def _http_problem(self, response: requests.Response) -> str | None:
        """A key-free description of an HTTP error answer, or None for a 2xx one."""
        if response.ok:
            return None
        return (
            f"HTTP {response.status_code} {response.reason or ''} from {response.url}: "
            f"{self._excerpt(response.text)}"
        ).replace("  ", " ")

    def _json_object(self, response: requests.Response, what: str) -> dict[str, Any]:
        """The JSON object of a 2xx answer; SolverError if the body is anything else."""
        try:
            reply = response.json()
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            raise SolverError(
                f"nova's answer about {what} from {response.url} is not a JSON object: "
                f"{self._excerpt(response.text)!r}"
            )
        return reply

    def _service_message(self, reply: dict[str, Any]) -> str:
        message = reply.get("errormessage")
        if message:
            return self._redact(str(message))
        return f"no error message in {self._shown(reply)}"

    def _shown(self, reply: dict[str, Any]) -> str:
        """A short, credential-free view of a JSON answer for an error message."""
        return self._excerpt(json.dumps(reply, sort_keys=True, default=str))

    def _excerpt(self, text: str) -> str:
        """The start of an answer's body, on one line, without HTML tags or credentials."""
        cleaned = " ".join(_HTML_TAG.sub(" ", self._redact(text)).split())
        if len(cleaned) > _EXCERPT_CHARS:
            cleaned = cleaned[:_EXCERPT_CHARS] + "…"
        return cleaned or "(empty body)"

    def _redact(self, text: str) -> str:
        """``text`` with the API key and session keys (also URL-encoded) blanked out."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
                text = text.replace(form, _REDACTED)
        return text


def _as_id(value: object) -> int | None:
    """A JSON id (a non-negative integer), or None if ``value`` is not one."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _as_number(value: object) -> float | None:
    """A finite JSON number as a float, or None if ``value`` is not one."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _is_set(value: object) -> bool:
    """nova sends unset timestamps as the string "None" (``str(None)``)."""
    return value not in (None, "", "None")
