"""The one resource every asset, sensor and schedule uses: configuration and the adapters."""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from astrocat_pipeline.adapters.catalog import CatalogStore, open_catalog
from astrocat_pipeline.adapters.thumbnail_store import ThumbnailStore
from astrocat_pipeline.cataloging.steps import Solver, build_solver, load_object_catalog
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
            self._store = open_catalog(self.settings().database_url)
        return self._store

    def thumbnails(self) -> ThumbnailStore:
        return ThumbnailStore(self.settings().thumbnail_cache_path)

    def plate_solver(self) -> Solver | None:
        """The configured solver (local solve-field or nova), or None when solving is off."""
        return build_solver(self.settings())

    def object_catalog(self) -> ObjectCatalog:
        if self._catalog is None:
            self._catalog = load_object_catalog()
        return self._catalog

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._store is not None:
            self._store.close()
