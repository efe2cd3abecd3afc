"""The per-file work behind each asset, shared by the Dagster assets and the ``astrocat``
command. Composes core and adapters; never imports dagster.

Each step reads what it needs from the catalog, records its result there and returns a
:class:`StepOutcome` for the caller to report. Expected problems with one file (unreadable,
unsupported, no solution) are outcomes with a status and a message naming the file; the batch
goes on. Anything unexpected propagates out of the step to :func:`run_file_step`, the one
per-file boundary: it records any exception as that file's error (stage, type, message) unless
shared infrastructure failed, which it retries and then lets fail the run.
"""

from __future__ import annotations

import base64
import dataclasses
import errno
import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from astropy.wcs import WCS

from astrocat_pipeline.adapters.catalog import (
    CatalogStore,
    ImageNotFoundError,
    ImageRow,
    SolutionRow,
    is_unavailable,
)
from astrocat_pipeline.adapters.solvers import PlateSolver, ProgressCallback, SolveProgress
from astrocat_pipeline.adapters.thumbnail_store import ThumbnailStore
from astrocat_pipeline.cataloging.file_pass import FilePass
from astrocat_pipeline.cataloging.neighbours import Neighbour, find_neighbour, merged_hints
from astrocat_pipeline.cataloging.objects import object_key, object_position
from astrocat_pipeline.cataloging.solution_check import SolutionChecker
from astrocat_pipeline.cataloging.thumbnails import render_file_thumbnail
from astrocat_pipeline.core.errors import AstrocatError, InfrastructureError, InvalidSolutionError
from astrocat_pipeline.core.fingerprint import content_fingerprint
from astrocat_pipeline.core.hints import hint_disagreements, solve_hints, usable_hints
from astrocat_pipeline.core.loading import ImageHeader, read_header
from astrocat_pipeline.core.metadata import normalize_metadata
from astrocat_pipeline.core.records import (
    ImageMetadata,
    ImageStatus,
    PlateSolution,
    SolveHints,
    SolveStatus,
)
from astrocat_pipeline.core.sky_catalog import ObjectCatalog, match_field
from astrocat_pipeline.core.solution import solution_from_wcs
from astrocat_pipeline.core.solution_check import SolutionCheck
from astrocat_pipeline.core.star_detect import DetectedStars
from astrocat_pipeline.core.thumbnail import encode_jpeg
from astrocat_pipeline.core.tuning import (
    INFRA_RETRY_ATTEMPTS,
    INFRA_RETRY_BACKOFF_FACTOR,
    INFRA_RETRY_FIRST_DELAY_S,
    THUMBNAIL_JPEG_QUALITY,
    THUMBNAIL_MAX_SIZE_PX,
)
from astrocat_pipeline.core.wcs_geometry import (
    celestial_wcs,
    field_geometry,
    wcs_from_header_text,
)

PREVIEW_SIZE_PX = 256
# Finds the neighbour that hints a frame from its metadata and own hints (None: none fits).
NeighbourLookup = Callable[[ImageMetadata, SolveHints], Neighbour | None]


# The statuses of a StepOutcome. Results, recorded as done: the step did its work
# ("ok"), found it already done ("reused"), had nothing to do for this file ("skipped": a
# calibration frame is not solved, an unsolved frame has no matches) or ran and found no
# plate solution ("unsolved"). Failures, to be retried: the file or the step failed ("error")
# or an earlier step of this file failed or never ran ("blocked").
RESULT_STATUSES = frozenset({"ok", "reused", "skipped", "unsolved"})
FAILURE_STATUSES = frozenset({"error", "blocked"})


@dataclass(frozen=True)
class StepOutcome:
    """What one step did to one file."""

    status: str  # one of RESULT_STATUSES or FAILURE_STATUSES

    @property
    def failed(self) -> bool:
        """Whether the file's work failed here (an error, or blocked by an earlier one)."""
        return self.status in FAILURE_STATUSES

    message: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    data_version: str | None = None


# OSErrors on writing to the thumbnail cache that say the cache, not the file, is at fault: the
# disk is full or over quota, mounted read-only, or the directory is not writable.
CACHE_UNAVAILABLE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES})
# A full disk is never one file's fault, wherever it is written (the solver's scratch files too).
_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})

_LOG = logging.getLogger(__name__)
_T = TypeVar("_T")


