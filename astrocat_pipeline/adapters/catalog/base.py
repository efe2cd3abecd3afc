"""What every part of the catalog store shares: its engine and clock, and small helpers.

:class:`StoreBase` is the common base of the store's parts (images, solutions, sky index);
:class:`~astrocat_pipeline.adapters.catalog.store.CatalogStore` combines them and sets the
attributes declared here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Engine, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite

from astrocat_pipeline.adapters.catalog.schema import catalog_matches, images
from astrocat_pipeline.core.errors import AstrocatError
from astrocat_pipeline.core.records import ImageStatus

# Rows per statement/transaction for bulk writes and IN lists: keeps every SQLite write
# transaction short and stays far below SQLite's bound-parameter limit (32766; 999 before 3.32).
CHUNK_SIZE = 500

T = TypeVar("T")


class ImageNotFoundError(AstrocatError, LookupError):
    """A write named a partition key that is not in the catalog's inventory."""


def chunks(items: Sequence[T], size: int = CHUNK_SIZE) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def utcnow() -> datetime:
    return datetime.now(UTC)


def dumps(value: Any) -> str:
    # default=str: a header value of an unexpected type is kept as its text, not lost.
    return json.dumps(value, default=str)


def clear_stage_error(conn: Connection, where: ColumnElement[bool], stage: str) -> None:
    """Clear the error that an earlier try of ``stage`` recorded on the images ``where`` selects
    (a later success of that stage), and only that stage's: the image is indexed again."""
    conn.execute(
        update(images)
        .where(where, images.c.error_stage == stage)
        .values(status=ImageStatus.INDEXED, error_stage=None, error=None)
    )


def stored_match_names(conn: Connection, image_id: int) -> list[dict[str, Any]]:
    """The image's matches in stored order, with what its target is named from
    (``designation``, ``messier``, ``name``: :func:`~astrocat_pipeline.core.targets.target_of`)."""
    rows = conn.execute(
        select(catalog_matches.c.designation, catalog_matches.c.messier, catalog_matches.c.name)
        .where(catalog_matches.c.image_id == image_id)
        .order_by(catalog_matches.c.id)
    )
    return [{"designation": d, "messier": m, "name": n} for d, m, n in rows]


class StoreBase:
    """The state and helpers the store's parts share. Each method of a part is one short
    transaction; writes are upserts."""

    _engine: Engine
    # The same engine for reads: on SQLite its transactions do not take the write lock.
    _reader: Engine
    # The current UTC time for created_at/updated_at.
    _clock: Callable[[], datetime]
    # The sky index's size classes seen by the last PostgreSQL cone search; each search
    # checks them in the same statement (see sky_index.SkyIndexPart._pg_candidates).
    _sky_classes: list[int]

    def _insert(self, table: Table) -> sqlite.Insert | postgresql.Insert:
        if self._engine.dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    @staticmethod
    def _lock_image(conn: Connection, partition_key: str) -> Any:
        """The image's ``id`` and ``fingerprint`` (a row); the image's row stays locked until the
        transaction ends, which serializes read-then-write transactions on one image (SQLite's
        BEGIN IMMEDIATE already does)."""
        row = conn.execute(
            select(images.c.id, images.c.fingerprint)
            .where(images.c.partition_key == partition_key)
            .with_for_update()
        ).first()
        if row is None:
            raise ImageNotFoundError(
                f"no image with partition key {partition_key!r} in the catalog"
            )
        return row

    def _update_image(self, partition_key: str, values: dict[str, Any]) -> None:
        with self._engine.begin() as conn:
            result = conn.execute(
                update(images)
                .where(images.c.partition_key == partition_key)
                .values(**values, updated_at=self._clock())
            )
            if result.rowcount == 0:
                raise ImageNotFoundError(
                    f"no image with partition key {partition_key!r} in the catalog"
                )
