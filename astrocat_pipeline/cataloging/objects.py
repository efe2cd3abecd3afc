"""The object catalog as the pipeline uses it: loaded once per process, and the names an OBJECT
header gives resolved to designations and positions.

Kept apart from the steps so ``astrocat search --object`` imports only the catalogs' loaders.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from astrocat_pipeline.adapters.bright_stars import (
    has_hipparcos_entry,
    load_bright_stars,
    named_stars,
)
from astrocat_pipeline.adapters.openngc import load_openngc, named_openngc_objects
from astrocat_pipeline.core.designations import messier_designation, normalize_designation
from astrocat_pipeline.core.object_names import Named, ObjectNames

if TYPE_CHECKING:
    from astrocat_pipeline.core.sky_catalog import ObjectCatalog


@functools.cache
def load_object_catalog() -> ObjectCatalog:
    """Everything matching and name resolution use: OpenNGC and the named bright stars.

    Loaded once per process (~0.4 s): every run a code server or an ``astrocat index`` executes
    in-process shares it. The catalog is read-only.
    """
    from astrocat_pipeline.core.sky_catalog import ObjectCatalog

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


def object_search_keys(name: str) -> set[str]:
    """The designations a search for ``name`` looks for: the object's designation and its
    Messier alias, or the name's normalized spelling when no catalog object has it.

    Resolved as :func:`load_object_catalog`'s catalog resolves it, from the objects that have
    names beyond their designation (OpenNGC's Messier and named objects, the IAU-named stars),
    without loading the whole catalog: a designation that none of them claims resolves to
    itself either way.
    """
    candidates: list[Named] = [*named_openngc_objects(), *named_stars()]
    obj = ObjectNames(candidates).resolve(name)
    if obj is not None and obj.designation.startswith("HIP "):
        hip = int(obj.designation.removeprefix("HIP "))
        if not has_hipparcos_entry(hip):  # not in the catalog: resolve as the catalog would
            obj = ObjectNames([c for c in candidates if c is not obj]).resolve(name)
    keys: set[str] = set()
    if obj is not None:
        keys.add(obj.designation)
        if obj.messier is not None:
            keys.add(messier_designation(obj.messier))
    elif (normalized := normalize_designation(name)) is not None:
        keys.add(normalized)
    else:
        keys.add(" ".join(name.split()))
    return keys
