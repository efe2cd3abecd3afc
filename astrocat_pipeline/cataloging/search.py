"""The catalog search, as ``astrocat search`` and the gallery run it: one query record, one
validation, one code path, so both find the same images in the same order.

The object name becomes designations (:func:`~.objects.object_search_keys`), the header
filters become SQL (:class:`~astrocat_pipeline.adapters.catalog.search_query.HeaderFilters`),
and a cone (``near`` and ``radius_deg``) is answered by the sky index, nearest frames first.
Without a cone a current SQLite catalog is read without SQLAlchemy (the command's quick path).
The gallery's grid reads the same search through its grid projection (``search_query.GRID``):
the same images in the same order, only what a card shows of each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from astrocat_pipeline.adapters.catalog.rows import GridCard, SearchResult
from astrocat_pipeline.adapters.catalog.search_query import (
    FULL,
    NO_FILTERS,
    HeaderFilters,
    Projection,
)
from astrocat_pipeline.core.errors import AstrocatError
from astrocat_pipeline.core.frame_types import FrameType

if TYPE_CHECKING:
    from astrocat_pipeline.adapters.catalog import CatalogStore

# Longest text a search accepts in any field: names and designations are far shorter, and a
# bound keeps a request from building huge statements.
MAX_TEXT_LENGTH = 200
FRAME_TYPES = tuple(t.value for t in FrameType)
R = TypeVar("R", SearchResult, GridCard)


class SearchQueryError(AstrocatError, ValueError):
    """A search whose criteria cannot work (the message says which and why)."""


@dataclass(frozen=True)
class SearchQuery:
    """What to look for; every criterion is optional and they all combine."""

    object: str | None = None  # any designation or name the catalogs know: M31, NGC 224, ...
    near: tuple[float, float] | None = None  # (RA, Dec) in degrees, ICRS, with radius_deg
    radius_deg: float | None = None
    filters: HeaderFilters = field(default=NO_FILTERS)

    @property
    def is_empty(self) -> bool:
        return self.object is None and self.near is None and self.filters == NO_FILTERS


@dataclass(frozen=True)
class SearchPage(Generic[R]):
    """One page of a search: the results at ``offset`` (full results or grid cards, as the
    projection asked) and how many there are in all."""

    results: tuple[R, ...]
    total: int
    offset: int = 0


def _text(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    value = " ".join(value.split())
    if not value:
        return None
    if len(value) > MAX_TEXT_LENGTH:
        raise SearchQueryError(f"{name}: longer than {MAX_TEXT_LENGTH} characters")
    return value


def parse_date(text: str | None, name: str, *, end: bool = False) -> datetime | None:
    """An ISO date or time as an aware UTC datetime (naive ones are UTC). With ``end``, a plain
    date (``2024-10-05``) means the end of that day: the bound returned is the next midnight,
    exclusive."""
    text = _text(text, name)
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise SearchQueryError(f"{name} {text!r}: expected an ISO date such as 2024-10-05") from exc
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    if end:
        value += timedelta(days=1) if len(text) == 10 else timedelta(0)
    return value


def build_query(
    *,
    object: str | None = None,
    near: tuple[float, float] | None = None,
    radius_deg: float | None = None,
    filter: str | None = None,
    frame_type: str | None = None,
    camera: str | None = None,
    telescope: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    min_exposure_s: float | None = None,
    max_exposure_s: float | None = None,
) -> SearchQuery:
    """A validated query from the user's criteria (``date_to`` inclusive: a plain date takes
    that whole day). Raises :class:`SearchQueryError` naming the criterion that cannot work."""
    if (near is None) != (radius_deg is None):
        raise SearchQueryError("--near RA DEC and --radius DEG go together")
    if radius_deg is not None and not 0 < radius_deg <= 180:
        raise SearchQueryError(f"--radius {radius_deg}: expected degrees in (0, 180]")
    if near is not None:
        ra, dec = near
        if not (-1e6 < ra < 1e6):  # NaN and infinities fail this too
            raise SearchQueryError(f"--near: RA {ra} is not a number of degrees")
        if not -90 <= dec <= 90:
            raise SearchQueryError(f"--near: Dec {dec} is outside [-90, 90]")
        near = (ra % 360.0, dec)
    frame_type = _text(frame_type, "--frame-type")
    if frame_type is not None and frame_type not in FRAME_TYPES:
        raise SearchQueryError(
            f"--frame-type {frame_type!r}: expected one of {', '.join(FRAME_TYPES)}"
        )
    for name, value in (("--min-exposure", min_exposure_s), ("--max-exposure", max_exposure_s)):
        if value is not None and not 0 <= value < 1e9:
            raise SearchQueryError(f"{name} {value}: expected seconds, 0 or more")
    return SearchQuery(
        object=_text(object, "--object"),
        near=near,
        radius_deg=radius_deg,
        filters=HeaderFilters(
            filter=_text(filter, "--filter"),
            frame_type=frame_type,
            camera=_text(camera, "--camera"),
            telescope=_text(telescope, "--telescope"),
            date_from=parse_date(date_from, "--date-from"),
            date_before=parse_date(date_to, "--date-to", end=True),
            min_exposure_s=min_exposure_s,
            max_exposure_s=max_exposure_s,
        ),
    )


def _object_keys(query: SearchQuery) -> set[str] | None:
    from astrocat_pipeline.cataloging.objects import object_search_keys

    return object_search_keys(query.object) if query.object else None


@overload
def search_store(
    store: CatalogStore,
    query: SearchQuery,
    *,
    limit: int | None = None,
    offset: int = 0,
    object_keys: Callable[[SearchQuery], set[str] | None] = _object_keys,
) -> SearchPage[SearchResult]: ...
@overload
def search_store(
    store: CatalogStore,
    query: SearchQuery,
    *,
    limit: int | None = None,
    offset: int = 0,
    object_keys: Callable[[SearchQuery], set[str] | None] = _object_keys,
    projection: Projection[R],
) -> SearchPage[R]: ...
def search_store(
    store: CatalogStore,
    query: SearchQuery,
    *,
    limit: int | None = None,
    offset: int = 0,
    object_keys: Callable[[SearchQuery], set[str] | None] = _object_keys,
    projection: Projection[Any] = FULL,
) -> SearchPage[Any]:
    """One page of the images ``query`` finds in ``store`` (all of them without ``limit``), as
    ``projection``'s records (full results by default; ``GRID``: the gallery's cards)."""
    if offset < 0 or (limit is not None and limit < 1):
        raise SearchQueryError(f"page: offset {offset} and limit {limit} cannot work")
    keys = object_keys(query)
    if query.near is None:
        found = store.search(
            keys, limit=limit, offset=offset, filters=query.filters, projection=projection
        )
        if limit is None or (offset == 0 and len(found) < limit):
            total = offset + len(found)
        else:
            total = store.count_search(keys, filters=query.filters)
        return SearchPage(tuple(found), total, offset)
    assert query.radius_deg is not None  # build_query pairs them
    ra, dec = query.near
    inside = store.cone_search(ra, dec, query.radius_deg)
    order = {key: i for i, key in enumerate(inside)}
    matching = sorted(
        (
            r
            for r in store.search(keys, filters=query.filters, projection=projection)
            if r.partition_key in order
        ),
        key=lambda r: order[r.partition_key],
    )
    end = None if limit is None else offset + limit
    return SearchPage(tuple(matching[offset:end]), len(matching), offset)


def search_catalog(database_url: str, query: SearchQuery) -> list[SearchResult]:
    """Every image ``query`` finds in the catalog at ``database_url``: ``astrocat search``.

    Without a cone a current SQLite catalog is read through ``sqlite3`` (the same statement),
    so the command does not pay for importing SQLAlchemy.
    """
    keys = _object_keys(query)
    if query.near is None:
        from astrocat_pipeline.adapters.catalog.quick_read import quick_search

        found = quick_search(database_url, keys, query.filters)
        if found is not None:
            return found
    from astrocat_pipeline.adapters.catalog import open_catalog

    with open_catalog(database_url) as store:
        return list(search_store(store, query, object_keys=lambda _: keys).results)
