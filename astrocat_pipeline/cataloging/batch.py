"""A batch of files through the selected per-file steps, files in parallel, results in order.

The work of the ``image_assets`` step (``defs/assets.py``) without Dagster: for each file, its
one-pass read (``file_pass.py``, when the batch records the files and a step needs their
pixels), then each selected step in the graph's order through the per-file boundary
(``steps.run_file_step``), a step blocked when one it depends on failed for that file, then
the verdicts of the selected checks. Files are worked on ``workers`` at a time in threads
(hashing, numpy, Pillow and the solver's process leave the GIL free), so a 2-core machine is
busy; the caller gets each file's :class:`FileWork` in the batch's order and turns it into
its own results (Dagster events), which is all its thread does.

Memory: a file in flight holds its content (one copy) and the working planes of its star
detection, about 3.5× its size for a 16-bit FITS frame (bench/README.md); at most ``workers``
files are in flight, and finished ones waiting for the caller hold only their results.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import traceback
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from astrocat_pipeline.adapters.catalog import CatalogStore
from astrocat_pipeline.cataloging import checks, steps
from astrocat_pipeline.cataloging.file_pass import FilePass, default_workers, read_file_pass
from astrocat_pipeline.core.errors import InfrastructureError
from astrocat_pipeline.core.sky_catalog import ObjectCatalog

__all__ = ["STAGES", "UPSTREAM", "BatchStoppedError", "FileWork", "StepFunction", "run_batch"]

# The per-file assets in the order a file's steps run (each after what it depends on).
STAGES = ("image_file", "image_metadata", "image_thumbnail", "plate_solution", "catalog_matches")
UPSTREAM: Mapping[str, frozenset[str]] = {
    "image_file": frozenset(),
    "image_metadata": frozenset({"image_file"}),
    "image_thumbnail": frozenset({"image_metadata"}),
    "plate_solution": frozenset({"image_metadata"}),
    "catalog_matches": frozenset({"plate_solution"}),
}
# The steps whose work needs the file's pixels (the one-pass read feeds them).
_READS_PIXELS = frozenset({"image_thumbnail", "plate_solution"})

StepFunction = Callable[[str, FilePass | None], steps.StepOutcome]


@dataclass(frozen=True)
class LogLine:
    """A line the caller logs (in its own thread: Dagster's log is the run's)."""

    level: int
    message: str


@dataclass
class FileWork:
    """One file's work in the batch: each selected step's outcome in order, why the failed ones
    failed, the verdicts of the selected checks on the assets that got a result, and what to
    log."""

    key: str
    outcomes: list[tuple[str, steps.StepOutcome]] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (stage, reason)
    verdicts: dict[str, checks.CheckVerdict] = field(default_factory=dict)
    log: list[LogLine] = field(default_factory=list)
    file_reads: int | None = None  # reads of the file's bytes by its one pass (None: no pass)


class BatchStoppedError(InfrastructureError):
    """Shared infrastructure stayed unavailable during a file's work: the batch stops there.
    ``work`` is what that file's steps finished before (their results stand) and its log."""

    def __init__(self, cause: InfrastructureError, work: FileWork) -> None:
        super().__init__(str(cause))
        self.work = work


class _LineLog:
    """The logger ``run_file_step`` writes to, kept as lines for the caller's thread."""

    def __init__(self, lines: list[LogLine]) -> None:
        self._lines = lines

    def _add(self, level: int, message: str, exc_info: BaseException | None = None) -> None:
        if exc_info is not None:
            message += "\n" + "".join(traceback.format_exception(exc_info)).rstrip()
        self._lines.append(LogLine(level, message))

    def info(self, message: str) -> None:
        self._add(logging.INFO, message)

    def warning(self, message: str) -> None:
        self._add(logging.WARNING, message)

    def error(self, message: str, exc_info: BaseException | None = None) -> None:
        self._add(logging.ERROR, message, exc_info)


class _NotStartedError(Exception):
    """A file's work not started: the batch had stopped before its turn."""


def _file_work(
    store: CatalogStore,
    catalog: ObjectCatalog | None,
    key: str,
    path: str | None,
    functions: Mapping[str, StepFunction],
    checks_on: Mapping[str, Sequence[str]],
    read_pass: bool,
    stop: threading.Event,
) -> FileWork:
    if stop.is_set():
        raise _NotStartedError(key)
    work = FileWork(key)
    log = _LineLog(work.log)
    file_read = None
    if read_pass and path is not None:
        try:
            file_read = read_file_pass(
                Path(path),
                thumbnail="image_thumbnail" in functions,
                stars="plate_solution" in functions,
            )
            work.file_reads = file_read.reads
        except Exception as exc:  # the steps read the file themselves and record the error
            log.warning(
                f"{key}: the one-pass read failed ({type(exc).__name__}: {exc}); its steps "
                "read the file themselves"
            )
    try:
        _run_steps(store, catalog, work, file_read, functions, checks_on, log)
    except InfrastructureError as exc:
        stop.set()  # the files whose turn has not come are not started
        raise BatchStoppedError(exc, work) from exc
    return work


