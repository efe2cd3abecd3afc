"""The one resource every asset, sensor and schedule uses: configuration and the adapters."""

from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import PrivateAttr

from astrocat_pipeline.adapters.catalog_db import CatalogStore, create_catalog_engine, migrate
from astrocat_pipeline.adapters.solvers import PlateSolver, build_solver
from astrocat_pipeline.adapters.thumbnail_store import ThumbnailStore
from astrocat_pipeline.cataloging.steps import load_object_catalog
from astrocat_pipeline.core.sky_catalog import ObjectCatalog
from astrocat_pipeline.settings import Settings


class AstrocatResource(dg.ConfigurableResource):
    """astrocat configuration: each field overrides its environment variable when set."""

    library_roots: str | None = None  # ASTROCAT_LIBRARY_ROOTS (os.pathsep-separated)
    home: str | None = None  # ASTROCAT_HOME
    database_url: str | None = None  # ASTROCAT_DATABASE_URL
    thumbnail_cache_path: str | None = None  # THUMBNAIL_CACHE_PATH
    solver: str | None = None  # ASTROCAT_SOLVER
    index_dir: str | None = None  # ASTROMETRY_INDEX_DIR

    _settings: Settings | None = PrivateAttr(default=None)
    _store: CatalogStore | None = PrivateAttr(default=None)
    _engine: Any = PrivateAttr(default=None)
    _catalog: ObjectCatalog | None = PrivateAttr(default=None)

    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = Settings.from_env(
                overrides={
                    "ASTROCAT_LIBRARY_ROOTS": self.library_roots,
                    "ASTROCAT_HOME": self.home,
                    "ASTROCAT_DATABASE_URL": self.database_url,
                    "THUMBNAIL_CACHE_PATH": self.thumbnail_cache_path,
                    "ASTROCAT_SOLVER": self.solver,
                    "ASTROMETRY_INDEX_DIR": self.index_dir,
                }
            )
        return self._settings

    def store(self) -> CatalogStore:
        """The catalog database, migrated to the current schema."""
        if self._store is None:
            self._engine = create_catalog_engine(self.settings().database_url)
            migrate(self._engine)
            self._store = CatalogStore(self._engine)
        return self._store

    def thumbnails(self) -> ThumbnailStore:
        return ThumbnailStore(self.settings().thumbnail_cache_path)

    def plate_solver(self) -> PlateSolver:
        """The configured solver: local solve-field, nova, or the none solver (skips)."""
        settings = self.settings()
        return build_solver(
            settings.solver,
            index_dir=settings.index_dir,
            api_url=settings.api_url,
            api_key=settings.api_key,
            blind_fallback=settings.blind_fallback,
            nova_deadline_s=settings.nova_deadline_s,
        )

    def object_catalog(self) -> ObjectCatalog:
        if self._catalog is None:
            self._catalog = load_object_catalog()
        return self._catalog

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._engine is not None:
            self._engine.dispose()
