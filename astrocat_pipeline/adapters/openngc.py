"""The OpenNGC catalog (NGC, IC and addendum), from the database the ``pyongc`` package ships.

The database is read directly: pyongc's own load-everything call takes seconds, a direct read
of its SQLite file a few hundredths. OpenNGC data: CC-BY-SA-4.0, Mattia Verga.
"""

from __future__ import annotations

import math
import sqlite3
from importlib import resources
from pathlib import Path

from astrocat_pipeline.core.designations import normalize_designation
from astrocat_pipeline.core.errors import CatalogDataError
from astrocat_pipeline.core.records import CatalogObject
from astrocat_pipeline.core.sky_catalog import ObjectCatalog

# Records that are not objects of their own: duplicates of another entry, nonexistent objects.
_SKIPPED_TYPES = ("Dup", "NonEx")


def openngc_database_path() -> Path:
    """Where the installed pyongc package keeps ``ongc.db``."""
    path = Path(str(resources.files("pyongc") / "ongc.db"))
    if not path.is_file():
        raise CatalogDataError(f"{path}: OpenNGC database missing from the pyongc package")
    return path


def _catalog_of(name: str) -> str:
    if name.startswith("NGC"):
        return "NGC"
    if name.startswith("IC"):
        return "IC"
    return "OpenNGC addendum"


def load_openngc(database: Path | None = None) -> ObjectCatalog:
    """Every real object of OpenNGC as an :class:`ObjectCatalog`."""
    path = database or openngc_database_path()
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            rows = connection.execute(
                "SELECT name, type, ra, dec, majax, minax, pa, messier, commonnames "
                "FROM objects WHERE ra IS NOT NULL AND dec IS NOT NULL "
                f"AND type NOT IN ({','.join('?' * len(_SKIPPED_TYPES))})",
                _SKIPPED_TYPES,
            ).fetchall()
    except sqlite3.Error as exc:
        raise CatalogDataError(f"{path}: cannot read the OpenNGC database ({exc})") from exc
    objects = []
    for name, obj_type, ra_rad, dec_rad, majax, minax, pa, messier, common in rows:
        designation = normalize_designation(name) or name
        messier_number = int(messier) if messier else None
        objects.append(
            CatalogObject(
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
        )
    return ObjectCatalog(objects)