def is_infrastructure(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure of shared infrastructure (the catalog database unavailable,
    the thumbnail cache or a scratch disk unwritable), which no file is to be blamed for."""
    if isinstance(exc, InfrastructureError) or is_unavailable(exc):
        return True
    return isinstance(exc, OSError) and exc.errno in _DISK_FULL_ERRNOS


def run_file_step(
    store: CatalogStore,
    key: str,
    stage: str,
    step: Callable[[], StepOutcome],
    *,
    log: logging.Logger = _LOG,
    sleep: Callable[[float], None] = time.sleep,
) -> StepOutcome:
    """Run one file's step at ``stage`` (an asset name): the per-file boundary (invariant 5).

    Any exception from the step that is not a failure of shared infrastructure is that file's
    error: recorded in the catalog with the stage and the exception's type and message, its
    traceback logged, and returned as an ``error`` outcome, so the batch goes on. A failure of
    infrastructure (:func:`is_infrastructure`) is never blamed on the file: the step is tried
    again after ``INFRA_RETRY_FIRST_DELAY_S``, growing by ``INFRA_RETRY_BACKOFF_FACTOR``, up to
    ``INFRA_RETRY_ATTEMPTS`` tries in all; then :class:`InfrastructureError` propagates, and the
    run fails. Steps are idempotent (upserts, one transaction per write), so a retry is safe.
    """
    return retry_infrastructure(
        key, stage, lambda: _file_boundary(store, key, stage, step, log), log=log, sleep=sleep
    )


def retry_infrastructure(
    key: str,
    stage: str,
    call: Callable[[], _T],
    *,
    log: logging.Logger = _LOG,
    sleep: Callable[[float], None] = time.sleep,
) -> _T:
    """``call()``, tried again while it fails for shared infrastructure (:func:`is_infrastructure`):
    after ``INFRA_RETRY_FIRST_DELAY_S``, growing by ``INFRA_RETRY_BACKOFF_FACTOR``, up to
    ``INFRA_RETRY_ATTEMPTS`` tries in all; then :class:`InfrastructureError`, naming ``stage``
    of the file of partition ``key`` and blaming no file. Any other exception propagates."""
    delay_s = INFRA_RETRY_FIRST_DELAY_S
    for attempt in range(1, INFRA_RETRY_ATTEMPTS + 1):
        try:
            return call()
        except Exception as exc:
            if not is_infrastructure(exc):
                raise
            if attempt == INFRA_RETRY_ATTEMPTS:
                raise InfrastructureError(
                    f"shared infrastructure unavailable after {attempt} tries over "
                    f"{_waited_s(attempt):g} s, at {stage} of {key}, no file blamed: "
                    f"{type(exc).__name__}: {_first_line(exc)}"
                ) from exc
            log.warning(
                f"{key}: {stage}: shared infrastructure unavailable "
                f"({type(exc).__name__}: {_first_line(exc)}); try {attempt + 1} of "
                f"{INFRA_RETRY_ATTEMPTS} in {delay_s:g} s"
            )
            sleep(delay_s)
            delay_s *= INFRA_RETRY_BACKOFF_FACTOR
    raise AssertionError("unreachable: the last try returns or raises")


def _file_boundary(
    store: CatalogStore,
    key: str,
    stage: str,
    step: Callable[[], StepOutcome],
    log: logging.Logger,
) -> StepOutcome:
    """The step's outcome, or any exception but infrastructure's as the file's error."""
    try:
        return step()
    except Exception as exc:  # the per-file boundary: every exception is someone's failure
        if is_infrastructure(exc):
            raise
        message = f"{key}: {stage} failed: {type(exc).__name__}: {_first_line(exc)}"
        log.error(message, exc_info=exc)
        try:
            store.record_error(key, stage, message)  # infrastructure failing here is retried
        except ImageNotFoundError:
            message += " (not recorded: the file has no inventory row)"
        return StepOutcome("error", message, {"exception": type(exc).__name__})


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "(no message)"


def _waited_s(attempts: int) -> float:
    return sum(
        INFRA_RETRY_FIRST_DELAY_S * INFRA_RETRY_BACKOFF_FACTOR**n for n in range(attempts - 1)
    )


def _image_row(store: CatalogStore, key: str) -> ImageRow:
    row = store.get_image(key)
    if row is None:
        raise LookupError(
            f"partition {key!r} has no inventory row in the catalog: partitions are added by "
            "the new-file sensor or `astrocat index`, which record the file's path first"
        )
    return row


# The recorded errors that keep a step from running: those of the steps before it that it
# reads from the catalog. Not its own (a retry must do the work again) nor a sibling's (a
# thumbnail that failed does not keep the frame from being solved). Metadata needs only the
# fingerprint: an inventory error still recorded is from before the inventory that gave it.
_BLOCKING_STAGES = {
    "image_metadata": frozenset(),
    "image_thumbnail": frozenset({"image_file", "image_metadata"}),
    "plate_solution": frozenset({"image_file", "image_metadata"}),
    "catalog_matches": frozenset({"image_file", "image_metadata"}),
}


def _upstream_problem(row: ImageRow, stage: str) -> StepOutcome | None:
    if row.status == ImageStatus.ERROR and row.error_stage in _BLOCKING_STAGES[stage]:
        return StepOutcome("blocked", f"not processed: {row.error}")
    if not row.fingerprint:
        return StepOutcome("blocked", "not processed: the file has not been inventoried yet")
    return None


def _pass_for(row: ImageRow, file_pass: FilePass | None) -> FilePass | None:
    """``file_pass`` if it is a read of this row's file (and, once inventoried, of the content
    the catalog recorded), else None."""
    if file_pass is None or file_pass.path != row.path:
        return None
    if row.fingerprint is not None and file_pass.fingerprint != row.fingerprint:
        return None
    return file_pass


def record_file(store: CatalogStore, key: str, file_pass: FilePass | None = None) -> StepOutcome:
    """Inventory: size, mtime and the content fingerprint (the data version downstream).

    With ``file_pass`` (the file read once for all its steps), its fingerprint, and the star
    list found in the same read is stored for the solver."""
    row = _image_row(store, key)
    path = Path(row.path)
    file_pass = file_pass if file_pass is not None and file_pass.path == row.path else None
    if file_pass is not None:
        fingerprint, size_bytes, mtime_ns = (
            file_pass.fingerprint,
            file_pass.size_bytes,
            file_pass.mtime_ns,
        )
    else:
        try:
            stat = path.stat()
            fingerprint = content_fingerprint(path)
        except OSError as exc:
            message = f"{path}: cannot read file ({exc.strerror or exc})"
            store.record_error(key, "image_file", message)
            return StepOutcome("error", message, {"path": str(path)})
        size_bytes, mtime_ns = stat.st_size, stat.st_mtime_ns
    # A new file with the content of a removed one (moved or renamed while it was gone) takes
    # over its tombstone's metadata, matches and thumbnail, in the same transaction.
    restored_from = store.record_file(
        key,
        fingerprint=fingerprint,
        size_bytes=size_bytes,
        mtime_ns=mtime_ns,
        adopt_tombstone=row.status == ImageStatus.DISCOVERED,
    )
    metadata: dict[str, Any] = {
        "path": str(path),
        "root": row.root,
        "rel_path": row.rel_path,
        "format": row.format,
        "size_bytes": size_bytes,
        "fingerprint": fingerprint,
    }
    if file_pass is not None:
        header = file_pass.header
        if file_pass.stars is not None and header.width and header.height:
            store.save_star_list(fingerprint, header.width, header.height, file_pass.stars)
            metadata["stars_found"] = len(file_pass.stars)
        metadata["file_reads"] = file_pass.reads
    if restored_from is not None:
        metadata["restored_from"] = restored_from
    return StepOutcome("ok", metadata=metadata, data_version=fingerprint)


def extract_metadata(
    store: CatalogStore,
    key: str,
    catalog: ObjectCatalog | None,
    file_pass: FilePass | None = None,
) -> StepOutcome:
    """Normalized metadata and the raw header, from the header only (the one ``file_pass``
    read, when given)."""
    row = _image_row(store, key)
    if (problem := _upstream_problem(row, "image_metadata")) is not None:
        return problem
    file_pass = _pass_for(row, file_pass)
    try:
        header = file_pass.header if file_pass is not None else read_header(Path(row.path))
    except AstrocatError as exc:
        store.record_error(key, "image_metadata", str(exc))
        return StepOutcome("error", str(exc), {"path": row.path})
    metadata = normalize_metadata(row.path, header)
    store.record_metadata(
        key, metadata, header.keywords, object_key=object_key(catalog, metadata.object)
    )
    return StepOutcome(
        "ok", metadata={k: v for k, v in metadata.to_dict().items() if v is not None}
    )


def make_thumbnail(
    store: CatalogStore,
    thumbnails: ThumbnailStore,
    key: str,
    max_size_px: int = THUMBNAIL_MAX_SIZE_PX,
    file_pass: FilePass | None = None,
) -> StepOutcome:
    """The auto-stretched JPEG preview in the thumbnail cache (rendered by ``file_pass``'s read
    when given, at the default size)."""
    row = _image_row(store, key)
    if (problem := _upstream_problem(row, "image_thumbnail")) is not None:
        return problem
    file_pass = _pass_for(row, file_pass)
    if (
        file_pass is not None
        and file_pass.thumbnail is not None
        and file_pass.jpeg is not None
        and file_pass.stretch is not None
    ):
        # The one-pass read rendered it (a new content: no stretch was kept for it).
        image, stretch, jpeg = file_pass.thumbnail, file_pass.stretch, file_pass.jpeg
    else:
        # The stretch of the content's last thumbnail (any size): applied again, not recomputed.
        kept = store.get_thumbnail_stretch(key)
        if kept is None or kept.get("fingerprint") != row.fingerprint:
            kept = None
        try:
            image, stretch = render_file_thumbnail(Path(row.path), max_size_px, kept)
        except AstrocatError as exc:
            store.record_error(key, "image_thumbnail", str(exc))
            return StepOutcome("error", str(exc), {"path": row.path})
        jpeg = encode_jpeg(image, THUMBNAIL_JPEG_QUALITY)
    try:
        target = thumbnails.write(row.path, jpeg)
    except OSError as exc:
        if exc.errno in CACHE_UNAVAILABLE_ERRNOS:
            raise InfrastructureError(
                f"thumbnail cache {thumbnails.cache_dir}: cannot write "
                f"({exc.strerror or exc}); no thumbnail can be made until it is fixed"
            ) from exc
        raise
    store.record_thumbnail(key, str(target), {**stretch, "fingerprint": row.fingerprint})
    return StepOutcome(
        "ok",
        metadata={
            "thumbnail_path": str(target),
            "size_px": f"{image.width}x{image.height}",
            "stretch": stretch,
            "preview_markdown": preview_markdown(image),
        },
    )


def preview_markdown(image: Any) -> str:
    """A small inline JPEG as markdown, which the Dagster UI renders."""
    preview = image.copy()
    preview.thumbnail((PREVIEW_SIZE_PX, PREVIEW_SIZE_PX))
    buffer = io.BytesIO()
    preview.save(buffer, format="JPEG", quality=75)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"![thumbnail](data:image/jpeg;base64,{encoded})"


def stale_solve_message(stale_after_s: float) -> str:
    """The cleanup schedule's message for a solve it failed (the catalog also marks the solve
    stale, which is what a retry goes by: a nova job is resumed, not uploaded again)."""
    return f"no progress for more than {stale_after_s:g} s; marked failed for a retry"


def _run_solver(
    solver: PlateSolver,
    path: Path,
    width: int,
    height: int,
    hints: SolveHints,
    resume: SolveProgress | None,
    on_progress: ProgressCallback | None,
    stars: DetectedStars | None = None,
    checker: SolutionChecker | None = None,
    neighbour: SolveHints | None = None,
) -> PlateSolution:
    """The solver on the file, hinted and then, when the solver leaves it to its caller, blind
    (not after resuming a job: that job already was the hinted or the blind one).

    ``neighbour``: hints from a solved frame of the same night (cataloging/neighbours.py). A
    solver that searches several times in one call tries them first; for one whose every call
    is an upload (nova), they only fill in what the frame's own hints lack, in the same upload.

    Every answer passes ``checker`` (the independent Hipparcos check, invariant 9): the solver
    gets it to check each of its matches, and its answer is checked again here, so that no
    solver's WCS is taken unchecked; a rejected one is a failed solution saying why."""
    plan: list[SolveHints | None] = [hints]
    if neighbour is not None and solver.caller_blind_fallback and resume is None:
        plan = [merged_hints(hints, neighbour) or hints]
        neighbour = None
    if solver.caller_blind_fallback and usable_hints(hints) is not None and resume is None:
        plan.append(None)
    solutions: list[PlateSolution] = []

    def verify(wcs: WCS, used: DetectedStars | None) -> SolutionCheck:
        assert checker is not None
        return checker.verify(wcs, width, height, used if used is not None else stars)

    with solver.input_file(path) as source:
        for attempt_hints in plan:
            solution = solver.solve(
                source,
                width,
                height,
                attempt_hints,
                resume=resume,
                on_progress=on_progress,
                stars=stars,
                verify=verify if checker is not None else None,
                neighbour=neighbour,
            )
            if checker is not None:
                solution = checker.checked(solution, width, height, stars)
            resume = None
            solutions.append(solution)
            if solution.status == "solved":
                break
    if len(solutions) == 1:
        return solutions[0]
    # Every call's attempts, and the time they took together.
    attempts = tuple(attempt for solution in solutions for attempt in solution.attempts)
    return dataclasses.replace(
        solutions[-1],
        attempts=attempts,
        elapsed_s=sum(attempt.elapsed_s for attempt in attempts),
    )


def solve_file(
    path: Path,
    solver: PlateSolver,
    catalog: ObjectCatalog | None = None,
    *,
    resume: SolveProgress | None = None,
    on_progress: ProgressCallback | None = None,
    header: ImageHeader | None = None,
    stars: DetectedStars | None = None,
    checker: SolutionChecker | None = None,
    neighbours: NeighbourLookup | None = None,
) -> tuple[PlateSolution, str]:
    """Plate-solve one file: its own header WCS if it has one, else the configured solver.

    ``resume`` is an earlier, unfinished solve of this file to wait for (see
    :class:`~astrocat_pipeline.adapters.solvers.base.SolveProgress`); ``on_progress`` gets the
    solver's progress. ``header`` (read from the file when None) and ``stars`` (the frame's
    star list, found by the solver when None) come from an earlier read of the file.
    ``checker`` checks every WCS, the header's and the solver's, against Hipparcos stars
    (None: a :class:`~astrocat_pipeline.cataloging.solution_check.SolutionChecker` of its own,
    which reads the catalogue; pass one to share it between files). ``neighbours`` finds a
    solved frame of the same night to hint this one when its own hints are weak (None: no
    neighbours). Returns the solution and the frame type read from the header.
    """
    header = header if header is not None else read_header(path)
    metadata = normalize_metadata(str(path), header)
    if not metadata.frame_type.shows_sky:  # calibration frames have no stars to solve
        return (
            PlateSolution(status="skipped", error=f"{metadata.frame_type} frame: no sky to solve"),
            metadata.frame_type,
        )
    if header.width is None or header.height is None:
        problem = header.keywords.get("RAW:DecodeError", "its size is unknown")
        return (
            PlateSolution(status="failed", error=f"{path}: cannot be solved: {problem}"),
            metadata.frame_type,
        )
    hints = solve_hints(metadata, object_position(catalog, metadata.object))
    checker = checker if checker is not None else SolutionChecker()
    wcs = celestial_wcs(header.fits_header) if header.fits_header is not None else None
    header_problem = None
    if wcs is not None:
        try:
            solution = solution_from_wcs(
                wcs,
                header.width,
                header.height,
                solver="header",
                image=path,
                source="its header",
                bottom_up=header.bottom_up,
            )
        except InvalidSolutionError:
            pass  # a header WCS that does not cover the frame's corners: solve instead
        else:
            assert solution.geometry is not None
            problems = hint_disagreements(solution.geometry, hints)
            verdict = checker.verify(wcs, header.width, header.height, stars)
            if not problems and not verdict.rejected:
                return solution, metadata.frame_type
            # Never stored as a solution (a false one is worse than none): solved instead.
            if problems:
                header_problem = "its header WCS disagrees with its hints: " + "; ".join(problems)
            else:
                header_problem = f"its header WCS was rejected: {verdict.reason}"
    neighbour = neighbours(metadata, hints) if neighbours is not None and resume is None else None
    solution = _run_solver(
        solver,
        path,
        header.width,
        header.height,
        hints,
        resume,
        on_progress,
        stars,
        checker,
        neighbour.hints if neighbour is not None else None,
    )
    if solution.wcs_header and not header.bottom_up:
        # Solvers see the array (row 0 first); rotation and parity describe the picture as its
        # format shows it, row 0 at the top.
        solved = wcs_from_header_text(solution.wcs_header)
        geometry = field_geometry(solved, header.width, header.height, bottom_up=False)
        solution = dataclasses.replace(solution, geometry=geometry)
    if solution.status == "solved" and solution.geometry is not None:
        # Whichever solver it came from, a field that disagrees with the frame's own hints is
        # a possible false solution: recorded as a failure that says why (invariant 9).
        problems = hint_disagreements(solution.geometry, hints)
        if problems:
            solution = dataclasses.replace(
                solution,
                status="failed",
                geometry=None,
                wcs_header=None,
                error=f"{path.name}: the {solution.solver} solution disagrees with the "
                "header's hints (a possible false solution): " + "; ".join(problems),
            )
    if header_problem is not None and solution.status != "solved":
        solution = dataclasses.replace(
            solution, error=f"{path.name}: {header_problem}; and {solution.error}"
        )
    return solution, metadata.frame_type


def _resumable(row: SolutionRow | None) -> SolveProgress | None:
    """The nova job an earlier run left waiting (or the cleanup failed while waiting)."""
    if row is None or row.solver != "nova" or not row.submission_id:
        return None
    waiting = row.status in (SolveStatus.SUBMITTED, SolveStatus.PROCESSING)
    stale = row.status == SolveStatus.FAILED and row.stale
    if not (waiting or stale):
        return None
    job_id = row.job_id
    return SolveProgress(
        submission_id=int(row.submission_id),
        job_id=int(job_id) if job_id is not None else None,
        status="processing" if job_id is not None else "submitted",
    )


def solve_plate(
    store: CatalogStore,
    solver: PlateSolver,
    key: str,
    catalog: ObjectCatalog | None = None,
    *,
    force: bool = False,
    file_pass: FilePass | None = None,
    checker: SolutionChecker | None = None,
    use_neighbours: bool = True,
) -> StepOutcome:
    """The frame's plate solution, reused when its content was solved before (unless forced).

    Every WCS is checked with ``checker`` before it is stored (see :func:`solve_file`). A frame
    whose own hints are weak is hinted by a solved frame of the same night
    (:mod:`~astrocat_pipeline.cataloging.neighbours`) unless ``use_neighbours`` is False.

    The solver works from the frame's star list (found by the one read of the file, stored
    with the catalog) and its header (``file_pass``'s, else read again: a few kB); only a frame
    without a stored list is read by the solver.

    Progress is recorded as it happens: ``pending``, then ``processing`` while solve-field runs,
    or ``submitted``/``processing`` with nova's submission and job ids while nova works (each
    poll refreshes ``updated_at``, so the stale-solve cleanup leaves a live job alone), and a
    nova job an interrupted run left waiting is resumed instead of uploaded again.
    """
    row = _image_row(store, key)
    if (problem := _upstream_problem(row, "plate_solution")) is not None:
        return problem
    fingerprint = row.fingerprint
    assert fingerprint is not None  # _upstream_problem skips a file without one
    previous = store.get_solution_row(fingerprint)
    if previous is not None and previous.status == SolveStatus.SOLVED and not force:
        reused = _solution_from_row_dict(store, fingerprint)
        store.index_image_footprint(key)
        return StepOutcome("reused", metadata=_solution_metadata(reused, reused=True))
    solver_name = solver.name
    # A solver that cannot resume (local, none) ignores the job an earlier run left.
    resume = _resumable(previous) if not force else None
    if solver_name is not None:  # a solver that solves, not the none solver
        store.set_solution_status(fingerprint, "pending", solver_name)

    def on_progress(progress: SolveProgress) -> None:
        store.set_solution_status(
            fingerprint,
            progress.status,
            progress.solver or solver_name,
            submission_id=progress.submission_id,
            job_id=progress.job_id,
        )

    file_pass = _pass_for(row, file_pass)
    crashed = True  # the file or the solver failed, rather than the solver finding nothing
    try:
        header = file_pass.header if file_pass is not None else read_header(Path(row.path))
        stars = _stored_stars(store, fingerprint, header, file_pass)
        solution, _ = solve_file(
            Path(row.path),
            solver,
            catalog,
            resume=resume,
            on_progress=on_progress,
            header=header,
            stars=stars,
            checker=checker,
            neighbours=_neighbour_lookup(store, fingerprint, row) if use_neighbours else None,
        )
        # A solver's own "failed" (no solution, or one it was not sure of) is a result; one
        # without a solver is a frame that could not be handed to it (its size is unreadable).
        crashed = solution.status == "failed" and solution.solver is None
    except AstrocatError as exc:
        solution = PlateSolution(status="failed", solver=solver_name, error=str(exc))
    except (OSError, ValueError) as exc:
        if is_infrastructure(exc):  # the solver's scratch disk is full: not this file's fault
            raise
        # The file vanished or is not what its header says: recorded, and the batch goes on.
        solution = PlateSolution(status="failed", solver=solver_name, error=f"{row.path}: {exc}")
    store.save_solution(fingerprint, solution)
    if solution.status in ("solved", "skipped"):
        status = "ok"
    elif crashed:
        status = "error"
    elif solution.status == "failed":
        status = "unsolved"
    else:  # a nova job still submitted or processing when its deadline passed
        status = "error"
    return StepOutcome(status, solution.error, _solution_metadata(solution, reused=False))


def _neighbour_lookup(store: CatalogStore, fingerprint: str, row: ImageRow) -> NeighbourLookup:
    def lookup(metadata: ImageMetadata, hints: SolveHints) -> Neighbour | None:
        return find_neighbour(
            store, metadata, hints, fingerprint=fingerprint, object_key=row.object_key
        )

    return lookup


def _stored_stars(
    store: CatalogStore, fingerprint: str, header: ImageHeader, file_pass: FilePass | None
) -> DetectedStars | None:
    """The frame's star list: the one-pass read's, else the catalog's for its content; None
    when neither has one for a frame of this size (the solver then finds the stars itself)."""
    if file_pass is not None and file_pass.stars is not None:
        return file_pass.stars
    stored = store.get_star_list(fingerprint)
    if stored is None or (stored.width_px, stored.height_px) != (header.width, header.height):
        return None
    return stored.stars


def _solution_from_row_dict(store: CatalogStore, fingerprint: str) -> PlateSolution:
    solution = store.get_solution(fingerprint)
    if solution is None:  # deleted between the two reads
        raise LookupError(f"plate solution of {fingerprint} vanished while being read")
    return solution


def _solution_metadata(solution: PlateSolution, reused: bool) -> dict[str, Any]:
    out = {k: v for k, v in solution.to_dict().items() if v is not None}
    # "status" is the step's own outcome (ok, reused, error) in the asset metadata.
    out["solve_status"] = out.pop("status")
    out["reused"] = reused
    return out


def match_catalog(
    store: CatalogStore,
    catalog: ObjectCatalog,
    key: str,
    thumbnails: ThumbnailStore | None = None,
) -> StepOutcome:
    """Catalog objects inside the solved field, with their pixel positions; with
    ``thumbnails``, also the annotated copy of the frame in the cache (objects drawn on its
    thumbnail), made from the cached thumbnail when there is one."""
    row = _image_row(store, key)
    if (problem := _upstream_problem(row, "catalog_matches")) is not None:
        return problem
    assert row.fingerprint is not None  # _upstream_problem skips a file without one
    solution = store.get_solution(row.fingerprint)
    if solution is None or solution.status != "solved" or not solution.wcs_header:
        store.replace_matches(key, [])
        if thumbnails is not None:
            thumbnails.remove_annotated(row.image_id)
        status = solution.status if solution else "not solved"
        return StepOutcome("skipped", f"no plate solution ({status})", {"match_count": 0})
    wcs = wcs_from_header_text(solution.wcs_header)
    if row.width is None or row.height is None:  # solved content, but this file's size unread
        raise ValueError(f"{row.path}: its size is not in the catalog (metadata not read yet)")
    width, height = row.width, row.height
    geometry = solution.geometry or field_geometry(wcs, width, height)
    matches = match_field(catalog, wcs, width, height, geometry)
    store.replace_matches(key, matches)
    annotated = None
    if thumbnails is not None:
        from astrocat_pipeline.cataloging.annotations import write_annotated_frame

        annotated = write_annotated_frame(store, thumbnails, row, solution, matches)
    return StepOutcome(
        "ok",
        metadata={
            "match_count": len(matches),
            **({"annotated_path": str(annotated)} if annotated is not None else {}),
            "objects": [
                f"{m.designation}"
                + (f" (M {m.messier})" if m.messier else "")
                + (f" {m.name}" if m.name else "")
                for m in matches[:25]
            ],
        },
    )
