"""The OpenNGC catalog (NGC, IC and addendum), from the database the ``pyongc`` package ships.

The database is read directly: pyongc's own load-everything call takes seconds, a direct read
of its SQLite file a few hundredths. OpenNGC data: CC-BY-SA-4.0, Mattia Verga.
"""

from __future__ import annotations

import importlib.util
import math
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from astrocat_pipeline.core.designations import normalize_designation
from astrocat_pipeline.core.errors import CatalogDataError
from astrocat_pipeline.core.records import CatalogObject

if TYPE_CHECKING:
    from astrocat_pipeline.core.sky_catalog import ObjectCatalog

# Records that are not objects of their own: duplicates of another entry, nonexistent objects.
_SKIPPED_TYPES = ("Dup", "NonEx")


def openngc_database_path() -> Path:
    """Where the installed pyongc package keeps ``ongc.db``."""
    # Found without importing pyongc itself (its import costs ~0.1 s and is not needed).
    spec = importlib.util.find_spec("pyongc")
    if spec is None or not spec.submodule_search_locations:
        raise CatalogDataError("the OpenNGC database is missing: install the 'pyongc' package")
    path = Path(spec.submodule_search_locations[0]) / "ongc.db"
    if not path.is_file():
        raise CatalogDataError(f"{path}: OpenNGC database missing from the pyongc package")
    return path


def _catalog_of(name: str) -> str:
    if name.startswith("NGC"):
        return "NGC"
    if name.startswith("IC"):
        return "IC"
    return "OpenNGC addendum"


_SELECT = (
    "SELECT name, type, ra, dec, majax, minax, pa, messier, commonnames "
    "FROM objects WHERE ra IS NOT NULL AND dec IS NOT NULL "
    f"AND type NOT IN ({','.join('?' * len(_SKIPPED_TYPES))})"
)
# Objects known by more than their designation: a Messier number or common names.
_NAMED = (
    " AND ((messier IS NOT NULL AND messier != '')"
    " OR (commonnames IS NOT NULL AND commonnames != ''))"
)


def _rows(path: Path, named_only: bool) -> list[tuple[Any, ...]]:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            return connection.execute(
                _SELECT + (_NAMED if named_only else ""), _SKIPPED_TYPES
            ).fetchall()
    except sqlite3.Error as exc:
        raise CatalogDataError(f"{path}: cannot read the OpenNGC database ({exc})") from exc


def _object(row: tuple[Any, ...]) -> CatalogObject:
    name, obj_type, ra_rad, dec_rad, majax, minax, pa, messier, common = row
    designation = normalize_designation(name) or name
    messier_number = int(messier) if messier else None
    return CatalogObject(
        catalog=_catalog_of(name),
        designation=designation,
        name=common or None,
        object_type=obj_type,
        ra_deg=math.degrees(ra_rad) % 360.0,
        dec_deg=math.degrees(dec_rad),
        major_axis_arcmin=majax,
        minor_axis_arcmin=minax,
        position_angle_deg=float(pa) if pa is not None else None,
        messier=messier_number,
        aliases=(f"M {messier_number}",) if messier_number else (),
    )


def load_openngc(database: Path | None = None) -> ObjectCatalog:
    """Every real object of OpenNGC as an :class:`ObjectCatalog`."""
    from astrocat_pipeline.core.sky_catalog import ObjectCatalog

    path = database or openngc_database_path()
    return ObjectCatalog([_object(row) for row in _rows(path, named_only=False)])


def named_openngc_objects(database: Path | None = None) -> list[CatalogObject]:
    """The objects of :func:`load_openngc` that have a Messier number or common names, in the
    same order: all that name resolution needs beyond a designation itself (~260 of 14,000)."""
    path = database or openngc_database_path()
    return [_object(row) for row in _rows(path, named_only=True)]
