"""The solutions part of the store: plate solutions (keyed by content fingerprint, so a moved
or renamed file reuses its solution), their progress, the stale-solve cleanup, and the catalog
objects each solved image shows."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select, update

from astrocat_pipeline.adapters.catalog.base import StoreBase, chunks, clear_stage_error, dumps
from astrocat_pipeline.adapters.catalog.rows import FailureKind, SolutionRow, solution_from_db, utc
from astrocat_pipeline.adapters.catalog.schema import (
    GEOMETRY_COLUMNS,
    MATCH_FIELDS,
    catalog_matches,
    images,
    plate_solutions,
    star_lists,
)
from astrocat_pipeline.adapters.catalog.sky_index import write_footprints
from astrocat_pipeline.core.records import CatalogMatch, FieldGeometry, PlateSolution, SolveStatus
from astrocat_pipeline.core.star_detect import DetectedStars
from astrocat_pipeline.core.targets import target_from

__all__ = ["SolutionsPart", "SolvedNeighbour", "StoredStars"]

# At most this many solved frames are read around a time (a night has a few hundred).
_NEIGHBOUR_SCAN_LIMIT = 2000
# How star lists are packed: (x_px, y_px, flux) triples of little-endian float64.
_STAR_DTYPE = np.dtype("<f8")


@dataclass(frozen=True)
class SolvedNeighbour:
    """A solved frame of the same size taken near a given time: a candidate neighbour whose
    solution can hint another frame's solve."""

    fingerprint: str
    date_obs: datetime
    object_key: str | None
    geometry: FieldGeometry


@dataclass(frozen=True)
class StoredStars:
    """A frame's star list as the catalog holds it, with the frame size its pixels refer to."""

    width_px: int
    height_px: int
    stars: DetectedStars


# The stages (asset names) whose errors a saved solution and saved matches replace.
SOLUTION_STAGE = "plate_solution"
MATCHES_STAGE = "catalog_matches"


def _solve_status(status: str) -> SolveStatus:
    try:
        return SolveStatus(status)
    except ValueError:
        expected = tuple(s.value for s in SolveStatus)
        raise ValueError(f"expected a status in {expected}, found {status!r}") from None


