"""The catalog database: the source of truth for search (SQLite by default, PostgreSQL optional).

Open it with :func:`open_catalog`; everything is read and written through the
:class:`CatalogStore` it returns, as typed frozen records (:mod:`.rows`).

Tables (:mod:`.schema`; revisions in ``migrations/versions``): ``images`` (one row per
inventoried file, with its normalized metadata), ``plate_solutions`` (keyed by content
fingerprint, so a moved or renamed file reuses its solution), ``catalog_matches`` (objects
inside a solved frame), the sky index ``sky_footprints`` (one row per image whose content is
solved, for cone searches), and ``library_passes`` (the new-file sensor's last pass, for the
library health view).

Modules, one per concern: :mod:`.engine` (URLs, engines, connection settings, migrations),
:mod:`.schema`, :mod:`.rows`, and the parts of the store: :mod:`.images`, :mod:`.solutions`,
:mod:`.sky_index`, :mod:`.health` (aggregate reads for the health view, with its own
records), combined in :mod:`.store`; and :mod:`.availability`, which tells a database that is
unavailable (retried, never a file's error) from any other failure.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from astrocat_pipeline.adapters.catalog.availability import is_unavailable
    from astrocat_pipeline.adapters.catalog.base import ImageNotFoundError
    from astrocat_pipeline.adapters.catalog.engine import (
        create_catalog_engine,
        migrate,
        read_only,
    )
    from astrocat_pipeline.adapters.catalog.health import (
        ImageFailure,
        LibraryPass,
        RecordedPass,
        StateCount,
    )
    from astrocat_pipeline.adapters.catalog.rows import (
        FailureKind,
        GridCard,
        ImageRow,
        SearchResult,
        SolutionRow,
    )
    from astrocat_pipeline.adapters.catalog.schema import METADATA
    from astrocat_pipeline.adapters.catalog.store import CatalogStore, open_catalog

# The package's names are loaded on first use (PEP 562): the quick read path
# (:mod:`.quick_read`) lives in this package and must not pull SQLAlchemy in with it.
_HOMES = {
    "ImageNotFoundError": "base",
    "is_unavailable": "availability",
    "create_catalog_engine": "engine",
    "migrate": "engine",
    "read_only": "engine",
    "ImageFailure": "health",
    "LibraryPass": "health",
    "RecordedPass": "health",
    "StateCount": "health",
    "FailureKind": "rows",
    "GridCard": "rows",
    "ImageRow": "rows",
    "SearchResult": "rows",
    "SolutionRow": "rows",
    "METADATA": "schema",
    "CatalogStore": "store",
    "open_catalog": "store",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


__all__ = [
    "METADATA",
    "CatalogStore",
    "FailureKind",
    "GridCard",
    "ImageFailure",
    "ImageNotFoundError",
    "ImageRow",
    "LibraryPass",
    "RecordedPass",
    "SearchResult",
    "SolutionRow",
    "StateCount",
    "create_catalog_engine",
    "is_unavailable",
    "migrate",
    "open_catalog",
    "read_only",
]
