"""Name resolution for searches without loading the whole object catalog gives what the whole
catalog gives, for every name the catalog knows."""

from __future__ import annotations

import functools

import pytest

from astrocat_pipeline.adapters import bright_stars
from astrocat_pipeline.cataloging import objects
from astrocat_pipeline.cataloging.objects import load_object_catalog, object_search_keys
from astrocat_pipeline.core.designations import messier_designation, normalize_designation


def keys_from_the_whole_catalog(name: str) -> set[str]:
    obj = load_object_catalog().resolve(name)
    if obj is not None:
        return {obj.designation} | (
            {messier_designation(obj.messier)} if obj.messier is not None else set()
        )
    normalized = normalize_designation(name)
    return {normalized} if normalized is not None else {" ".join(name.split())}


def every_name() -> list[str]:
    names: set[str] = set()
    for obj in load_object_catalog().objects:
        if obj.messier is not None or obj.name or obj.catalog == "HIP":
            names.update((obj.designation, *obj.aliases))
            names.update(part.strip() for part in (obj.name or "").split(",") if part.strip())
            if obj.messier is not None:
                names.update((f"M{obj.messier}", f"Messier {obj.messier}"))
    return sorted(names)


@functools.cache
def missing_from_hipparcos() -> frozenset[int]:
    return frozenset(bright_stars.stars_missing_from_hipparcos())


@pytest.fixture(autouse=True)
def one_pass_over_hipparcos(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each star name's check reads the Hipparcos catalogue once (~0.3 s); here its answers
    come from one read for all names (has_hipparcos_entry itself is tested below)."""
    monkeypatch.setattr(
        objects, "has_hipparcos_entry", lambda hip: hip not in missing_from_hipparcos()
    )


def test_has_hipparcos_entry_reads_the_catalogue():
    missing = next(iter(missing_from_hipparcos()))
    assert bright_stars.has_hipparcos_entry(91262)  # Vega
    assert not bright_stars.has_hipparcos_entry(missing)


def test_every_named_object_resolves_as_in_the_whole_catalog():
    names = every_name()
    assert len(names) > 700  # Messier, common and star names, and their designations
    differ = [n for n in names if object_search_keys(n) != keys_from_the_whole_catalog(n)]
    assert differ == []


@pytest.mark.parametrize(
    "name",
    [
        "m31",
        "NGC 0224",
        "ngc224",
        "andromeda galaxy",
        "ANDROMEDA GALAXY",
        "Orion Nebula",
        "vega",
        "Alula Australis",  # named, but not in the Hipparcos catalogue: not in the catalog
        "HIP 91262",
        "NGC 7000",
        "IC 434",
        "IC0715NW",
        "NGC 9999",
        "no such object",
        "  M   101 ",
    ],
)
def test_spellings_and_unknown_names_resolve_as_in_the_whole_catalog(name):
    assert object_search_keys(name) == keys_from_the_whole_catalog(name)
