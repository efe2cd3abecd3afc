"""The images part of the store: the inventory, metadata, thumbnails and errors of each file,
removals (looks, holds, tombstones) and the reads over them (search, a folder's images, the
sensor's views).

A removed file's row is a *tombstone* (``removed_at`` set) for ``ASTROCAT_TOMBSTONE_DAYS``: its
metadata, matches and thumbnail stay so that the file gets them back if it returns. Every read
of the library (search, counts, a folder's images, the sensor's inventory) leaves tombstones
out; their sky-index footprints are deleted with the removal and written again on return.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, overload

from sqlalchemy import Connection, and_, delete, func, or_, select, text, update

from astrocat_pipeline.adapters.catalog.base import (
    StoreBase,
    chunks,
    clear_stage_error,
    dumps,
    stored_match_names,
)
from astrocat_pipeline.adapters.catalog.rows import (
    ImageRow,
    SearchResult,
    image_from_db,
    loads,
)
from astrocat_pipeline.adapters.catalog.schema import (
    INVENTORY_COLUMNS,
    METADATA_COLUMNS,
    catalog_matches,
    images,
    plate_solutions,
    sky_footprints,
)
from astrocat_pipeline.adapters.catalog.search_query import (
    FULL,
    NO_FILTERS,
    HeaderFilters,
    Projection,
    bind_names,
    run_count,
    run_search,
)
from astrocat_pipeline.adapters.catalog.sky_index import solved_corners, write_footprints
from astrocat_pipeline.core.inventory import FileState
from astrocat_pipeline.core.records import ImageMetadata, ImageStatus, InventoryEntry
from astrocat_pipeline.core.targets import target_from

__all__ = ["ImagesPart", "RemovalFacts"]

_MESSIER_KEY = re.compile(r"M (\d+)")
# Every column of an image but its raw header (see ImageRow).
# The bulky JSON columns are read on their own (get_raw_header, get_thumbnail_stretch).
_IMAGE_COLUMNS = [c for c in images.c if c.name not in ("raw_header", "thumbnail_stretch")]
_SOLUTION_STATUS = plate_solutions.c.status.label("solution_status")
_LIVE = images.c.removed_at.is_(None)
_R = TypeVar("_R")  # the record a search projection makes
# Columns a returning file takes over from its tombstone found by content (the inventory and
# the identity stay the new file's).
_ADOPTED_COLUMNS = (
    *METADATA_COLUMNS,
    "raw_header",
    "object_key",
    "status",
    "thumbnail_path",
    "thumbnail_stretch",
    "target",
)


@dataclass(frozen=True)
class RemovalFacts:
    """What the catalog knows of a file for its removal: its device when inventoried (None:
    recorded before devices were), when a walk first missed it, and whether its removal is
    held for the user's confirmation."""

    device: int | None
    gone_since: datetime | None
    held: bool


def _with_solution_status(query: Any) -> Any:
    return query.outerjoin(plate_solutions, plate_solutions.c.fingerprint == images.c.fingerprint)


# The stage name the thumbnail step records its errors under (its asset's name).
THUMBNAIL_STAGE = "image_thumbnail"


