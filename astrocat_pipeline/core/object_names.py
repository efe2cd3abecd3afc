"""Resolving what a user calls an object to the object: designations in any spelling, Messier
numbers, common names and star names. Pure Python (no numpy), so a command that only resolves
a name starts quickly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from astrocat_pipeline.core.designations import (
    fold_name,
    messier_designation,
    normalize_designation,
)


class Named(Protocol):
    """What name resolution needs of an object (a :class:`CatalogObject` has it)."""

    @property
    def designation(self) -> str: ...
    @property
    def aliases(self) -> tuple[str, ...]: ...
    @property
    def messier(self) -> int | None: ...
    @property
    def name(self) -> str | None: ...


@dataclass(frozen=True)
class ObjectName:
    """An object's names alone, without its position (see :class:`Named`)."""

    designation: str
    name: str | None = None
    messier: int | None = None
    aliases: tuple[str, ...] = field(default_factory=tuple)


N = TypeVar("N", bound=Named)


class ObjectNames(Generic[N]):
    """Name -> object, for the objects given in order; where two objects claim the same
    designation or name, the first one keeps it."""

    def __init__(self, objects: Iterable[N]) -> None:
        self._by_designation: dict[str, N] = {}
        self._by_name: dict[str, N] = {}
        for obj in objects:
            for key in (obj.designation, *obj.aliases):
                designation = normalize_designation(key)
                if designation is not None:
                    self._by_designation.setdefault(designation.upper(), obj)
                else:
                    self._by_name.setdefault(fold_name(key), obj)
            if obj.messier is not None:
                self._by_designation.setdefault(messier_designation(obj.messier).upper(), obj)
            if obj.name:
                for common in obj.name.split(","):
                    if common.strip():
                        self._by_name.setdefault(fold_name(common), obj)

    def resolve(self, name: str) -> N | None:
        """The object a user means by ``name``: a designation in any spelling ("M31",
        "Messier 31", "NGC 0224", "HIP 91262"), or a common or star name in any case and with
        or without accents ("Andromeda Galaxy", "vega"); None if unknown."""
        key = normalize_designation(name)
        if key is not None and (obj := self._by_designation.get(key.upper())):
            return obj
        return self._by_name.get(fold_name(name))