class SolutionsPart(StoreBase):
    """The store's plate solutions and catalog matches."""

    # -- star lists --

    def save_star_list(
        self, fingerprint: str, width_px: int, height_px: int, stars: DetectedStars
    ) -> None:
        """Keep the stars found in ``fingerprint``'s content (a ``width_px`` x ``height_px``
        frame), replacing an earlier list."""
        packed = np.column_stack([stars.x_px, stars.y_px, stars.flux]).astype(_STAR_DTYPE)
        values = {
            "width_px": int(width_px),
            "height_px": int(height_px),
            "star_count": len(stars),
            "stars": packed.tobytes(),
            "created_at": self._clock(),
        }
        stmt = self._insert(star_lists).values(fingerprint=fingerprint, **values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[star_lists.c.fingerprint],
            set_={name: stmt.excluded[name] for name in values},
        )
        with self._engine.begin() as conn:
            conn.execute(stmt)

    def get_star_list(self, fingerprint: str) -> StoredStars | None:
        """The stars stored for ``fingerprint``'s content, or None."""
        with self._reader.connect() as conn:
            row = conn.execute(
                select(
                    star_lists.c.width_px,
                    star_lists.c.height_px,
                    star_lists.c.star_count,
                    star_lists.c.stars,
                ).where(star_lists.c.fingerprint == fingerprint)
            ).first()
        if row is None:
            return None
        packed = np.frombuffer(bytes(row.stars), dtype=_STAR_DTYPE).reshape(row.star_count, 3)
        columns = [np.ascontiguousarray(packed[:, i], dtype=np.float64) for i in range(3)]
        return StoredStars(row.width_px, row.height_px, DetectedStars(*columns))

    # -- plate solutions --

    def save_solution(self, fingerprint: str, solution: PlateSolution) -> None:
        """Store the outcome of a solve of ``fingerprint``'s content (replacing an earlier one).

        An online job's submission_id/job_id are kept. A ``solved`` solution with four corners
        is also indexed for :meth:`cone_search` (its footprint and sky cells); any other outcome
        removes the content's footprint from the index.
        """
        status = _solve_status(solution.status)
        geometry = solution.geometry
        now = self._clock()
        values: dict[str, Any] = {
            "status": status,
            "solver": solution.solver,
            "corners": dumps(geometry.corners_deg) if geometry else None,
            "wcs_header": solution.wcs_header,
            "hints_used": dumps(solution.hints_used.to_dict()) if solution.hints_used else None,
            "elapsed_s": solution.elapsed_s,
            "error": solution.error,
            "failure_kind": None,  # a saved outcome is the solver's, whatever failed it before
            "attempts": dumps([a.to_dict() for a in solution.attempts]),
            "updated_at": now,
        }
        for name in GEOMETRY_COLUMNS:
            values[name] = getattr(geometry, name) if geometry else None
        stmt = self._insert(plate_solutions).values(
            fingerprint=fingerprint, created_at=now, **values
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[plate_solutions.c.fingerprint],
            set_={name: stmt.excluded[name] for name in values},
        )
        corners = geometry.corners_deg if geometry and status == SolveStatus.SOLVED else ()
        with self._engine.begin() as conn:
            conn.execute(stmt)  # on PostgreSQL this locks the row until the footprint is written
            write_footprints(conn, fingerprint, corners)
            # The outcome replaces the error an earlier try of the solve left on its images.
            clear_stage_error(conn, images.c.fingerprint == fingerprint, SOLUTION_STAGE)

    def set_solution_status(
        self,
        fingerprint: str,
        status: str,
        solver: str | None,
        *,
        submission_id: int | None = None,
        job_id: int | None = None,
        error: str | None = None,
    ) -> None:
        """Record the progress of a solve (creating the row if needed).

        ``error`` is replaced (None clears it); a None ``submission_id``/``job_id`` keeps the
        stored one, so the steps of an online job can each pass only what they learned. The
        geometry of an earlier solve is left as it is.
        """
        now = self._clock()
        stmt = self._insert(plate_solutions).values(
            fingerprint=fingerprint,
            status=_solve_status(status),
            solver=solver,
            submission_id=submission_id,
            job_id=job_id,
            error=error,
            created_at=now,
            updated_at=now,
        )
        excluded = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=[plate_solutions.c.fingerprint],
            set_={
                "status": excluded.status,
                "solver": excluded.solver,
                "error": excluded.error,
                "failure_kind": None,
                "submission_id": func.coalesce(
                    excluded.submission_id, plate_solutions.c.submission_id
                ),
                "job_id": func.coalesce(excluded.job_id, plate_solutions.c.job_id),
                "updated_at": excluded.updated_at,
            },
        )
        with self._engine.begin() as conn:
            conn.execute(stmt)

    def get_solution_row(self, fingerprint: str) -> SolutionRow | None:
        """The stored solve of ``fingerprint``'s content, or None if it was never tried."""
        with self._reader.connect() as conn:
            row = conn.execute(
                select(plate_solutions).where(plate_solutions.c.fingerprint == fingerprint)
            ).first()
        return solution_from_db(row._mapping) if row is not None else None

    def solved_neighbours(
        self,
        date_obs: datetime,
        window: timedelta,
        width_px: int,
        height_px: int,
        *,
        exclude_fingerprint: str | None = None,
        limit: int = 50,
    ) -> list[SolvedNeighbour]:
        """Solved frames of ``width_px`` x ``height_px`` pixels (the same camera and binning)
        taken within ``window`` of ``date_obs``, nearest in time first, at most ``limit``.

        One range scan of the ``date_obs`` index (``ix_images_search_order``, on live images)
        joined to the solutions by fingerprint; removed files and ``exclude_fingerprint`` (the
        frame's own content) are left out."""
        query = (
            select(
                images.c.fingerprint,
                images.c.date_obs,
                images.c.object_key,
                *(plate_solutions.c[name] for name in GEOMETRY_COLUMNS),
                plate_solutions.c.corners,
            )
            .join(plate_solutions, plate_solutions.c.fingerprint == images.c.fingerprint)
            .where(
                images.c.removed_at.is_(None),
                images.c.date_obs >= date_obs - window,
                images.c.date_obs <= date_obs + window,
                images.c.width == width_px,
                images.c.height == height_px,
                plate_solutions.c.status == SolveStatus.SOLVED,
                plate_solutions.c.ra_deg.is_not(None),
            )
            .order_by(images.c.date_obs, images.c.fingerprint)
            .limit(_NEIGHBOUR_SCAN_LIMIT)
        )
        if exclude_fingerprint is not None:
            query = query.where(images.c.fingerprint != exclude_fingerprint)
        with self._reader.connect() as conn:
            rows = conn.execute(query).mappings().all()
        found: list[SolvedNeighbour] = []
        seen: set[str] = set()
        # Nearest in time first (sorted here: the time difference is computed differently by
        # each backend, and a night holds hundreds of frames at most).
        rows = sorted(rows, key=lambda r: (abs(utc(r["date_obs"]) - date_obs), r["fingerprint"]))
        for row in rows:
            if row["fingerprint"] in seen:  # two files of one content
                continue
            seen.add(row["fingerprint"])
            geometry = FieldGeometry(
                **{name: row[name] for name in GEOMETRY_COLUMNS},
                corners_deg=tuple(
                    (float(ra), float(dec)) for ra, dec in json.loads(row["corners"] or "[]")
                ),
            )
            found.append(
                SolvedNeighbour(
                    row["fingerprint"], utc(row["date_obs"]), row["object_key"], geometry
                )
            )
        return found[:limit]

    def get_solution(self, fingerprint: str) -> PlateSolution | None:
        """The plate solution of ``fingerprint``'s content, or None if it was never tried."""
        row = self.get_solution_row(fingerprint)
        return row.to_solution() if row is not None else None

    def fail_stale_solutions(self, stale_before: datetime, message: str) -> list[str]:
        """Fail solves still ``submitted``/``processing`` that were last updated before
        ``stale_before``, so they can be retried; returns their fingerprints.

        ``message`` becomes their error (what the user sees); their failure kind becomes
        :attr:`FailureKind.STALE` (what a retry goes by: ``SolutionRow.stale``) until the
        solution is recorded again.
        """
        stale = (
            plate_solutions.c.status.in_((SolveStatus.SUBMITTED, SolveStatus.PROCESSING)),
            plate_solutions.c.updated_at < stale_before,
        )
        now = self._clock()
        with self._engine.begin() as conn:
            # FOR UPDATE: on PostgreSQL a concurrent cleaner waits, then skips rows it no longer
            # matches; SQLite holds its write lock from BEGIN IMMEDIATE anyway.
            fingerprints = list(
                conn.scalars(
                    select(plate_solutions.c.fingerprint)
                    .where(*stale)
                    .order_by(plate_solutions.c.fingerprint)
                    .with_for_update()
                )
            )
            for chunk in chunks(fingerprints):
                conn.execute(
                    update(plate_solutions)
                    .where(plate_solutions.c.fingerprint.in_(chunk))
                    .values(
                        status=SolveStatus.FAILED,
                        error=message,
                        failure_kind=FailureKind.STALE,
                        updated_at=now,
                    )
                )
        return fingerprints

    # -- catalog matches --

    def replace_matches(self, partition_key: str, matches: Sequence[CatalogMatch]) -> None:
        """Make ``matches`` the image's catalog matches (previous ones are removed); the image's
        target (``images.target``) follows them."""
        with self._engine.begin() as conn:
            image_id = self._lock_image(conn, partition_key).id
            conn.execute(delete(catalog_matches).where(catalog_matches.c.image_id == image_id))
            if matches:
                conn.execute(
                    catalog_matches.insert(),
                    [{"image_id": image_id, **match.to_dict()} for match in matches],
                )
            header = conn.scalar(select(images.c.object).where(images.c.id == image_id))
            names = [
                {"designation": m.designation, "messier": m.messier, "name": m.name}
                for m in matches
            ]
            conn.execute(
                update(images)
                .where(images.c.id == image_id)
                .values(target=target_from(header, names))
            )
            clear_stage_error(conn, images.c.id == image_id, MATCHES_STAGE)

    def get_matches(self, partition_key: str) -> list[CatalogMatch]:
        """The image's catalog matches, in stored order."""
        query = (
            select(*(catalog_matches.c[name] for name in MATCH_FIELDS))
            .join(images, images.c.id == catalog_matches.c.image_id)
            .where(images.c.partition_key == partition_key)
            .order_by(catalog_matches.c.id)
        )
        with self._reader.connect() as conn:
            return [CatalogMatch(**row._mapping) for row in conn.execute(query)]
