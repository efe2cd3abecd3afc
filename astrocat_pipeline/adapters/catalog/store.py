"""The catalog store: one object over the catalog database, and the one way to open it.

:class:`CatalogStore` is composed of the store's parts, one module per concern (images,
solutions, sky index, health), as mixins over one engine: callers see one object with every
method, and the parts share the engine, the clock and the transaction rules without passing them
around. The parts call each other only through module functions (the footprints of the sky
index), not through ``self``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import TracebackType

from sqlalchemy import Engine

from astrocat_pipeline.adapters.catalog.base import utcnow
from astrocat_pipeline.adapters.catalog.engine import create_catalog_engine, migrate, read_only
from astrocat_pipeline.adapters.catalog.health import HealthPart
from astrocat_pipeline.adapters.catalog.images import ImagesPart
from astrocat_pipeline.adapters.catalog.sky_index import SkyIndexPart
from astrocat_pipeline.adapters.catalog.solutions import SolutionsPart

__all__ = ["CatalogStore", "open_catalog"]


class CatalogStore(ImagesPart, SolutionsPart, SkyIndexPart, HealthPart):
    """Reads and writes the catalog. Each method is one short transaction; writes are upserts,
    so several processes can write at once.

    ``clock`` returns the current UTC time for ``created_at``/``updated_at`` (tests pass a fixed
    one). Timestamps are set here, not by the server, so both backends store the same values.

    A store made by :func:`open_catalog` owns its engine: :meth:`close` (or leaving a ``with``
    block) disposes of it. A store given an engine leaves it to whoever made it.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime] = utcnow,
        owns_engine: bool = False,
    ) -> None:
        self._engine = engine
        self._reader = read_only(engine)
        self._clock = clock
        self._sky_classes = []
        self._owns_engine = owns_engine

    @property
    def engine(self) -> Engine:
        """The engine underneath, for tools that load or inspect the database in bulk."""
        return self._engine

    def close(self) -> None:
        """Close the pooled database connections, if this store owns its engine. Idempotent;
        a later call opens new connections (SQLAlchemy's ``Engine.dispose``)."""
        if self._owns_engine:
            self._engine.dispose()

    def __enter__(self) -> CatalogStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def open_catalog(database_url: str) -> CatalogStore:
    """The catalog at ``database_url`` (``sqlite:///PATH`` or ``postgresql://USER@HOST/DB``),
    migrated to the current schema, in a store that owns its engine: close it, or use it as a
    context manager.

    Raises :class:`~astrocat_pipeline.core.errors.ConfigError` for a URL of another database or
    driver.
    """
    engine = create_catalog_engine(database_url)
    try:
        migrate(engine)
    except BaseException:
        engine.dispose()
        raise
    return CatalogStore(engine, owns_engine=True)