def _run_steps(
    store: CatalogStore,
    catalog: ObjectCatalog | None,
    work: FileWork,
    file_read: FilePass | None,
    functions: Mapping[str, StepFunction],
    checks_on: Mapping[str, Sequence[str]],
    log: _LineLog,
) -> None:
    key = work.key
    failed_here: dict[str, str] = {}
    to_check: list[str] = []
    for stage in (s for s in STAGES if s in functions):
        upstream_failure = next(
            (failed_here[up] for up in UPSTREAM[stage] if up in failed_here), None
        )
        if upstream_failure is not None:
            outcome = steps.StepOutcome("blocked", f"not processed: {upstream_failure}")
        else:
            # The per-file boundary: any exception is this file's error, except a failure of
            # shared infrastructure, retried and then raised (InfrastructureError).
            outcome = steps.run_file_step(
                store,
                key,
                stage,
                functools.partial(functions[stage], key, file_read),
                log=log,  # type: ignore[arg-type]
            )
        work.outcomes.append((stage, outcome))
        if outcome.failed:
            reason = outcome.message or outcome.status
            # What a downstream asset of this file reports: the first failure's cause.
            if upstream_failure is not None:
                failed_here[stage] = upstream_failure
            elif outcome.status == "blocked":
                failed_here[stage] = reason.removeprefix("not processed: ")
            else:
                failed_here[stage] = f"{stage} failed: {reason}"
            work.failures.append((stage, reason))
            log.warning(f"{key}: {stage}: {reason}")
            continue
        to_check.extend(checks_on.get(stage, ()))
    if to_check:
        # The checks read the catalog too: a catalog down here is retried, then stops the batch.
        work.verdicts = steps.retry_infrastructure(
            key,
            "asset checks",
            lambda: checks.check_file(store, catalog, key, to_check),
            log=log,  # type: ignore[arg-type]
        )


@contextlib.contextmanager
def _known_warnings_ignored() -> Iterator[None]:
    """The warnings the readers and the solvers ignore where they arise (astropy's about
    non-standard FITS cards and WCS, Pillow's decompression bomb: the project bounds sizes
    itself), ignored for the whole batch.

    Python's warning filters are one list per process and ``warnings.catch_warnings`` is not
    thread-safe: a thread leaving its block puts back the list it saw on entering, which can
    undo another thread's "ignore" in the middle of its block. Such a warning then went
    through (raised as an error where warnings are errors: a demo frame's solve failed with
    FITSFixedWarning in the test suite). Set before the threads start, these filters are in
    every list a thread puts back.
    """
    from astropy.utils.exceptions import AstropyWarning
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def _paths(store: CatalogStore, keys: Sequence[str]) -> dict[str, str]:
    """The files' paths, read before any file's work starts (a catalog that goes down later is
    met by the steps, which retry); a catalog down already stops the batch at its first file."""
    try:
        rows = [store.get_image(key) for key in keys]
    except Exception as exc:
        if not steps.is_infrastructure(exc):
            raise
        cause = InfrastructureError(
            f"shared infrastructure unavailable before the batch started, no file blamed: "
            f"{type(exc).__name__}: {exc}"
        )
        raise BatchStoppedError(cause, FileWork(keys[0])) from exc
    return {row.partition_key: row.path for row in rows if row is not None}


def run_batch(
    store: CatalogStore,
    catalog: ObjectCatalog | None,
    keys: Iterable[str],
    functions: Mapping[str, StepFunction],
    checks_on: Mapping[str, Sequence[str]] | None = None,
    workers: int | None = None,
) -> Iterator[FileWork]:
    """Each file's :class:`FileWork`, in the order of ``keys``, worked on ``workers`` files at a
    time (default :func:`~astrocat_pipeline.cataloging.file_pass.default_workers`).

    ``functions`` are the selected steps by stage (``STAGES``), each called with the file's key
    and its one-pass read (None when there is none: the step reads the file itself);
    ``checks_on`` the checks to evaluate per stage, for the files whose step at that stage gave
    a result. A file is read in one pass when the batch records the files (``image_file``) and
    a selected step needs its pixels; a step run alone reads its file itself.

    When shared infrastructure stays unavailable, the files not started yet are not started,
    the ones in progress are finished (or stopped too), each is given with what its steps
    finished, and then the first :class:`BatchStoppedError` (in order) is raised.
    """
    unknown = set(functions) - set(STAGES)
    if unknown:
        raise ValueError(f"unknown stage {sorted(unknown)[0]!r}; known: {STAGES}")
    checks_on = checks_on or {}
    read_pass = "image_file" in functions and bool(_READS_PIXELS & set(functions))
    workers = workers or default_workers()
    window = 2 * workers  # finished files waiting for the caller hold only their results
    keys = list(keys)
    paths = _paths(store, keys) if read_pass else {}
    pending: deque[Future[FileWork]] = deque()
    items = iter(keys)
    stop = threading.Event()
    with (
        _known_warnings_ignored(),
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="astrocat-file") as pool,
    ):

        def submit_next() -> bool:
            key = next(items, None)
            if key is None:
                return False
            path = paths.get(key)
            pending.append(
                pool.submit(
                    _file_work, store, catalog, key, path, functions, checks_on, read_pass, stop
                )
            )
            return True

        while len(pending) < window and submit_next():
            pass
        stopped: BatchStoppedError | None = None
        try:
            while pending:
                future = pending.popleft()
                try:
                    work = future.result()
                except (CancelledError, _NotStartedError):
                    continue
                except BatchStoppedError as exc:
                    if stopped is None:
                        stopped = exc
                        for waiting in pending:  # files not started yet are not started
                            waiting.cancel()
                    work = exc.work  # what its steps finished stands
                if stopped is None:
                    submit_next()
                yield work
        finally:
            for future in pending:
                future.cancel()
        if stopped is not None:
            raise stopped
