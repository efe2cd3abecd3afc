"""A loopback stand-in for nova.astrometry.net that speaks its real protocol.

The online service cannot be reached from the tests, so this server answers on 127.0.0.1 the
way astrometry.net's server does (``net/urls.py``, ``net/api.py``, ``Job.get_status_blurb``):

- ``POST /api/login`` (form field ``request-json``) -> ``{"status": "success", "session": ...}``
  or ``{"status": "error", "errormessage": "bad apikey"}``; service errors come with HTTP 200
  and JSON is sent as ``text/plain``.
- ``POST /api/upload`` (multipart/form-data: ``request-json`` and ``file``) ->
  ``{"status": "success", "subid": N, "hash": SHA1}``; an unknown session ->
  ``no session with key "..."``.
- ``GET|POST /api/submissions/N`` -> ``{"user", "processing_started", "processing_finished",
  "user_images", "images", "jobs", "job_calibrations"}`` (+ ``error_message``).
- ``GET|POST /api/jobs/J`` -> ``{"status": "processing" | "solving" | "success" | "failure"}``.
- ``GET|POST /api/jobs/J/calibration/`` -> ra, dec, width_arcsec, height_arcsec, radius,
  pixscale, orientation, parity; ``{"error": ...}`` for a job without one.
- ``GET /wcs_file/J`` -> the WCS FITS file (``application/fits``).
- Unknown ids -> 404 with an HTML page (Django's ``get_object_or_404``).

Failure modes are scripted per endpoint (``login``, ``upload``, ``submissions``, ``jobs``,
``calibration``, ``wcs_file``): 5xx answers, dropped connections, answers slower than the
client's timeout, non-JSON bodies, replacement JSON answers.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import re
import secrets
import sys
import threading
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning
from astropy.wcs import WCS

__all__ = ["ENDPOINTS", "NovaDouble", "Upload", "calibration_of", "wcs_file_bytes"]

ENDPOINTS = ("login", "upload", "submissions", "jobs", "calibration", "wcs_file")

# Routes as in net/urls.py: ids are [0-9-]+, the trailing slash is optional.
_ROUTES: list[tuple[str, re.Pattern[str]]] = [
    ("login", re.compile(r"^/api/login/?$")),
    ("upload", re.compile(r"^/api/upload/?$")),
    ("submissions", re.compile(r"^/api/submissions/(?P<id>[0-9-]+)/?$")),
    ("jobs", re.compile(r"^/api/jobs/(?P<id>[0-9-]+)/?$")),
    ("calibration", re.compile(r"^/api/jobs/(?P<id>[0-9-]+)/calibration/?$")),
    ("wcs_file", re.compile(r"^/wcs_file/(?P<id>[0-9-]+)/?$")),
]
_STARTED = "2026-11-20 21:14:03.512345"
_FINISHED = "2026-11-20 21:14:09.104567"


@dataclass(frozen=True)
class Upload:
    """What one upload delivered."""

    request_json: dict[str, Any]
    file_name: str | None
    file_size: int
    file_sha256: str


@dataclass
class _Submission:
    polls: int = 0
    job_id: int | None = None


@dataclass
class _Job:
    polls: int = 0


@dataclass
class _Script:
    """Per-endpoint failure modes, consumed as requests arrive."""

    server_errors: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    stalls: Counter[str] = field(default_factory=Counter)


class NovaDouble:
    """A nova server on 127.0.0.1 with an ephemeral port, for use as a context manager.

    Parameters
    ----------
    api_key : str
        The one key ``login`` accepts.
    wcs_file : bytes, optional
        The WCS FITS file every solved job returns (see :func:`wcs_file_bytes`).
    calibration : dict, optional
        The calibration answer of solved jobs; by default computed from ``wcs_file``.
    empty_job_polls : int
        Submission polls answering ``jobs: []`` (upload not processed yet).
    null_job_polls : int
        Then polls answering ``jobs: [null]`` (processing, job not created yet).
    solving_polls : int
        Job polls answering ``solving`` before ``job_outcome``.
    job_outcome : str
        ``"success"`` or ``"failure"``.
    submission_error : str, optional
        After the ``jobs: []`` polls, processing fails with this ``error_message``.
    server_errors, dropped, stalls : mapping of endpoint to count
        The first N requests to an endpoint get a 503 page (echoing the request, as Django's
        debug page does), have their connection closed without an answer, or are answered
        only after ``stall_s`` (longer than the client's timeout).
    malformed : iterable of endpoint
        Endpoints that answer 200 with an HTML body instead of JSON.
    overrides : mapping of endpoint to dict
        Endpoints that answer 200 with this JSON object instead.
    """

    def __init__(
        self,
        *,
        api_key: str = "double-api-key-0123",
        wcs_file: bytes | None = None,
        calibration: dict[str, Any] | None = None,
        empty_job_polls: int = 0,
        null_job_polls: int = 0,
        solving_polls: int = 0,
        job_outcome: str = "success",
        submission_error: str | None = None,
        server_errors: Mapping[str, int] | None = None,
        dropped: Mapping[str, int] | None = None,
        stalls: Mapping[str, int] | None = None,
        stall_s: float = 2.0,
        malformed: Iterable[str] = (),
        overrides: Mapping[str, dict[str, Any]] | None = None,
    ) -> None:
        if job_outcome not in ("success", "failure"):
            raise ValueError(f"job_outcome must be 'success' or 'failure', got {job_outcome!r}")
        scripted = {
            *(server_errors or {}),
            *(dropped or {}),
            *(stalls or {}),
            *malformed,
            *(overrides or {}),
        }
        if unknown := scripted - set(ENDPOINTS):
            raise ValueError(f"unknown endpoints {sorted(unknown)}; expected some of {ENDPOINTS}")
        self.api_key = api_key
        self.wcs_file = wcs_file
        self.calibration = calibration
        self.empty_job_polls = empty_job_polls
        self.null_job_polls = null_job_polls
        self.solving_polls = solving_polls
        self.job_outcome = job_outcome
        self.submission_error = submission_error
        self.stall_s = stall_s
        self.malformed = frozenset(malformed)
        self.overrides = dict(overrides or {})
        self._script = _Script(
            server_errors=Counter(server_errors or {}),
            dropped=Counter(dropped or {}),
            stalls=Counter(stalls or {}),
        )

        # What happened, for the tests to inspect (guarded by _lock).
        self.uploads: list[Upload] = []
        self.login_attempts = 0
        self.logins = 0
        self.requests: list[tuple[str, str]] = []  # (method, path)
        self.sessions: set[str] = set()
        self.errors: list[BaseException] = []  # unexpected exceptions in the handler

        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._submissions: dict[int, _Submission] = {}
        self._jobs: dict[int, _Job] = {}
        self._next_subid = 9_000_001
        self._next_jobid = 12_000_001
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> NovaDouble:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.double = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="nova-double"
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()  # releases stalled handlers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()  # joins the handler threads
        if self._thread is not None:
            self._thread.join()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("NovaDouble is not running; use it as a context manager")
        return int(self._server.server_address[1])

    @property
    def site_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def api_url(self) -> str:
        return self.site_url + "api/"

    def expire_sessions(self) -> None:
        """Forget every session, as the service does when they expire."""
        with self._lock:
            self.sessions.clear()

    def request_count(self, endpoint: str) -> int:
        """How many requests reached ``endpoint``."""
        with self._lock:
            return sum(1 for _, path in self.requests if _route(path)[0] == endpoint)

    # --- answers --------------------------------------------------------------------------

    def take_failure(self, endpoint: str) -> str | None:
        """The scripted failure for the next request to ``endpoint``, if any."""
        with self._lock:
            for kind, counter in (
                ("dropped", self._script.dropped),
                ("stall", self._script.stalls),
                ("server_error", self._script.server_errors),
            ):
                if counter[endpoint] > 0:
                    counter[endpoint] -= 1
                    return kind
        return None

    def answer(
        self,
        endpoint: str,
        ident: int | None,
        form: dict[str, Any],
        file: tuple[str | None, bytes] | None,
    ) -> tuple[int, str, bytes]:
        """(HTTP status, content type, body) for one request."""
        if endpoint in self.malformed:
            return 200, "text/html", b"<html><body>Temporarily down for maintenance</body></html>"
        if endpoint in self.overrides:
            return _json(self.overrides[endpoint])
        with self._lock:
            if endpoint == "login":
                return self._login(form)
            if endpoint == "upload":
                return self._upload(form, file)
            assert ident is not None
            if endpoint == "submissions":
                return self._submission_status(ident)
            if endpoint == "jobs":
                return self._job_status(ident)
            if endpoint == "calibration":
                return self._calibration(ident)
            return self._wcs_file(ident)

    def _login(self, form: dict[str, Any]) -> tuple[int, str, bytes]:
        self.login_attempts += 1
        args = form.get("request-json")
        if args is None:
            return _error("no json")
        if not isinstance(args, dict):
            return _error(f'failed to parse JSON: "{args}"')
        if args.get("apikey") is None:
            return _error('need "apikey"')
        if args["apikey"] != self.api_key:
            return _error("bad apikey")
        self.logins += 1
        session = secrets.token_hex(16)
        self.sessions.add(session)
        return _json(
            {
                "status": "success",
                "message": "authenticated user: astrocat@example.org",
                "session": session,
            }
        )

    def _upload(
        self, form: dict[str, Any], file: tuple[str | None, bytes] | None
    ) -> tuple[int, str, bytes]:
        args = form.get("request-json")
        if not isinstance(args, dict):
            return _error("no json")
        if "session" not in args:
            return _error('no "session" in JSON.')
        if args["session"] not in self.sessions:
            return _error(f'no session with key "{args["session"]}"')
        if file is None:
            return _error("no file uploaded")
        name, data = file
        self.uploads.append(
            Upload(
                request_json=args,
                file_name=name,
                file_size=len(data),
                file_sha256=hashlib.sha256(data).hexdigest(),
            )
        )
        subid = self._next_subid
        self._next_subid += 1
        self._submissions[subid] = _Submission()
        return _json({"status": "success", "subid": subid, "hash": hashlib.sha1(data).hexdigest()})

    def _submission_status(self, subid: int) -> tuple[int, str, bytes]:
        sub = self._submissions.get(subid)
        if sub is None:
            return _not_found()
        sub.polls += 1
        reply: dict[str, Any] = {
            "user": 4242,
            "processing_started": "None",
            "processing_finished": "None",
            "user_images": [],
            "images": [],
            "jobs": [],
            "job_calibrations": [],
        }
        if sub.polls <= self.empty_job_polls:
            return _json(reply)
        reply["processing_started"] = _STARTED
        if self.submission_error is not None:
            reply.update(processing_finished=_FINISHED, error_message=self.submission_error)
            return _json(reply)
        reply.update(user_images=[subid + 100], images=[subid + 200])
        if sub.polls <= self.empty_job_polls + self.null_job_polls:
            reply["jobs"] = [None]
            return _json(reply)
        if sub.job_id is None:
            sub.job_id = self._next_jobid
            self._next_jobid += 1
            self._jobs[sub.job_id] = _Job()
        job = self._jobs[sub.job_id]
        reply["processing_finished"] = _FINISHED
        reply["jobs"] = [sub.job_id]
        if self._job_state(job) == "success":
            reply["job_calibrations"] = [[sub.job_id, sub.job_id + 5_000_000]]
        return _json(reply)

    def _job_state(self, job: _Job) -> str:
        return "solving" if job.polls <= self.solving_polls else self.job_outcome

    def _job_status(self, job_id: int) -> tuple[int, str, bytes]:
        job = self._jobs.get(job_id)
        if job is None:
            return _not_found()
        job.polls += 1
        return _json({"status": self._job_state(job)})

    def _calibration(self, job_id: int) -> tuple[int, str, bytes]:
        job = self._jobs.get(job_id)
        if job is None:
            return _not_found()
        if self._job_state(job) != "success" or self.wcs_file is None:
            return _json({"error": f"no calibration data available for job {job_id}"})
        return _json(self.calibration or calibration_of(self.wcs_file))

    def _wcs_file(self, job_id: int) -> tuple[int, str, bytes]:
        job = self._jobs.get(job_id)
        if job is None or self._job_state(job) != "success" or self.wcs_file is None:
            return _not_found()
        return 200, "application/fits", self.wcs_file


# --- HTTP plumbing ------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    double: NovaDouble
    daemon_threads = False
    block_on_close = True  # server_close() waits for the handler threads

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        # A client that timed out and went away before a stalled answer: expected.
        if isinstance(exc, ConnectionError):
            return
        if exc is not None:
            with self.double._lock:
                self.double.errors.append(exc)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection, like a plain Django dev server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests inspect ``NovaDouble.requests`` instead."""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        double = self.server.double
        path = urlsplit(self.path).path
        body = self._read_body()
        with double._lock:
            double.requests.append((self.command, path))
        endpoint, ident = _route(path)
        if endpoint is None:
            self._send(*_not_found())
            return
        failure = double.take_failure(endpoint)
        if failure == "dropped":
            self.close_connection = True
            return  # no status line at all: the client sees the connection closed
        if failure == "stall" and double._closing.wait(double.stall_s):
            return
        form, file = self._parse(body)
        if failure == "server_error":
            self._send(*_server_error(self.command, path, form))
            return
        self._send(*double.answer(endpoint, ident, form, file))

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _parse(self, body: bytes) -> tuple[dict[str, Any], tuple[str | None, bytes] | None]:
        """The form fields (``request-json`` decoded) and the uploaded file, as Django sees them."""
        content_type = self.headers.get("Content-Type", "")
        fields: dict[str, Any] = {}
        file: tuple[str | None, bytes] | None = None
        if content_type.startswith("multipart/form-data"):
            for headers, data in _multipart_parts(body, content_type):
                disposition = headers.get("content-disposition", "")
                name = _header_param(disposition, "name")
                if name is None:
                    continue
                filename = _header_param(disposition, "filename")
                if filename is not None or name == "file":
                    if name == "file":
                        file = (filename, data)
                else:
                    fields[name] = data.decode("utf-8")
        elif body:
            query = parse_qs(body.decode("utf-8"), keep_blank_values=True)
            fields = {key: values[-1] for key, values in query.items()}
        if "request-json" in fields:
            # Left as text when it is not JSON: login/upload answer that as the server does.
            with contextlib.suppress(ValueError):
                fields["request-json"] = json.loads(fields["request-json"])
        return fields, file

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _route(path: str) -> tuple[str | None, int | None]:
    for endpoint, pattern in _ROUTES:
        match = pattern.match(path)
        if match:
            ident = match.groupdict().get("id")
            return endpoint, int(ident) if ident is not None else None
    return None, None


def _multipart_parts(body: bytes, content_type: str) -> list[tuple[dict[str, str], bytes]]:
    """The parts of a multipart/form-data body (RFC 7578): (lower-cased headers, raw bytes)."""
    boundary = _header_param(content_type, "boundary")
    if not boundary:
        raise ValueError(f"multipart body without a boundary: {content_type!r}")
    delimiter = b"--" + boundary.encode("ascii")
    chunks = body.split(b"\r\n" + delimiter)
    # The first chunk is "--boundary" itself (plus any preamble); the last starts with "--".
    first = chunks[0]
    if not first.startswith(delimiter):
        raise ValueError("multipart body does not start with its boundary")
    parts = []
    for chunk in [first[len(delimiter) :], *chunks[1:]]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode("utf-8").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        parts.append((headers, data))
    return parts


def _header_param(header: str, name: str) -> str | None:
    """A parameter of a header value such as ``form-data; name="file"; filename="a.fits"``."""
    match = re.search(rf'(?:^|;)\s*{re.escape(name)}=(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))', header)
    if match is None:
        return None
    return match.group(1) if match.group(1) is not None else match.group(2)


def _json(document: dict[str, Any]) -> tuple[int, str, bytes]:
    # net/api.py sends its JSON as text/plain.
    return 200, "text/plain", json.dumps(document).encode("utf-8")


def _error(message: str) -> tuple[int, str, bytes]:
    return _json({"status": "error", "errormessage": message})


def _not_found() -> tuple[int, str, bytes]:
    return 404, "text/html", b"<h1>Not Found</h1><p>The requested resource was not found.</p>"


def _server_error(method: str, path: str, form: dict[str, Any]) -> tuple[int, str, bytes]:
    """A 503 page that echoes the request, secrets included, as a debug error page would."""
    echoed = json.dumps(form.get("request-json"))
    page = (
        f"<html><body><h1>Service Unavailable (503)</h1><p>{method} {path}</p>"
        f"<pre>request-json = {echoed}</pre></body></html>"
    )
    return 503, "text/html", page.encode("utf-8")


# --- test data ------------------------------------------------------------------------------


def wcs_file_bytes(
    ra_deg: float,
    dec_deg: float,
    scale_arcsec: float,
    rotation_deg: float,
    width_px: int,
    height_px: int,
    *,
    flipped: bool = False,
) -> bytes:
    """A header-only FITS file like solve-field's ``.wcs``: a TAN WCS centred on the frame.

    ``rotation_deg`` is the position angle of the image +y axis east of north; without
    ``flipped`` the parity is the sky as seen (east left when north is up).
    """
    scale_deg = scale_arcsec / 3600.0
    theta = math.radians(rotation_deg)
    # Columns: +x and +y pixel steps as (east, north) offsets; RA increases eastwards.
    y_step = np.array([math.sin(theta), math.cos(theta)]) * scale_deg
    x_step = np.array([-math.cos(theta), math.sin(theta)]) * scale_deg
    if flipped:
        x_step = -x_step
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra_deg, dec_deg]
    wcs.wcs.crpix = [(width_px + 1) / 2.0, (height_px + 1) / 2.0]
    wcs.wcs.cd = np.column_stack([x_step, y_step])
    wcs.wcs.radesys = "ICRS"
    header = wcs.to_header()
    header["IMAGEW"] = (width_px, "Image width, in pixels.")
    header["IMAGEH"] = (height_px, "Image height, in pixels.")
    hdu = fits.PrimaryHDU(header=header)
    buffer = io.BytesIO()
    hdu.writeto(buffer)
    return buffer.getvalue()


