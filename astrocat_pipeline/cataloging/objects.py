"""The object catalog as the pipeline uses it: loaded once per process, and the names an OBJECT
header gives resolved to designations and positions.

Kept apart from the steps so ``astrocat search --object`` imports only the catalogs' loaders.
"""

from __future__ import annotations

import functools

from astrocat_pipeline.adapters.bright_stars import load_bright_stars
from astrocat_pipeline.adapters.openngc import load_openngc
from astrocat_pipeline.core.designations import normalize_designation
from astrocat_pipeline.core.sky_catalog import ObjectCatalog


@functools.cache
def load_object_catalog() -> ObjectCatalog:
    """Everything matching and name resolution use: OpenNGC and the named bright stars.

    Loaded once per process (~0.4 s): every run a code server or an ``astrocat index`` executes
    in-process shares it. The catalog is read-only.
    """
    return ObjectCatalog.merge([load_openngc(), load_bright_stars()])


def object_key(catalog: ObjectCatalog | None, object_name: str | None) -> str | None:
    """The catalog designation an OBJECT header names ("M31" -> "NGC 224"), else its
    normalized spelling, else None."""
    if not object_name:
        return None
    if catalog is not None and (obj := catalog.resolve(object_name)):
        return obj.designation
    return normalize_designation(object_name)


def object_position(
    catalog: ObjectCatalog | None, object_name: str | None
) -> tuple[float, float] | None:
    """Where the object an OBJECT header names lies, from the local catalog."""
    if catalog is None or not object_name:
        return None
    obj = catalog.resolve(object_name)
    return (obj.ra_deg, obj.dec_deg) if obj is not None else None
