"""The one resource every asset, sensor and schedule uses: configuration and the adapters."""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from astrocat_pipeline.adapters.catalog import CatalogStore, open_catalog
from astrocat_pipeline.adapters.solvers import PlateSolver, build_solver
from astrocat_pipeline.adapters.thumbnail_store import ThumbnailStore
from astrocat_pipeline.cataloging.objects import load_object_catalog
from astrocat_pipeline.cataloging.solution_check import SolutionChecker
from astrocat_pipeline.core.sky_catalog import ObjectCatalog
from astrocat_pipeline.settings import SETTING_VARIABLES, Settings


class AstrocatResource(dg.ConfigurableResource):
    """astrocat configuration: each field, when set (in code or in the launchpad), overrides its
    environment variable. The nova API key is read from the environment only
    (ASTROMETRY_API_KEY), so it never shows in a run's configuration."""

    library_roots: str | None = None  # ASTROCAT_LIBRARY_ROOTS (os.pathsep-separated)
    home: str | None = None  # ASTROCAT_HOME
    database_url: str | None = None  # ASTROCAT_DATABASE_URL
    thumbnail_cache_path: str | None = None  # THUMBNAIL_CACHE_PATH
    solver: str | None = None  # ASTROCAT_SOLVER
    index_dir: str | None = None  # ASTROMETRY_INDEX_DIR
    api_url: str | None = None  # ASTROMETRY_API_URL
    solver_blind_fallback: bool | None = None  # ASTROCAT_SOLVER_BLIND_FALLBACK
    solve_budget_s: float | None = None  # ASTROCAT_SOLVE_BUDGET_S
    stale_solve_after_s: float | None = None  # ASTROCAT_STALE_SOLVE_AFTER_S
    nova_deadline_s: float | None = None  # ASTROCAT_NOVA_DEADLINE_S
    run_retention_days: int | None = None  # ASTROCAT_RUN_RETENTION_DAYS
    tombstone_days: int | None = None  # ASTROCAT_TOMBSTONE_DAYS
    gallery_url: str | None = None  # ASTROCAT_GALLERY_URL
    dagster_url: str | None = None  # ASTROCAT_DAGSTER_URL

    _settings: Settings | None = PrivateAttr(default=None)
    _store: CatalogStore | None = PrivateAttr(default=None)
    _catalog: ObjectCatalog | None = PrivateAttr(default=None)
    _checker: SolutionChecker | None = PrivateAttr(default=None)

    def settings(self) -> Settings:
        if self._settings is None:
            overrides = {
                variable: _as_text(getattr(self, name))
                for name, variable in SETTING_VARIABLES.items()
            }
            self._settings = Settings.from_env(overrides=overrides)
        return self._settings

    def store(self) -> CatalogStore:
        """The catalog database, migrated to the current schema."""
        if self._store is None:
            self._store = open_catalog(self.settings().database_url)
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
            solve_budget_s=settings.solve_budget_s,
        )

    def solution_checker(self) -> SolutionChecker:
        """The Hipparcos check of every WCS before it is stored (the catalogue read once)."""
        if self._checker is None:
            self._checker = SolutionChecker()
        return self._checker

    def object_catalog(self) -> ObjectCatalog:
        if self._catalog is None:
            self._catalog = load_object_catalog()
        return self._catalog

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._store is not None:
            self._store.close()


def _as_text(value: str | bool | float | None) -> str | None:
    """A config value as its environment variable would spell it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