class ImagesPart(StoreBase):
    """The store's images: one row per inventoried file, keyed by partition key."""

    def upsert_inventory(self, entries: Iterable[InventoryEntry]) -> list[str]:
        """Insert new files (status ``discovered``) and refresh where known files now are.

        Only the inventory columns of an existing row change, and only when they differ, so a
        rescan of an unchanged library writes nothing. Fingerprint, metadata and status stay
        until the pipeline recomputes them. A file back at the path of a tombstone gets it back
        (:meth:`restore_tombstones`); returns the partition keys so restored.
        """
        by_key = {entry.partition_key: entry for entry in entries}  # one row per key
        restored = self.restore_tombstones(by_key.values()) if by_key else []
        now = self._clock()
        # Rows in key order: concurrent batches then lock rows (PostgreSQL) in the same order
        # and cannot deadlock.
        rows = [
            {
                "partition_key": e.partition_key,
                "root": e.root,
                "rel_path": e.rel_path,
                "path": e.path,
                "size_bytes": e.size_bytes,
                "mtime_ns": e.mtime_ns,
                "format": e.format,
                "device": e.device,
                "status": ImageStatus.DISCOVERED,
                "created_at": now,
                "updated_at": now,
            }
            for _, e in sorted(by_key.items())
        ]
        stmt = self._insert(images)
        excluded = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=[images.c.partition_key],
            set_={name: excluded[name] for name in (*INVENTORY_COLUMNS, "updated_at")},
            where=or_(
                *(images.c[name].is_distinct_from(excluded[name]) for name in INVENTORY_COLUMNS)
            ),
        )
        for chunk in chunks(rows):
            with self._engine.begin() as conn:
                conn.execute(stmt, list(chunk))
        return restored

    def get_image(self, partition_key: str) -> ImageRow | None:
        """One image, or None if it is not cataloged (or only as a tombstone)."""
        query = _with_solution_status(select(*_IMAGE_COLUMNS, _SOLUTION_STATUS)).where(
            images.c.partition_key == partition_key, _LIVE
        )
        with self._reader.connect() as conn:
            row = conn.execute(query).first()
        return image_from_db(row._mapping, row.solution_status) if row is not None else None

    def get_raw_header(self, partition_key: str) -> dict[str, Any] | None:
        """The image's header as read (keyword -> value), or None if it was never read or the
        image is not cataloged."""
        with self._reader.connect() as conn:
            text = conn.scalar(
                select(images.c.raw_header).where(images.c.partition_key == partition_key)
            )
        return loads(text)

    def get_thumbnail_stretch(self, partition_key: str) -> dict[str, Any] | None:
        """The stretch the image's thumbnail was last made with (as recorded), or None."""
        with self._reader.connect() as conn:
            text_value = conn.scalar(
                select(images.c.thumbnail_stretch).where(images.c.partition_key == partition_key)
            )
        return loads(text_value)

    def record_file(
        self,
        partition_key: str,
        *,
        fingerprint: str,
        size_bytes: int,
        mtime_ns: int,
        adopt_tombstone: bool = False,
    ) -> str | None:
        """Record the content fingerprint of a file (and the size/mtime it was computed for).

        When the content changed, the image's footprint in the sky index goes with the old
        content, and comes from the new one's solution if it is solved (a moved or copied file
        is found by sky position at once). With ``adopt_tombstone``, a tombstone of the same
        content is adopted too (:meth:`adopt_tombstone`): one transaction, so a file is never
        left recorded without what it took over. Returns the adopted tombstone's path, if any.
        """
        with self._engine.begin() as conn:
            row = self._lock_image(conn, partition_key)
            conn.execute(
                update(images)
                .where(images.c.id == row.id)
                .values(
                    fingerprint=fingerprint,
                    size_bytes=size_bytes,
                    mtime_ns=mtime_ns,
                    updated_at=self._clock(),
                )
            )
            if row.fingerprint != fingerprint:
                write_footprints(conn, fingerprint, solved_corners(conn, fingerprint), row.id)
            if adopt_tombstone:
                return self._adopt_tombstone(conn, row.id, fingerprint)
            return None

    def record_metadata(
        self,
        partition_key: str,
        metadata: ImageMetadata,
        raw_header: dict[str, Any],
        object_key: str | None,
    ) -> None:
        """Store normalized metadata and the raw header; the image becomes ``indexed``. Its
        target (``images.target``) follows the new OBJECT header with the matches it has."""
        values: dict[str, Any] = {name: getattr(metadata, name) for name in METADATA_COLUMNS}
        values.update(
            raw_header=dumps(raw_header),
            object_key=object_key,
            status=ImageStatus.INDEXED,
            error_stage=None,
            error=None,
            updated_at=self._clock(),
        )
        with self._engine.begin() as conn:
            image_id = self._lock_image(conn, partition_key).id
            values["target"] = target_from(metadata.object, stored_match_names(conn, image_id))
            conn.execute(update(images).where(images.c.id == image_id).values(**values))

    def record_error(self, partition_key: str, stage: str, message: str) -> None:
        """Mark an image as failed at ``stage`` (e.g. "metadata") with a message for the user."""
        self._update_image(
            partition_key, {"status": ImageStatus.ERROR, "error_stage": stage, "error": message}
        )

    def record_thumbnail(
        self,
        partition_key: str,
        thumbnail_path: str | None,
        stretch: dict[str, Any] | None = None,
    ) -> None:
        """Record where the image's thumbnail is (None: it has none) and, when given, the stretch
        it was made with (JSON-ready; :meth:`get_thumbnail_stretch` returns it). A thumbnail made
        clears the error an earlier try of the thumbnail left, and only that one (same
        transaction)."""
        values: dict[str, Any] = {"thumbnail_path": thumbnail_path, "updated_at": self._clock()}
        if stretch is not None:
            values["thumbnail_stretch"] = dumps(stretch)
        with self._engine.begin() as conn:
            image_id = self._lock_image(conn, partition_key).id
            conn.execute(update(images).where(images.c.id == image_id).values(**values))
            if thumbnail_path is not None:
                clear_stage_error(conn, images.c.id == image_id, THUMBNAIL_STAGE)

    def delete_images(self, partition_keys: Collection[str]) -> int:
        """Remove images (and, by cascade, their matches); returns how many rows went.

        Plate solutions stay: they belong to file content that may reappear elsewhere.
        """
        deleted = 0
        for chunk in chunks(sorted(set(partition_keys))):
            with self._engine.begin() as conn:
                result = conn.execute(delete(images).where(images.c.partition_key.in_(chunk)))
                deleted += result.rowcount
        return deleted

    def partition_keys(self) -> list[str]:
        """All cataloged partition keys, sorted."""
        with self._reader.connect() as conn:
            return list(
                conn.scalars(
                    select(images.c.partition_key).where(_LIVE).order_by(images.c.partition_key)
                )
            )

    def inventory_by_key(self, keys: Collection[str] | None = None) -> dict[str, tuple[int, int]]:
        """partition_key -> (size_bytes, mtime_ns), for ``keys`` or for every image."""
        query = select(images.c.partition_key, images.c.size_bytes, images.c.mtime_ns).where(_LIVE)
        with self._reader.connect() as conn:
            if keys is None:
                rows = list(conn.execute(query))
            else:
                rows = []
                for chunk in chunks(sorted(set(keys))):
                    rows.extend(conn.execute(query.where(images.c.partition_key.in_(chunk))))
        return {key: (int(size), int(mtime)) for key, size, mtime in rows}

    def summary_aggregates(
        self, sky_frame_types: Collection[str], night_starts_at_utc_hour: int
    ) -> dict[str, list[tuple[Any, ...]]]:
        """The library summary's tables as SQL aggregations over the library (tombstones left
        out), each a list of rows in no particular order:

        - ``integration``: (target, filter, frames, exposure_s) of the frames that add to a
          target's integration: ``frame_type`` in ``sky_frame_types``, or ``unknown`` and
          solved. The target is ``images.target`` ("unknown" when NULL), the filter "none"
          when missing or empty, a missing exposure 0 s.
        - ``frame_types``, ``cameras``, ``formats``, ``statuses``: (value or "unknown",
          frames); ``solutions``: (plate-solve status or "not tried", frames);
        - ``nights``: (night as YYYY-MM-DD, frames, exposure_s) of every dated frame, a night
          running from ``night_starts_at_utc_hour`` UTC to the same hour the next day.

        What :func:`astrocat_pipeline.core.summary.library_summary` computes from every image,
        in three statements, without reading the images or their matches into Python: the
        integration from the index ``ix_images_target_filter`` (revision 0010) in its order,
        the counts from one pass over the images with their solutions' status, the nights
        from one more.
        """
        sqlite = self._engine.dialect.name == "sqlite"
        hours = int(night_starts_at_utc_hour)
        if sqlite:
            night = f"date(images.date_obs, '-{hours} hours')"
        else:
            night = (
                "to_char((images.date_obs AT TIME ZONE 'UTC') - "
                f"make_interval(hours => {hours}), 'YYYY-MM-DD')"
            )
        sky_names, sky_marks = bind_names("sky_", len(sky_frame_types))
        params: dict[str, Any] = dict(zip(sky_names, sorted(sky_frame_types), strict=True))
        params.update(unknown_type="unknown", solved="solved")
        # Grouped by the stored values, merged below ("unknown", "none"): the GROUP BY then
        # follows the index instead of sorting expressions. The solution is looked up only for
        # unlabelled frames.
        integration = (
            "SELECT images.target, images.filter, COUNT(*), SUM(COALESCE(images.exposure_s, 0.0)) "
            "FROM images WHERE images.removed_at IS NULL "
            f"AND (images.frame_type IN ({sky_marks}) OR (images.frame_type = :unknown_type "
            "AND EXISTS (SELECT 1 FROM plate_solutions WHERE plate_solutions.fingerprint = "
            "images.fingerprint AND plate_solutions.status = :solved))) "
            "GROUP BY images.target, images.filter"
        )
        counts = (
            "SELECT images.frame_type, images.camera, images.format, images.status, "
            "plate_solutions.status, COUNT(*) FROM images LEFT OUTER JOIN plate_solutions "
            "ON plate_solutions.fingerprint = images.fingerprint "
            "WHERE images.removed_at IS NULL GROUP BY images.frame_type, images.camera, "
            "images.format, images.status, plate_solutions.status"
        )
        nights = (
            f"SELECT {night}, COUNT(*), SUM(COALESCE(images.exposure_s, 0.0)) FROM images "
            f"WHERE images.removed_at IS NULL AND images.date_obs IS NOT NULL GROUP BY {night}"
        )
        with self._reader.connect() as conn:
            integration_rows = conn.execute(text(integration), params).all()
            count_rows = conn.execute(text(counts)).all()
            night_rows = [tuple(row) for row in conn.execute(text(nights))]
        merged: dict[tuple[str, str], list[float]] = {}
        for target, filter_name, frames, exposure_s in integration_rows:
            key = (target if target is not None else "unknown", filter_name or "none")
            total = merged.setdefault(key, [0, 0.0])
            total[0] += int(frames)
            total[1] += float(exposure_s)
        tables: dict[str, dict[Any, int]] = {
            name: {} for name in ("frame_types", "cameras", "formats", "statuses", "solutions")
        }
        for frame_type, camera, fmt, status, solution, frames in count_rows:
            for name, value in (
                ("frame_types", frame_type if frame_type is not None else "unknown"),
                ("cameras", camera if camera is not None else "unknown"),
                ("formats", fmt if fmt is not None else "unknown"),
                ("statuses", status if status is not None else "unknown"),
                ("solutions", solution or "not tried"),
            ):
                tables[name][value] = tables[name].get(value, 0) + int(frames)
        return {
            "integration": [(t, f, int(n), e) for (t, f), (n, e) in merged.items()],
            **{name: list(values.items()) for name, values in tables.items()},
            "nights": night_rows,
        }

    def target_representatives(self, targets: Collection[str]) -> dict[tuple[str, str], int]:
        """(target, filter) -> the image id of its longest exposure with a thumbnail (the
        lowest id among equals), for the images of ``targets`` (as
        :meth:`summary_aggregates` names targets and filters) in the library."""
        wanted = sorted(set(targets))
        if not wanted:
            return {}
        filter_ = "COALESCE(NULLIF(images.filter, ''), 'none')"
        found: dict[tuple[str, str], int] = {}
        with self._reader.connect() as conn:
            for chunk in chunks(wanted):
                names, marks = bind_names("target_", len(chunk))
                among = f"images.target IN ({marks})"
                if "unknown" in chunk:  # NULL is "unknown" too
                    among = f"({among} OR images.target IS NULL)"
                sql = (
                    f"SELECT target, filter, id FROM (SELECT COALESCE(images.target, 'unknown') "
                    f"AS target, {filter_} AS filter, images.id AS id, ROW_NUMBER() OVER "
                    f"(PARTITION BY COALESCE(images.target, 'unknown'), {filter_} ORDER BY "
                    "COALESCE(images.exposure_s, 0.0) DESC, images.id) AS n FROM images "
                    "WHERE images.removed_at IS NULL AND images.thumbnail_path IS NOT NULL "
                    f"AND {among}) AS ranked WHERE n = 1"
                )
                params = dict(zip(names, chunk, strict=True))
                for target_name, filter_name, image_id in conn.execute(text(sql), params):
                    found[(str(target_name), str(filter_name))] = int(image_id)
        return found

    def live_image_ids(self) -> set[int]:
        """The row ids of every image in the library (tombstones not included)."""
        with self._reader.connect() as conn:
            return {int(i) for i in conn.scalars(select(images.c.id).where(_LIVE))}

    def live_image_ids_of(self, partition_keys: Collection[str]) -> set[int]:
        """The row ids of those of ``partition_keys`` that are in the library."""
        found: set[int] = set()
        with self._reader.connect() as conn:
            for chunk in chunks(sorted(set(partition_keys))):
                query = select(images.c.id).where(images.c.partition_key.in_(chunk), _LIVE)
                found.update(int(i) for i in conn.scalars(query))
        return found

    def count_images(self) -> int:
        with self._reader.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(images).where(_LIVE)) or 0)

    # -- plate solutions --

    @overload
    def search(
        self,
        object_keys: Collection[str] | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        filters: HeaderFilters = NO_FILTERS,
    ) -> list[SearchResult]: ...
    @overload
    def search(
        self,
        object_keys: Collection[str] | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        filters: HeaderFilters = NO_FILTERS,
        projection: Projection[_R],
    ) -> list[_R]: ...
    def search(
        self,
        object_keys: Collection[str] | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        filters: HeaderFilters = NO_FILTERS,
        projection: Projection[Any] = FULL,
    ) -> list[Any]:
        """Images showing any of ``object_keys`` (normalized designations such as "NGC 224" or
        "M 31") and passing ``filters``, ordered by observation time then path; None means every
        image. ``limit`` and ``offset`` page through them; ``projection`` says what is read of
        each (the full :class:`SearchResult` by default, or ``search_query.GRID``'s cards).

        An image matches through its catalog matches (designation, or Messier number for an
        "M n" key) or, for frames never solved, through its header's normalized OBJECT. The
        statement is :mod:`.search_query`'s, shared with the quick read path.
        """
        with self._reader.connect() as conn:

            def execute(sql: str, params: dict[str, Any]) -> list[Any]:
                return list(conn.execute(text(sql), params).mappings())

            return run_search(
                execute,
                object_keys,
                limit,
                filters=filters,
                offset=offset,
                sqlite_times=self._engine.dialect.name == "sqlite",
                projection=projection,
            )

    def count_search(
        self, object_keys: Collection[str] | None = None, *, filters: HeaderFilters = NO_FILTERS
    ) -> int:
        """How many images :meth:`search` finds without a limit."""
        with self._reader.connect() as conn:

            def execute(sql: str, params: dict[str, Any]) -> list[Any]:
                return [row._mapping for row in conn.execute(text(sql), params)]

            return run_count(
                execute,
                object_keys,
                filters=filters,
                sqlite_times=self._engine.dialect.name == "sqlite",
            )

    def get_image_by_id(self, image_id: int) -> ImageRow | None:
        """One image by its row id, or None if there is none (or only a tombstone)."""
        query = _with_solution_status(select(*_IMAGE_COLUMNS, _SOLUTION_STATUS)).where(
            images.c.id == image_id, _LIVE
        )
        with self._reader.connect() as conn:
            row = conn.execute(query).first()
        return image_from_db(row._mapping, row.solution_status) if row is not None else None

    def images_under(self, folder: str | None) -> list[ImageRow]:
        """Images whose file lies in ``folder`` or below it (None: every image), ordered by
        path."""
        prefix = None
        if folder:
            prefix = folder.rstrip("/") + "/"
        query = (
            _with_solution_status(select(*_IMAGE_COLUMNS, _SOLUTION_STATUS))
            .where(_LIVE)
            .order_by(images.c.path, images.c.id)
        )
        with self._reader.connect() as conn:
            rows = [image_from_db(row._mapping, row.solution_status) for row in conn.execute(query)]
        if prefix is None:
            return rows
        return [r for r in rows if r.path == folder or r.path.startswith(prefix)]

    def clear_thumbnail_paths(self) -> int:
        """Forget every recorded thumbnail (after the cache was emptied); returns how many."""
        with self._engine.begin() as conn:
            result = conn.execute(
                update(images)
                .where(images.c.thumbnail_path.is_not(None))
                .values(thumbnail_path=None)
            )
        return int(result.rowcount or 0)

    # -- the new-file sensor's views --

    def recorded_files(self, root: str) -> dict[str, tuple[str, FileState]]:
        """Every cataloged file under ``root`` (no tombstones): partition key -> (relative path,
        (size, mtime)).

        One indexed query (the (root, rel_path) unique constraint): ~0.3 s for 100,000 rows.
        """
        query = select(
            images.c.partition_key, images.c.rel_path, images.c.size_bytes, images.c.mtime_ns
        ).where(images.c.root == root, _LIVE)
        with self._reader.connect() as conn:
            rows = conn.execute(query).all()  # one fetch: iterating row by row is 3x slower
        return {key: (rel_path, (int(size), int(mtime))) for key, rel_path, size, mtime in rows}

    def unprocessed_keys(self) -> set[str]:
        """Cataloged files that ``image_file`` never recorded (no fingerprint, no error)."""
        query = select(images.c.partition_key).where(
            images.c.fingerprint.is_(None), images.c.status == ImageStatus.DISCOVERED, _LIVE
        )
        with self._reader.connect() as conn:
            return set(conn.scalars(query))

    # -- removals: looks, holds, tombstones --

    def removal_facts(self, root: str, keys: Collection[str]) -> dict[str, RemovalFacts]:
        """The removal facts of ``keys`` under ``root`` and of every file under it already
        missed by a walk or held (the ones a file's return must clear)."""
        columns = (
            images.c.partition_key,
            images.c.device,
            images.c.gone_since,
            images.c.removal_held_at,
        )
        marked = or_(images.c.gone_since.is_not(None), images.c.removal_held_at.is_not(None))
        rows: list[Any] = []
        with self._reader.connect() as conn:
            rows += conn.execute(select(*columns).where(images.c.root == root, _LIVE, marked))
            for chunk in chunks(sorted(set(keys))):
                rows += conn.execute(
                    select(*columns).where(_LIVE, images.c.partition_key.in_(chunk))
                )
        return {
            key: RemovalFacts(
                int(device) if device is not None else None,
                gone_since,
                held_at is not None,
            )
            for key, device, gone_since, held_at in rows
        }

    def mark_gone(self, partition_keys: Collection[str], since: datetime) -> None:
        """The first look that missed these files (their folder intact)."""
        self._set_live(partition_keys, gone_since=since)

    def clear_gone(self, partition_keys: Collection[str]) -> None:
        """These files were seen again: forget that they were missed, and any held removal."""
        self._set_live(partition_keys, gone_since=None, removal_held_at=None)

    def hold_removals(self, partition_keys: Collection[str], held_at: datetime) -> None:
        """Hold these removals until the user confirms them (or the files come back)."""
        self._set_live(partition_keys, removal_held_at=held_at)

    def held_removals(self, folder: str | None = None) -> list[tuple[str, str]]:
        """(partition key, path) of the held removals of files in ``folder`` or below it
        (None: all), ordered by path."""
        query = (
            select(images.c.partition_key, images.c.path)
            .where(_LIVE, images.c.removal_held_at.is_not(None))
            .order_by(images.c.path)
        )
        with self._reader.connect() as conn:
            rows = [(str(key), str(path)) for key, path in conn.execute(query)]
        if not folder:
            return rows
        prefix = folder.rstrip("/") + "/"
        return [(k, p) for k, p in rows if p.startswith(prefix)]

    def count_held_removals(self) -> int:
        """How many removals wait for the user's confirmation."""
        query = (
            select(func.count())
            .select_from(images)
            .where(_LIVE, images.c.removal_held_at.is_not(None))
        )
        with self._reader.connect() as conn:
            return int(conn.scalar(query) or 0)

    def tombstone_images(self, partition_keys: Collection[str], removed_at: datetime) -> int:
        """Remove files from the library, keeping their rows as tombstones (see the module);
        their sky-index footprints go now. Returns how many images were live."""
        done = 0
        for chunk in chunks(sorted(set(partition_keys))):
            with self._engine.begin() as conn:
                ids = select(images.c.id).where(images.c.partition_key.in_(chunk), _LIVE)
                conn.execute(delete(sky_footprints).where(sky_footprints.c.image_id.in_(ids)))
                result = conn.execute(
                    update(images)
                    .where(images.c.partition_key.in_(chunk), _LIVE)
                    .values(
                        removed_at=removed_at,
                        gone_since=None,
                        removal_held_at=None,
                        updated_at=self._clock(),
                    )
                )
                done += int(result.rowcount or 0)
        return done

    def restore_tombstones(self, entries: Iterable[InventoryEntry]) -> list[str]:
        """Files seen again at the path of a tombstone: when size and mtime are those it had,
        the tombstone is live again (rows, matches and thumbnail, and its footprint); otherwise
        the content changed and the tombstone goes, so the file is cataloged afresh. Returns
        the partition keys restored."""
        by_key = {entry.partition_key: entry for entry in entries}
        restored: list[str] = []
        for chunk in chunks(sorted(by_key)):
            with self._engine.begin() as conn:
                rows = conn.execute(
                    select(
                        images.c.id,
                        images.c.partition_key,
                        images.c.size_bytes,
                        images.c.mtime_ns,
                        images.c.fingerprint,
                    ).where(images.c.partition_key.in_(chunk), images.c.removed_at.is_not(None))
                ).all()
                for image_id, key, size, mtime, fingerprint in rows:
                    entry = by_key[key]
                    if (entry.size_bytes, entry.mtime_ns) != (int(size), int(mtime)):
                        conn.execute(delete(images).where(images.c.id == image_id))
                        continue
                    conn.execute(
                        update(images)
                        .where(images.c.id == image_id)
                        .values(removed_at=None, updated_at=self._clock())
                    )
                    if fingerprint is not None:
                        corners = solved_corners(conn, fingerprint)
                        write_footprints(conn, fingerprint, corners, image_id)
                    restored.append(key)
        return restored

    def adopt_tombstone(self, partition_key: str, fingerprint: str) -> str | None:
        """A new file whose content is that of a tombstone (moved or renamed while it was
        gone) takes over the tombstone's metadata, matches and thumbnail; the tombstone goes.
        Returns the tombstone's path, or None when there was none to adopt."""
        with self._engine.begin() as conn:
            row = self._lock_image(conn, partition_key)
            return self._adopt_tombstone(conn, row.id, fingerprint)

    def _adopt_tombstone(self, conn: Connection, image_id: int, fingerprint: str) -> str | None:
        old = conn.execute(
            select(images.c.id, images.c.path, *(images.c[n] for n in _ADOPTED_COLUMNS))
            .where(images.c.fingerprint == fingerprint, images.c.removed_at.is_not(None))
            .order_by(images.c.removed_at.desc(), images.c.id)
            .limit(1)
        ).first()
        if old is None:
            return None
        values = {name: old._mapping[name] for name in _ADOPTED_COLUMNS}
        conn.execute(
            update(images).where(images.c.id == image_id).values(**values, updated_at=self._clock())
        )
        conn.execute(delete(catalog_matches).where(catalog_matches.c.image_id == image_id))
        conn.execute(
            update(catalog_matches)
            .where(catalog_matches.c.image_id == old.id)
            .values(image_id=image_id)
        )
        conn.execute(delete(images).where(images.c.id == old.id))
        return str(old.path)

    def purge_tombstones(self, removed_before: datetime) -> list[tuple[str, str, str | None]]:
        """Delete the tombstones of files removed before ``removed_before`` (their matches go
        by cascade; plate solutions stay, as for any removal). Returns (partition key, path,
        thumbnail path) of each, the thumbnail path None when a live image still uses it."""
        old = and_(images.c.removed_at.is_not(None), images.c.removed_at < removed_before)
        with self._engine.begin() as conn:
            rows = conn.execute(
                select(images.c.partition_key, images.c.path, images.c.thumbnail_path).where(old)
            ).all()
            used = set(
                conn.scalars(
                    select(images.c.thumbnail_path).where(
                        _LIVE, images.c.thumbnail_path.is_not(None)
                    )
                )
            )
            conn.execute(delete(images).where(old))
        return [
            (str(key), str(path), thumb if thumb not in used else None) for key, path, thumb in rows
        ]

    def _set_live(self, partition_keys: Collection[str], **values: Any) -> None:
        for chunk in chunks(sorted(set(partition_keys))):
            with self._engine.begin() as conn:
                conn.execute(
                    update(images).where(images.c.partition_key.in_(chunk), _LIVE).values(**values)
                )
