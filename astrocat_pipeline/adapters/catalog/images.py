"""The images part of the store: the inventory, metadata, thumbnails and errors of each file,
deletions, and the reads over them (search, a folder's images, the sensor's views)."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import delete, func, or_, select, text, update

from astrocat_pipeline.adapters.catalog.base import StoreBase, chunks, dumps
from astrocat_pipeline.adapters.catalog.rows import (
    ImageRow,
    SearchResult,
    image_from_db,
    loads,
)
from astrocat_pipeline.adapters.catalog.schema import (
    INVENTORY_COLUMNS,
    METADATA_COLUMNS,
    images,
    plate_solutions,
)
from astrocat_pipeline.adapters.catalog.search_query import run_search
from astrocat_pipeline.adapters.catalog.sky_index import solved_corners, write_footprints
from astrocat_pipeline.core.inventory import FileState
from astrocat_pipeline.core.records import ImageMetadata, ImageStatus, InventoryEntry

__all__ = ["ImagesPart"]

_MESSIER_KEY = re.compile(r"M (\d+)")
# Every column of an image but its raw header (see ImageRow).
_IMAGE_COLUMNS = [column for column in images.c if column.name != "raw_header"]
_SOLUTION_STATUS = plate_solutions.c.status.label("solution_status")


def _with_solution_status(query: Any) -> Any:
    return query.outerjoin(plate_solutions, plate_solutions.c.fingerprint == images.c.fingerprint)


# The stage name the thumbnail step records its errors under (its asset's name).
THUMBNAIL_STAGE = "image_thumbnail"


class ImagesPart(StoreBase):
    """The store's images: one row per inventoried file, keyed by partition key."""

    def upsert_inventory(self, entries: Iterable[InventoryEntry]) -> None:
        """Insert new files (status ``discovered``) and refresh where known files now are.

        Only the inventory columns of an existing row change, and only when they differ, so a
        rescan of an unchanged library writes nothing. Fingerprint, metadata and status stay
        until the pipeline recomputes them.
        """
        by_key = {entry.partition_key: entry for entry in entries}  # one row per key
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

    def get_image(self, partition_key: str) -> ImageRow | None:
        """One image, or None if it is not cataloged."""
        query = _with_solution_status(select(*_IMAGE_COLUMNS, _SOLUTION_STATUS)).where(
            images.c.partition_key == partition_key
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

    def record_file(
        self, partition_key: str, *, fingerprint: str, size_bytes: int, mtime_ns: int
    ) -> None:
        """Record the content fingerprint of a file (and the size/mtime it was computed for).

        When the content changed, the image's footprint in the sky index goes with the old
        content, and comes from the new one's solution if it is solved (a moved or copied file
        is found by sky position at once).
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

    def record_metadata(
        self,
        partition_key: str,
        metadata: ImageMetadata,
        raw_header: dict[str, Any],
        object_key: str | None,
    ) -> None:
        """Store normalized metadata and the raw header; the image becomes ``indexed``."""
        values: dict[str, Any] = {name: getattr(metadata, name) for name in METADATA_COLUMNS}
        values.update(
            raw_header=dumps(raw_header),
            object_key=object_key,
            status=ImageStatus.INDEXED,
            error_stage=None,
            error=None,
        )
        self._update_image(partition_key, values)

    def record_error(self, partition_key: str, stage: str, message: str) -> None:
        """Mark an image as failed at ``stage`` (e.g. "metadata") with a message for the user."""
        self._update_image(
            partition_key, {"status": ImageStatus.ERROR, "error_stage": stage, "error": message}
        )

    def record_thumbnail(self, partition_key: str, thumbnail_path: str | None) -> None:
        """Record where the image's thumbnail is (None: it has none). A thumbnail made clears
        the error an earlier try of the thumbnail left, and only that one."""
        self._update_image(partition_key, {"thumbnail_path": thumbnail_path})
        if thumbnail_path is not None:
            with self._engine.begin() as conn:
                conn.execute(
                    update(images)
                    .where(
                        images.c.partition_key == partition_key,
                        images.c.error_stage == THUMBNAIL_STAGE,
                    )
                    .values(status=ImageStatus.INDEXED, error_stage=None, error=None)
                )

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
                conn.scalars(select(images.c.partition_key).order_by(images.c.partition_key))
            )

    def inventory_by_key(self, keys: Collection[str] | None = None) -> dict[str, tuple[int, int]]:
        """partition_key -> (size_bytes, mtime_ns), for ``keys`` or for every image."""
        query = select(images.c.partition_key, images.c.size_bytes, images.c.mtime_ns)
        with self._reader.connect() as conn:
            if keys is None:
                rows = list(conn.execute(query))
            else:
                rows = []
                for chunk in chunks(sorted(set(keys))):
                    rows.extend(conn.execute(query.where(images.c.partition_key.in_(chunk))))
        return {key: (int(size), int(mtime)) for key, size, mtime in rows}

    def count_images(self) -> int:
        with self._reader.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(images)) or 0)

    # -- plate solutions --

    def search(
        self, object_keys: Collection[str] | None = None, *, limit: int | None = None
    ) -> list[SearchResult]:
        """Images showing any of ``object_keys`` (normalized designations such as "NGC 224" or
        "M 31"), ordered by observation time then path; None means every image.

        An image matches through its catalog matches (designation, or Messier number for an
        "M n" key) or, for frames never solved, through its header's normalized OBJECT. The
        statement is :mod:`.search_query`'s, shared with the quick read path.
        """
        with self._reader.connect() as conn:

            def execute(sql: str, params: dict[str, Any]) -> list[Any]:
                return [row._mapping for row in conn.execute(text(sql), params)]

            return run_search(execute, object_keys, limit)

    def images_under(self, folder: str | None) -> list[ImageRow]:
        """Images whose file lies in ``folder`` or below it (None: every image), ordered by
        path."""
        prefix = None
        if folder:
            prefix = folder.rstrip("/") + "/"
        query = _with_solution_status(select(*_IMAGE_COLUMNS, _SOLUTION_STATUS)).order_by(
            images.c.path, images.c.id
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
        """Every cataloged file under ``root``: partition key -> (relative path, (size, mtime)).

        One indexed query (the (root, rel_path) unique constraint): ~0.3 s for 100,000 rows.
        """
        query = select(
            images.c.partition_key, images.c.rel_path, images.c.size_bytes, images.c.mtime_ns
        ).where(images.c.root == root)
        with self._reader.connect() as conn:
            rows = conn.execute(query).all()  # one fetch: iterating row by row is 3x slower
        return {key: (rel_path, (int(size), int(mtime))) for key, rel_path, size, mtime in rows}

    def unprocessed_keys(self) -> set[str]:
        """Cataloged files that ``image_file`` never recorded (no fingerprint, no error)."""
        query = select(images.c.partition_key).where(
            images.c.fingerprint.is_(None), images.c.status == ImageStatus.DISCOVERED
        )
        with self._reader.connect() as conn:
            return set(conn.scalars(query))