def calibration_of(wcs_file: bytes) -> dict[str, Any]:
    """nova's calibration answer for a WCS file (centre, size, radius, scale, orientation).

    The fields and their units are nova's; ``orientation`` and ``parity`` follow an assumed
    convention (the client does not use them).
    """
    header = fits.getheader(io.BytesIO(wcs_file))
    width, height = int(header["IMAGEW"]), int(header["IMAGEH"])
    with warnings.catch_warnings():
        # A header-only file: astropy warns that the WCS has more axes than the (empty) data.
        warnings.simplefilter("ignore", AstropyWarning)
        wcs = WCS(header)
    ra, dec = (float(v) for v in wcs.pixel_to_world_values((width - 1) / 2, (height - 1) / 2))
    cd = wcs.pixel_scale_matrix
    pixscale = math.sqrt(abs(float(np.linalg.det(cd)))) * 3600.0
    corner = wcs.pixel_to_world_values(-0.5, -0.5)
    radius = math.degrees(
        math.acos(
            min(
                1.0,
                math.sin(math.radians(dec)) * math.sin(math.radians(float(corner[1])))
                + math.cos(math.radians(dec))
                * math.cos(math.radians(float(corner[1])))
                * math.cos(math.radians(ra - float(corner[0]))),
            )
        )
    )
    return {
        "ra": ra,
        "dec": dec,
        "width_arcsec": pixscale * width,
        "height_arcsec": pixscale * height,
        "radius": radius,
        "pixscale": pixscale,
        "orientation": math.degrees(math.atan2(cd[0, 1], cd[1, 1])) % 360.0,
        "parity": 1.0 if np.linalg.det(cd) < 0 else -1.0,
    }
