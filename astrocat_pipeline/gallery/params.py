"""Every parameter a gallery page takes, validated before anything is looked up.

Anything that does not fit (an unknown parameter, a value too long, a number that is not one, a
page past the end of what can be asked) is a :class:`BadRequestError`, answered with a 400 page
that says which parameter and why. Nothing from a request ever becomes a file path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from astrocat_pipeline.cataloging.search import (
    MAX_TEXT_LENGTH,
    SearchQuery,
    SearchQueryError,
    build_query,
)

# Longest query string a page accepts: every field at its longest fits well within it.
MAX_QUERY_STRING_BYTES = 4096
PAGE_SIZES = (50, 100, 200, 500, 1000)
DEFAULT_PAGE_SIZE = 100
MAX_PAGE = 100_000
# Row ids are 64-bit integers in the catalog (SQLite's INTEGER, PostgreSQL's BIGINT).
MAX_IMAGE_ID = 2**63 - 1
SEARCH_FIELDS = (
    "object",
    "ra",
    "dec",
    "radius",
    "filter",
    "frame_type",
    "camera",
    "telescope",
    "date_from",
    "date_to",
    "min_exposure",
    "max_exposure",
)
SEARCH_PARAMS = frozenset({*SEARCH_FIELDS, "page", "per_page"})


# The command's option names in the search's messages, as the form names them (longest first).
_OPTION_NAMES = (
    ("--near RA DEC", "ra, dec"),
    ("--radius DEG", "radius"),
    ("--near", "ra, dec"),
    ("--radius", "radius"),
    ("--object", "object"),
    ("--filter", "filter"),
    ("--frame-type", "frame_type"),
    ("--camera", "camera"),
    ("--telescope", "telescope"),
    ("--date-from", "date_from"),
    ("--date-to", "date_to"),
    ("--min-exposure", "min_exposure"),
    ("--max-exposure", "max_exposure"),
)


class BadRequestError(ValueError):
    """A request whose parameters cannot be answered (the message says which and why)."""


@dataclass(frozen=True)
class SearchRequest:
    query: SearchQuery
    page: int  # 1-based
    per_page: int
    values: dict[str, str]  # the criteria as given, to fill the form and build page links

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def _single(params: Mapping[str, list[str]], allowed: frozenset[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, given in params.items():
        if name not in allowed:
            shown = name if len(name) <= 40 else name[:40] + "..."
            raise BadRequestError(f"unknown parameter {shown!r}")
        if len(given) > 1:
            raise BadRequestError(f"parameter {name!r} given {len(given)} times")
        value = given[0]
        if len(value) > MAX_TEXT_LENGTH:
            raise BadRequestError(f"parameter {name!r} is longer than {MAX_TEXT_LENGTH} characters")
        if "\x00" in value:
            raise BadRequestError(f"parameter {name!r} holds a NUL character")
        if value.strip():
            values[name] = value.strip()
    return values


def _number(values: Mapping[str, str], name: str) -> float | None:
    text = values.get(name)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise BadRequestError(f"{name} {text!r}: expected a number") from None
    if not math.isfinite(value):
        raise BadRequestError(f"{name} {text!r}: expected a finite number")
    return value


def _integer(values: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = values.get(name)
    if text is None:
        return default
    if not text.isdigit() or len(text) > 9:
        raise BadRequestError(f"{name} {text!r}: expected a whole number from {low} to {high}")
    value = int(text)
    if not low <= value <= high:
        raise BadRequestError(f"{name} {value}: expected a whole number from {low} to {high}")
    return value


def check_query_string(raw: bytes) -> None:
    if len(raw) > MAX_QUERY_STRING_BYTES:
        raise BadRequestError(f"the query string is longer than {MAX_QUERY_STRING_BYTES} bytes")


def parse_search(params: Mapping[str, list[str]]) -> SearchRequest:
    """The search page's parameters: the CLI's criteria (``ra``/``dec``/``radius`` are its
    ``--near``/``--radius``), ``page`` and ``per_page``."""
    values = _single(params, SEARCH_PARAMS)
    ra, dec = _number(values, "ra"), _number(values, "dec")
    if (ra is None) != (dec is None):
        raise BadRequestError("ra and dec go together (degrees, ICRS)")
    per_page = _integer(values, "per_page", DEFAULT_PAGE_SIZE, PAGE_SIZES[0], PAGE_SIZES[-1])
    if per_page not in PAGE_SIZES:
        raise BadRequestError(
            f"per_page {per_page}: expected one of {', '.join(map(str, PAGE_SIZES))}"
        )
    page = _integer(values, "page", 1, 1, MAX_PAGE)
    try:
        query = build_query(
            object=values.get("object"),
            near=(ra, dec) if ra is not None and dec is not None else None,
            radius_deg=_number(values, "radius"),
            filter=values.get("filter"),
            frame_type=values.get("frame_type"),
            camera=values.get("camera"),
            telescope=values.get("telescope"),
            date_from=values.get("date_from"),
            date_to=values.get("date_to"),
            min_exposure_s=_number(values, "min_exposure"),
            max_exposure_s=_number(values, "max_exposure"),
        )
    except SearchQueryError as exc:
        # The command's wording names its options; say it with the form's names here.
        message = str(exc)
        for option, field in _OPTION_NAMES:
            message = message.replace(option, field)
        raise BadRequestError(message) from exc
    criteria = {k: v for k, v in values.items() if k in SEARCH_FIELDS}
    return SearchRequest(query, page, per_page, criteria)


def parse_none(params: Mapping[str, list[str]]) -> None:
    """A page that takes no parameters refuses any."""
    _single(params, frozenset())


def parse_page(params: Mapping[str, list[str]]) -> int:
    """A page that takes only ``page`` (1-based; 1 when not given)."""
    return _integer(_single(params, frozenset({"page"})), "page", 1, 1, MAX_PAGE)


def parse_partition(params: Mapping[str, list[str]]) -> str:
    values = _single(params, frozenset({"partition"}))
    key = values.get("partition")
    if key is None:
        raise BadRequestError("partition: a partition key is required")
    return key


def parse_image_id(text: str) -> int:
    """An image id from the path (the route already took digits only)."""
    if not text.isdigit() or len(text) > 19 or int(text) > MAX_IMAGE_ID:
        raise LookupError(text)
    return int(text)
