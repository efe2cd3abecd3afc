"""The library health view: AstroCat's admin dashboard, with no Dagster in it.

:func:`read_library_health` gathers what the catalog and the thumbnail cache say (aggregate
queries only, see ``adapters/catalog/health.py``); the rest decides, over those typed records:

- the states (:func:`count_states`): every image is in exactly one of *not read yet*, *error*
  or *indexed*, and every indexed image in exactly one solve state: *solved*, *unsolved* (its
  plate solve failed), *waiting for a solve* (pending, submitted to nova, or being solved),
  *skipped* (a calibration frame, or no solver configured) or *not solved yet* (no solve
  recorded: its run is still to come, or its plate_solution step did not run). An image whose
  step failed counts as *error* whatever its content's solve says;
- which failures are the latest (:func:`latest_failures`): a step's error and a failed plate
  solve alike, newest first;
- the markdown tables the Dagster UI shows (:class:`LibraryHealth`).

Held removals (files a pass would remove but that wait for a user's confirmation) are not
shown: the catalog does not hold them yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from astrocat_pipeline.adapters.catalog import (
    CatalogStore,
    ImageFailure,
    RecordedPass,
    StateCount,
)
from astrocat_pipeline.adapters.thumbnail_store import CacheStats, ThumbnailStore
from astrocat_pipeline.cataloging.library_sync import PASS_SOURCE
from astrocat_pipeline.core.records import ImageStatus, SolveStatus

# Failures listed: a screenful, enough to see a pattern (one stage, one folder) at a glance.
LATEST_FAILURES = 20
# A reason longer than this is cut in the table (a whole traceback would drown it); the file's
# own partition shows the full message.
REASON_MAX_CHARS = 300

_WAITING = frozenset({SolveStatus.PENDING, SolveStatus.SUBMITTED, SolveStatus.PROCESSING})
# Characters markdown would take as formatting in a table cell.
_MARKDOWN_SPECIAL = "\\`*_[]<>|#"


@dataclass(frozen=True)
class StateCounts:
    """How many images are in each state (see the module's docstring for what each means)."""

    not_read_yet: int = 0
    error: int = 0
    indexed: int = 0
    solved: int = 0
    unsolved: int = 0
    waiting_for_solve: int = 0
    skipped: int = 0
    not_solved_yet: int = 0

    @property
    def images(self) -> int:
        return self.not_read_yet + self.error + self.indexed

    def as_ints(self) -> dict[str, int]:
        """Every count by name, with the total as ``images``."""
        return {
            "images": self.images,
            "indexed": self.indexed,
            "error": self.error,
            "not_read_yet": self.not_read_yet,
            "solved": self.solved,
            "unsolved": self.unsolved,
            "waiting_for_solve": self.waiting_for_solve,
            "skipped": self.skipped,
            "not_solved_yet": self.not_solved_yet,
        }


def count_states(counts: Iterable[StateCount]) -> StateCounts:
    """The states' counts from the catalog's (image status, solve status) groups."""
    totals = dict.fromkeys(StateCounts.__dataclass_fields__, 0)
    for group in counts:
        if group.status == ImageStatus.DISCOVERED:
            totals["not_read_yet"] += group.images
            continue
        if group.status == ImageStatus.ERROR:
            totals["error"] += group.images
            continue
        totals["indexed"] += group.images
        solve = group.solution_status
        if solve is None:
            totals["not_solved_yet"] += group.images
        elif solve == SolveStatus.SOLVED:
            totals["solved"] += group.images
        elif solve == SolveStatus.FAILED:
            totals["unsolved"] += group.images
        elif solve == SolveStatus.SKIPPED:
            totals["skipped"] += group.images
        elif solve in _WAITING:
            totals["waiting_for_solve"] += group.images
        else:  # a SolveStatus added without a bucket here: fail loudly, not miscount
            raise ValueError(f"no health state for the solve status {solve!r}")
    return StateCounts(**totals)


def latest_failures(
    failures: Iterable[ImageFailure], limit: int = LATEST_FAILURES
) -> tuple[ImageFailure, ...]:
    """The ``limit`` most recent failures, newest first (ties in path order)."""
    ordered = sorted(failures, key=lambda f: f.path)
    ordered.sort(key=lambda f: f.failed_at, reverse=True)
    return tuple(ordered[:limit])


@dataclass(frozen=True)
class LibraryHealth:
    """The library's health at one moment: state counts, latest failures, the new-file
    sensor's last pass (None: it never ran) and the thumbnail cache's size."""

    states: StateCounts
    failures: tuple[ImageFailure, ...]
    last_pass: RecordedPass | None
    thumbnails: CacheStats
    checked_at: datetime
    held_removals: int = 0  # files gone from disk whose removal waits for confirm_removals

    def states_table(self) -> str:
        """The counts by state as a markdown table."""
        s = self.states
        rows = [
            ("indexed", s.indexed, "metadata read"),
            ("- solved", s.solved, "indexed, plate solved"),
            ("- unsolved", s.unsolved, "indexed, the plate solve failed"),
            (
                "- waiting for a solve",
                s.waiting_for_solve,
                "indexed, the solve is pending, submitted or running",
            ),
            ("- skipped", s.skipped, "indexed, a calibration frame or no solver configured"),
            ("- not solved yet", s.not_solved_yet, "indexed, no solve recorded yet"),
            ("error", s.error, "a step failed on the file (see the latest failures)"),
            ("not read yet", s.not_read_yet, "found, waiting for its first run"),
            ("total", s.images, "images in the catalog"),
            (
                "held removals",
                self.held_removals,
                "of them, gone from disk: removal waits for the confirm_removals job",
            ),
        ]
        return markdown_table(("state", "images", "meaning"), rows)

    def failures_table(self) -> str:
        """The latest failures (when, file, stage, reason) as a markdown table."""
        rows = [
            (
                f.failed_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                code_span(f.path),
                code_span(f.stage) if f.stage else "",
                shorten(f.reason, REASON_MAX_CHARS),
            )
            for f in self.failures
        ]
        return markdown_table(("failed at", "file", "stage", "reason"), rows)

    def last_pass_table(self) -> str:
        """The new-file sensor's last pass as a markdown table."""
        if self.last_pass is None:
            return "_The new-file sensor has not recorded a pass yet._"
        p = self.last_pass.library_pass
        age_s = (self.checked_at - self.last_pass.recorded_at).total_seconds()
        offline = ", ".join(code_span(root) for root in p.offline_roots) or "none"
        rows = [
            (
                "finished at",
                self.last_pass.recorded_at.strftime("%Y-%m-%d %H:%M:%S UTC")
                + f" ({_age(age_s)} before this check)",
            ),
            ("took", f"{p.elapsed_s:.1f} s"),
            ("complete walks of the roots so far", p.pass_number),
            ("online roots", f"{p.roots - len(p.offline_roots)} of {p.roots}"),
            ("offline roots", offline),
            ("files looked at", p.files_looked_at),
            ("recorded for a second look", p.recorded),
            ("new", p.new),
            ("changed", p.changed),
            ("removed", p.removed),
            ("removals left for the next pass", p.removals_left),
            ("runs launched", p.runs_launched),
        ]
        return markdown_table(("", "last pass"), rows)

    def last_pass_ints(self) -> dict[str, int]:
        """The last pass's counts by name (empty when there was none)."""
        if self.last_pass is None:
            return {}
        p = self.last_pass.library_pass
        return {
            "files_looked_at": p.files_looked_at,
            "recorded": p.recorded,
            "new": p.new,
            "changed": p.changed,
            "removed": p.removed,
            "removals_left": p.removals_left,
            "offline_roots": len(p.offline_roots),
        }


def read_library_health(
    store: CatalogStore,
    thumbnails: ThumbnailStore,
    checked_at: datetime,
    limit: int = LATEST_FAILURES,
) -> LibraryHealth:
    """The library's health now: four small catalog queries and the cache's size."""
    return LibraryHealth(
        states=count_states(store.image_state_counts()),
        failures=latest_failures(store.latest_failures(limit), limit),
        last_pass=store.last_library_pass(PASS_SOURCE),
        thumbnails=thumbnails.stats(),
        checked_at=checked_at,
        held_removals=store.count_held_removals(),
    )


# --- markdown ---------------------------------------------------------------------------------


def escape_markdown(text: str) -> str:
    """``text`` as literal text in one markdown table cell: formatting characters escaped, line
    breaks made spaces."""
    text = " ".join(text.split())
    return "".join(f"\\{c}" if c in _MARKDOWN_SPECIAL else c for c in text)


def code_span(text: str) -> str:
    """``text`` in a code span inside a table cell (a pipe still needs its backslash there;
    a backtick, which would end the span, becomes a quote)."""
    return "`" + " ".join(text.split()).replace("`", "'").replace("|", "\\|") + "`"


def shorten(text: str, max_chars: int) -> str:
    """``text`` escaped for a table cell, cut to ``max_chars`` characters of the original."""
    if len(text) > max_chars:
        return escape_markdown(text[: max_chars - 1]) + "…"
    return escape_markdown(text)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-style markdown table (what the Dagster UI renders); ``_none_`` without rows.

    Cells go in as they are: callers escape text from the catalog with :func:`escape_markdown`
    or :func:`code_span`.
    """
    if not rows:
        return "_none_"
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{max(seconds, 0):.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
