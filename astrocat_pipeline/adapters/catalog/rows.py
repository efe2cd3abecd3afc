"""Typed, frozen records of what the catalog holds, as :class:`CatalogStore` returns them.

Callers above the adapter read attributes, never column names; the records become dicts only
at the JSON edges (``SearchResult.to_dict``). Statuses are :class:`ImageStatus` and
:class:`SolveStatus` values, which compare equal to (and serialize as) the stored text.

The ``*_from_db`` functions build the records from rows of :mod:`.schema`'s tables; they are
the adapter's own.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, overload

from astrocat_pipeline.core.records import (
    CatalogMatch,
    FieldGeometry,
    ImageMetadata,
    ImageStatus,
    PlateSolution,
    SolveAttempt,
    SolveHints,
    SolveStatus,
)

RowMapping = Mapping[Any, Any]  # a row by column name, from SQLAlchemy or a DB-API cursor

METADATA_FIELDS = tuple(f.name for f in dataclasses.fields(ImageMetadata))
MATCH_FIELDS = tuple(f.name for f in dataclasses.fields(CatalogMatch))
GEOMETRY_COLUMNS = tuple(
    f.name for f in dataclasses.fields(FieldGeometry) if f.name != "corners_deg"
)

__all__ = ["FailureKind", "GridCard", "ImageRow", "SearchResult", "SolutionRow"]


class FailureKind(StrEnum):
    """Why the pipeline itself failed a solve (``plate_solutions.failure_kind``); a solver's own
    failure has none."""

    # No progress for longer than the stale-solve threshold: failed by the cleanup schedule so
    # that it can be retried; a nova job failed so is resumed, not uploaded again.
    STALE = "stale"


@dataclass(frozen=True)
class ImageRow:
    """One cataloged image file: where it is, how far the pipeline got with it, its normalized
    metadata (all None until it is indexed; kept after a later error) and the status of its
    content's plate solution.

    The raw header is not here: it is the one bulky column, and only an inspection view needs it
    (:meth:`CatalogStore.get_raw_header`).
    """

    partition_key: str
    image_id: int  # the row's id: stable while the file is cataloged (gallery URLs, cache names)
    root: str
    rel_path: str  # POSIX separators, relative to root
    path: str
    size_bytes: int
    mtime_ns: int
    format: str
    fingerprint: str | None  # None until image_file has read the content
    status: ImageStatus
    error_stage: str | None  # the asset that failed, with status ERROR
    error: str | None
    thumbnail_path: str | None
    # normalized metadata (core.records.ImageMetadata's fields but path and format)
    width: int | None
    height: int | None
    channels: int | None
    bit_depth: int | None
    frame_type: str | None
    object: str | None
    object_key: str | None  # the normalized designation OBJECT names, for search
    exposure_s: float | None
    date_obs: datetime | None
    camera: str | None
    telescope: str | None
    filter: str | None
    gain: float | None
    offset: float | None
    iso: int | None
    ccd_temp_c: float | None
    focal_length_mm: float | None
    pixel_size_um: float | None
    binning: int | None
    bayer_pattern: str | None
    ra_deg: float | None
    dec_deg: float | None
    has_wcs: bool | None
    created_at: datetime
    updated_at: datetime
    solution_status: SolveStatus | None  # of the content's plate solution; None: never tried


@dataclass(frozen=True)
class SolutionRow:
    """The stored plate solve of one file's content: the outcome (:meth:`to_solution`) and the
    bookkeeping around it (nova's ids, why the pipeline failed it, when)."""

    fingerprint: str
    status: SolveStatus
    solver: str | None
    geometry: FieldGeometry | None
    wcs_header: str | None
    hints_used: SolveHints | None
    elapsed_s: float | None
    error: str | None
    attempts: tuple[SolveAttempt, ...]
    failure_kind: FailureKind | None
    submission_id: int | None  # nova's, once uploaded
    job_id: int | None  # nova's, once it started a job
    created_at: datetime
    updated_at: datetime

    @property
    def stale(self) -> bool:
        """Failed by the stale-solve cleanup (no progress for too long), not by the solver."""
        return self.failure_kind is FailureKind.STALE

    def to_solution(self) -> PlateSolution:
        """The outcome alone, as the solver reported it. Its status is the plain text, as
        solvers write it: it goes on into JSON and Dagster metadata, which take no enums."""
        return PlateSolution(
            status=self.status.value,
            solver=self.solver,
            geometry=self.geometry,
            wcs_header=self.wcs_header,
            hints_used=self.hints_used,
            elapsed_s=self.elapsed_s,
            error=self.error,
            attempts=self.attempts,
        )


@dataclass(frozen=True)
class SearchResult:
    """One image a search found, with its content's plate solution (None: never tried) and the
    catalog objects in its field, in stored order (Messier objects first)."""

    image: ImageRow
    plate_solution: PlateSolution | None
    matches: tuple[CatalogMatch, ...]

    @property
    def partition_key(self) -> str:
        return self.image.partition_key

    def to_dict(self) -> dict[str, Any]:
        """The result as ``astrocat search --json`` shows it: ``partition_key``, the
        metadata fields, ``status``, ``error``, ``thumbnail_path``, ``plate_solution`` and
        ``matches``; times as ISO 8601 text."""
        image = self.image
        result: dict[str, Any] = {"partition_key": image.partition_key}
        for name in METADATA_FIELDS:
            result[name] = getattr(image, name)
        if image.date_obs is not None:
            result["date_obs"] = image.date_obs.isoformat()
        result["status"] = image.status.value
        result["error"] = image.error
        result["thumbnail_path"] = image.thumbnail_path
        result["plate_solution"] = self.plate_solution.to_dict() if self.plate_solution else None
        result["matches"] = [match.to_dict() for match in self.matches]
        return result


@dataclass(frozen=True)
class GridCard:
    """What the gallery's grid shows of one image a search found: the search's grid projection
    (:data:`~.search_query.GRID`), read without the rest of :class:`SearchResult` (no solution,
    no raw metadata, at most a few matches). Each field equals the full read's
    (``SearchResult.image``'s, ``objects`` the labels of its first matches)."""

    image_id: int
    partition_key: str
    rel_path: str
    status: ImageStatus
    object: str | None
    filter: str | None
    exposure_s: float | None
    date_obs: datetime | None
    frame_type: str | None
    has_thumbnail: bool  # a thumbnail was made (the cache may still have lost it)
    solution_status: SolveStatus | None
    objects: tuple[str, ...]  # labels of its first catalog matches, in stored order


# --- from the database ----------------------------------------------------------------------

_IMAGE_FIELDS = tuple(
    name for name in ImageRow.__dataclass_fields__ if name not in ("solution_status", "image_id")
)


def loads(value: str | None) -> Any:
    """A JSON column's value (None stays None)."""
    return json.loads(value) if value is not None else None


@overload
def utc(value: datetime | str) -> datetime: ...
@overload
def utc(value: None) -> None: ...
def utc(value: datetime | str | None) -> datetime | None:
    """A stored time as an aware UTC datetime, from SQLAlchemy's typed value or a DB-API's raw
    one (SQLite keeps naive UTC text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def image_from_db(row: RowMapping, solution_status: str | None) -> ImageRow:
    """An :class:`ImageRow` from a row of ``images`` (any extra columns are ignored); the row
    may come from SQLAlchemy or straight from a DB-API cursor."""
    values = {name: row[name] for name in _IMAGE_FIELDS}
    values["image_id"] = int(row["id"])
    values["status"] = ImageStatus(values["status"])
    for name in ("date_obs", "created_at", "updated_at"):
        values[name] = utc(values[name])
    if values["has_wcs"] is not None:
        values["has_wcs"] = bool(values["has_wcs"])
    return ImageRow(
        **values,
        solution_status=SolveStatus(solution_status) if solution_status is not None else None,
    )


def solution_from_db(row: RowMapping, prefix: str = "") -> SolutionRow:
    """A :class:`SolutionRow` from a row of ``plate_solutions`` whose column names carry
    ``prefix`` (when joined with another table)."""

    def column(name: str) -> Any:
        return row[prefix + name]

    geometry = None
    if column("ra_deg") is not None:
        geometry = FieldGeometry(
            **{name: column(name) for name in GEOMETRY_COLUMNS},
            corners_deg=tuple(
                (float(ra), float(dec)) for ra, dec in loads(column("corners")) or ()
            ),
        )
    hints = loads(column("hints_used"))
    failure_kind = column("failure_kind")
    return SolutionRow(
        fingerprint=column("fingerprint"),
        status=SolveStatus(column("status")),
        solver=column("solver"),
        geometry=geometry,
        wcs_header=column("wcs_header"),
        hints_used=SolveHints(**hints) if hints is not None else None,
        elapsed_s=column("elapsed_s"),
        error=column("error"),
        attempts=tuple(
            SolveAttempt(
                solver=a["solver"],
                hints=SolveHints(**a["hints"]) if a.get("hints") else None,
                outcome=a["outcome"],
                elapsed_s=float(a["elapsed_s"]),
            )
            for a in loads(column("attempts")) or ()
        ),
        failure_kind=FailureKind(failure_kind) if failure_kind is not None else None,
        submission_id=column("submission_id"),
        job_id=column("job_id"),
        created_at=utc(column("created_at")),
        updated_at=utc(column("updated_at")),
    )
