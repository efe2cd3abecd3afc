"""The health part of the store: aggregate reads for the library health view (how many images
are in each state, the latest failures) and the last pass of the library walker.

Every read here is an aggregate or a bounded query, never a read of the whole ``images`` table:
the library can hold 100,000 images and the health asset runs every hour. What the numbers mean
(which states count as what) is decided above the adapter, in ``cataloging/health.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from astrocat_pipeline.adapters.catalog.base import StoreBase
from astrocat_pipeline.adapters.catalog.schema import images, library_passes, plate_solutions
from astrocat_pipeline.core.records import ImageStatus, SolveStatus

__all__ = ["HealthPart", "ImageFailure", "LibraryPass", "RecordedPass", "StateCount"]

# The stage of a failed plate solve: the asset's name, as the images' error stages are.
SOLVE_STAGE = "plate_solution"


@dataclass(frozen=True)
class StateCount:
    """How many images are in one (image status, content's solve status) combination."""

    status: ImageStatus
    solution_status: SolveStatus | None  # None: the content was never solved
    images: int


@dataclass(frozen=True)
class ImageFailure:
    """One file's recorded failure: the stage that failed (the asset's name), why, and when it
    was recorded."""

    partition_key: str
    path: str
    stage: str | None  # None only for an error recorded without one
    reason: str
    failed_at: datetime


@dataclass(frozen=True)
class LibraryPass:
    """What one pass of a library walker (the new-file sensor's tick) looked at and did."""

    source: str  # who walked: one row is kept per source
    elapsed_s: float
    pass_number: int  # complete walks over all roots so far
    roots: int
    offline_roots: tuple[str, ...]
    files_looked_at: int
    recorded: int  # first looks recorded in the catalog, waiting for their second look
    new: int  # new files taken (partitions added)
    changed: int  # processed files whose change has settled
    removed: int  # vanished files removed from the catalog
    removals_left: int  # vanished files left for a later pass (budget, or a run in progress)
    runs_launched: int


@dataclass(frozen=True)
class RecordedPass:
    """A stored :class:`LibraryPass` and when it was recorded."""

    library_pass: LibraryPass
    recorded_at: datetime


_PASS_COUNT_COLUMNS = (
    "elapsed_s",
    "pass_number",
    "roots",
    "files_looked_at",
    "recorded",
    "new",
    "changed",
    "removed",
    "removals_left",
    "runs_launched",
)


class HealthPart(StoreBase):
    """The store's health reads and the library walker's last pass."""

    def image_state_counts(self) -> list[StateCount]:
        """How many images there are per (image status, solve status of their content): one
        grouped query, a handful of rows whatever the library's size."""
        solution_status = plate_solutions.c.status
        query = (
            select(images.c.status, solution_status, func.count())
            .select_from(images)
            .outerjoin(plate_solutions, plate_solutions.c.fingerprint == images.c.fingerprint)
            .group_by(images.c.status, solution_status)
            .order_by(images.c.status, solution_status)
        )
        with self._reader.connect() as conn:
            rows = conn.execute(query).all()
        return [
            StateCount(
                status=ImageStatus(status),
                solution_status=SolveStatus(solved) if solved is not None else None,
                images=int(count),
            )
            for status, solved, count in rows
        ]

    def latest_failures(self, limit: int) -> list[ImageFailure]:
        """The latest failures of both kinds, at most ``limit`` of each, newest first within
        each kind: images whose step failed (status ``error``, with its stage), then images
        whose content's plate solve failed (stage ``plate_solution``; the solve's error)."""
        errors = (
            select(
                images.c.partition_key,
                images.c.path,
                images.c.error_stage,
                images.c.error,
                images.c.updated_at,
            )
            .where(images.c.status == ImageStatus.ERROR)
            .order_by(images.c.updated_at.desc(), images.c.id.desc())
            .limit(limit)
        )
        # The (status, updated_at) index of plate_solutions finds the latest failed solves; a
        # content shared by several files is one failure per file.
        failed_solves = (
            select(
                images.c.partition_key,
                images.c.path,
                plate_solutions.c.error,
                plate_solutions.c.updated_at,
            )
            .join(images, images.c.fingerprint == plate_solutions.c.fingerprint)
            .where(
                plate_solutions.c.status == SolveStatus.FAILED,
                images.c.status != ImageStatus.ERROR,  # shown with its own error above
            )
            .order_by(plate_solutions.c.updated_at.desc(), images.c.id.desc())
            .limit(limit)
        )
        with self._reader.connect() as conn:
            failures = [
                ImageFailure(key, path, stage, error or "", at)
                for key, path, stage, error, at in conn.execute(errors)
            ]
            failures += [
                ImageFailure(key, path, SOLVE_STAGE, error or "", at)
                for key, path, error, at in conn.execute(failed_solves)
            ]
        return failures

    def record_library_pass(self, library_pass: LibraryPass) -> None:
        """Keep ``library_pass`` as its source's last pass (replacing the one before)."""
        values = {name: getattr(library_pass, name) for name in _PASS_COUNT_COLUMNS}
        values["offline_roots"] = json.dumps(list(library_pass.offline_roots))
        values["recorded_at"] = self._clock()
        stmt = self._insert(library_passes).values(source=library_pass.source, **values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[library_passes.c.source],
            set_={name: stmt.excluded[name] for name in values},
        )
        with self._engine.begin() as conn:
            conn.execute(stmt)

    def last_library_pass(self, source: str) -> RecordedPass | None:
        """The last pass ``source`` recorded, or None if it never recorded one."""
        with self._reader.connect() as conn:
            row = conn.execute(
                select(library_passes).where(library_passes.c.source == source)
            ).first()
        if row is None:
            return None
        values = row._mapping
        library_pass = LibraryPass(
            source=values["source"],
            offline_roots=tuple(json.loads(values["offline_roots"])),
            **{name: values[name] for name in _PASS_COUNT_COLUMNS},
        )
        return RecordedPass(library_pass=library_pass, recorded_at=values["recorded_at"])
