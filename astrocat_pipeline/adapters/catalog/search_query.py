"""The catalog search as SQL text and the decoding of its rows, without SQLAlchemy.

One statement serves both ways in: :meth:`CatalogStore.search` runs it through SQLAlchemy on
SQLite and PostgreSQL, and :mod:`.quick_read` runs it through the ``sqlite3`` module for a
command that only reads (SQLAlchemy alone takes ~0.4 s to import here). The parameters are
named (``:name``), which both understand; rows are decoded from raw driver values.

A :class:`Projection` says what the search reads of each image it finds: :data:`FULL` (every
column, the plate solution, every match: :class:`SearchResult`) or :data:`GRID` (what a card of
the gallery's grid shows: :class:`GridCard`). The images and their order are the same in both:
the conditions, order and paging are one statement's; only the columns read differ.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from astrocat_pipeline.adapters.catalog.rows import (
    MATCH_FIELDS,
    GridCard,
    RowMapping,
    SearchResult,
    image_from_db,
    solution_from_db,
    utc,
)
from astrocat_pipeline.core.records import CatalogMatch, ImageStatus, SolveStatus, object_label

# Columns read per image (the raw header stays in the table) and per plate solution; a test
# checks them against the schema's tables.
IMAGE_COLUMNS = (
    "id",
    "partition_key",
    "root",
    "rel_path",
    "path",
    "size_bytes",
    "mtime_ns",
    "fingerprint",
    "format",
    "status",
    "error_stage",
    "error",
    "width",
    "height",
    "channels",
    "bit_depth",
    "frame_type",
    "object",
    "object_key",
    "exposure_s",
    "date_obs",
    "camera",
    "telescope",
    "filter",
    "gain",
    "offset",
    "iso",
    "ccd_temp_c",
    "focal_length_mm",
    "pixel_size_um",
    "binning",
    "bayer_pattern",
    "ra_deg",
    "dec_deg",
    "has_wcs",
    "thumbnail_path",
    "created_at",
    "updated_at",
    "device",
    "gone_since",
    "removal_held_at",
    "removed_at",
    "target",
)
SOLUTION_COLUMNS = (
    "fingerprint",
    "status",
    "solver",
    "ra_deg",
    "dec_deg",
    "pixel_scale_arcsec",
    "rotation_deg",
    "parity",
    "width_deg",
    "height_deg",
    "radius_deg",
    "corners",
    "wcs_header",
    "hints_used",
    "elapsed_s",
    "error",
    "submission_id",
    "job_id",
    "attempts",
    "created_at",
    "updated_at",
    "failure_kind",
)
# The select lists of the two projections (see Projection): everything, the solution's columns
# prefixed ps_; and what a grid card shows.
_FULL_COLUMNS = ", ".join(
    [f"images.{name}" for name in IMAGE_COLUMNS]
    + [f"plate_solutions.{name} AS ps_{name}" for name in SOLUTION_COLUMNS]
)
# The search's order: by observation time (frames without one last, on both backends), then
# path. Served by the index ix_images_search_order (revision 0008) on both backends.
SEARCH_ORDER = "images.date_obs ASC NULLS LAST, images.path, images.id"
# The columns of ``images`` a grid card shows (GridCard), and how many objects it names.
GRID_IMAGE_COLUMNS = (
    "id",
    "partition_key",
    "rel_path",
    "status",
    "object",
    "filter",
    "exposure_s",
    "date_obs",
    "frame_type",
    "thumbnail_path",
)
GRID_OBJECTS = 3
_GRID_COLUMNS = ", ".join(
    [f"images.{name}" for name in GRID_IMAGE_COLUMNS] + ["plate_solutions.status AS ps_status"]
)
_MESSIER_KEY = re.compile(r"M (\d+)")


# SQLAlchemy's storage format of a DateTime on SQLite (naive UTC text, ordered as time is):
# a time bound is compared with the stored text in that same form.
_SQLITE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
_LIKE_ESCAPE = "\\"


@dataclass(frozen=True)
class HeaderFilters:
    """The search's filters on the frames' own metadata, all combinable (None: no filter).

    Texts match when the field contains them, ignoring case (ASCII case, on both backends);
    the frame type matches exactly; ``date_from`` is inclusive and ``date_before`` exclusive
    (aware datetimes); the exposure bounds are inclusive. A frame without the field never
    matches a filter on it.
    """

    filter: str | None = None
    frame_type: str | None = None
    camera: str | None = None
    telescope: str | None = None
    date_from: datetime | None = None
    date_before: datetime | None = None
    min_exposure_s: float | None = None
    max_exposure_s: float | None = None


NO_FILTERS = HeaderFilters()


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _time_param(value: datetime, sqlite_times: bool) -> Any:
    if value.tzinfo is None:
        raise ValueError(f"expected a timezone-aware datetime, found naive {value!r}")
    value = value.astimezone(UTC)
    return value.replace(tzinfo=None).strftime(_SQLITE_TIME_FORMAT) if sqlite_times else value


def _filter_conditions(
    filters: HeaderFilters, params: dict[str, Any], sqlite_times: bool
) -> list[str]:
    """SQL conditions on ``images`` for ``filters``, their parameters added to ``params``."""
    conditions = []
    for name in ("filter", "camera", "telescope"):
        wanted = getattr(filters, name)
        if wanted is not None:
            params[f"f_{name}"] = _like_pattern(wanted)
            conditions.append(f"LOWER(images.{name}) LIKE :f_{name} ESCAPE '{_LIKE_ESCAPE}'")
    if filters.frame_type is not None:
        params["f_frame_type"] = filters.frame_type
        conditions.append("images.frame_type = :f_frame_type")
    if filters.date_from is not None:
        params["f_date_from"] = _time_param(filters.date_from, sqlite_times)
        conditions.append("images.date_obs >= :f_date_from")
    if filters.date_before is not None:
        params["f_date_before"] = _time_param(filters.date_before, sqlite_times)
        conditions.append("images.date_obs < :f_date_before")
    if filters.min_exposure_s is not None:
        params["f_min_exposure"] = float(filters.min_exposure_s)
        conditions.append("images.exposure_s >= :f_min_exposure")
    if filters.max_exposure_s is not None:
        params["f_max_exposure"] = float(filters.max_exposure_s)
        conditions.append("images.exposure_s <= :f_max_exposure")
    return conditions


def bind_names(prefix: str, count: int) -> tuple[list[str], str]:
    names = [f"{prefix}{i}" for i in range(count)]
    return names, ", ".join(f":{name}" for name in names)


def _where(
    object_keys: Collection[str] | None, filters: HeaderFilters, sqlite_times: bool
) -> tuple[str, dict[str, Any]] | None:
    """The search's WHERE clause on ``images`` and its parameters; None when no image can
    match (an empty collection of keys)."""
    if isinstance(object_keys, str):
        raise TypeError(f"expected a collection of object keys, found the string {object_keys!r}")
    # Tombstones (removed files kept for their return) are not part of the library.
    conditions = ["images.removed_at IS NULL"]
    params: dict[str, Any] = {}
    if object_keys is not None:
        keys = sorted(set(object_keys))
        if not keys:
            return None
        messier = sorted(
            {int(m.group(1)) for k in keys if (m := _MESSIER_KEY.fullmatch(k)) is not None}
        )
        key_names, key_marks = bind_names("key_", len(keys))
        params.update(zip(key_names, keys, strict=True))
        matched = f"catalog_matches.designation IN ({key_marks})"
        if messier:
            messier_names, messier_marks = bind_names("messier_", len(messier))
            params.update(zip(messier_names, messier, strict=True))
            matched += f" OR catalog_matches.messier IN ({messier_marks})"
        # One IN over both sources (not an OR of two): the planners then estimate it from the
        # indexes of both and collect the few matching ids instead of walking the whole order.
        hits = (
            f"SELECT catalog_matches.image_id FROM catalog_matches WHERE {matched} "
            f"UNION SELECT named.id FROM images AS named WHERE named.object_key IN ({key_marks})"
        )
        if sqlite_times:
            conditions.append(f"images.id IN ({hits})")
        else:
            # PostgreSQL costs 2,000 candidate ids looked up by primary key above a hash join
            # with a scan of every image (random_page_cost assumes a disk) and took the scan:
            # 190 ms for 1,000 results of 100,000 images. The ids as one array computed first
            # are looked up by primary key: 38 ms (bench/README.md).
            conditions.append(f"images.id = ANY(ARRAY({hits}))")
    conditions += _filter_conditions(filters, params, sqlite_times)
    return " WHERE " + " AND ".join(conditions), params


def search_statement(
    object_keys: Collection[str] | None,
    limit: int | None = None,
    *,
    filters: HeaderFilters = NO_FILTERS,
    offset: int = 0,
    sqlite_times: bool = True,
    columns: str = _FULL_COLUMNS,
) -> tuple[str, dict[str, Any]] | None:
    """The statement that finds the images showing any of ``object_keys`` (normalized
    designations such as "NGC 224" or "M 31"; None: every image) and passing ``filters``,
    ordered by observation time then path, with their plate solutions; None when no image can
    match (no keys). ``limit`` and ``offset`` page through the results; ``sqlite_times`` says
    how to bind time bounds (SQLite's stored text, or aware datetimes for PostgreSQL);
    ``columns`` is the select list over ``images`` and ``plate_solutions`` (a projection's;
    by default every column of both, the solution's prefixed ``ps_``).

    An image matches through its catalog matches (designation, or Messier number for an "M n"
    key) or, for frames never solved, through its header's normalized OBJECT.
    """
    where = _where(object_keys, filters, sqlite_times)
    if where is None:
        return None
    where_sql, params = where
    joined = (
        "images LEFT OUTER JOIN plate_solutions ON plate_solutions.fingerprint = images.fingerprint"
    )
    if offset and limit is None:
        raise ValueError("an offset needs a limit")
    if limit is None:
        return f"SELECT {columns} FROM {joined}{where_sql} ORDER BY {SEARCH_ORDER}", params
    # A page: its ids first, in the order of the index ix_images_search_order (narrow rows,
    # no join for the rows skipped), then the page's rows with their solutions.
    params["limit"] = int(limit)
    # SQLite without statistics (a catalog nobody ran ANALYZE on, as every user's) takes
    # ``removed_at IS NULL`` for a selective term of ix_images_removed_at, reads the whole
    # library through it and sorts it: 3-5 times the CPU of walking the search order for a page
    # deep into 100,000 images (bench/gallery_bench.py). Without object keys the order's
    # covering index is the plan; INDEXED BY keeps it (and fails loudly if it is ever gone).
    hint = " INDEXED BY ix_images_search_order" if sqlite_times and object_keys is None else ""
    page = f"SELECT images.id FROM images{hint}{where_sql} ORDER BY {SEARCH_ORDER} LIMIT :limit"
    if offset:
        page += " OFFSET :offset"
        params["offset"] = int(offset)
    sql = (
        f"SELECT {columns} FROM ({page}) AS page JOIN images ON images.id = page.id "
        "LEFT OUTER JOIN plate_solutions ON plate_solutions.fingerprint = images.fingerprint "
        f"ORDER BY {SEARCH_ORDER}"
    )
    return sql, params


def count_statement(
    object_keys: Collection[str] | None,
    *,
    filters: HeaderFilters = NO_FILTERS,
    sqlite_times: bool = True,
) -> tuple[str, dict[str, Any]] | None:
    """The statement that counts what :func:`search_statement` finds (column ``n``); None when
    nothing can match."""
    where = _where(object_keys, filters, sqlite_times)
    if where is None:
        return None
    where_sql, params = where
    # With header filters and no object, SQLite (no statistics: nothing runs ANALYZE on a
    # user's catalog) counts through the removed_at index and reads every row for the filters;
    # the search order's covering index holds those columns: 24 against 125 ms for one filter
    # over one year of 100,000 images, 20-24 against 52-56 ms for a frame type or an exposure
    # (bench/gallery_bench.py). Without filters the planner's count is the quicker one.
    hint = ""
    if sqlite_times and object_keys is None and filters != NO_FILTERS:
        hint = " INDEXED BY ix_images_search_order"
    return f"SELECT COUNT(*) AS n FROM images{hint}" + where_sql, params


def _in_ids(column: str, image_ids: Sequence[int], sqlite: bool) -> tuple[str, dict[str, Any]]:
    """``column`` is one of ``image_ids``, as one bound parameter: a JSON array read by
    ``json_each`` on SQLite, an array on PostgreSQL. One parameter rather than one per id: the
    statement's text stays the same for any page, and binding a thousand named parameters cost
    more than the query (bench/gallery_bench.py)."""
    ids = [int(i) for i in image_ids]
    if sqlite:
        return f"{column} IN (SELECT value FROM json_each(:image_ids))", {
            "image_ids": json.dumps(ids)
        }
    return f"{column} = ANY(:image_ids)", {"image_ids": ids}


def matches_statement(image_ids: Sequence[int], sqlite: bool = True) -> tuple[str, dict[str, Any]]:
    """The statement that reads the catalog matches of ``image_ids``, in the order they were
    written (``sqlite``: the statement is for SQLite, else for PostgreSQL)."""
    condition, params = _in_ids("image_id", image_ids, sqlite)
    sql = (
        f"SELECT image_id, {', '.join(MATCH_FIELDS)} FROM catalog_matches "
        f"WHERE {condition} ORDER BY id"
    )
    return sql, params


def grid_matches_statement(
    image_ids: Sequence[int], sqlite: bool = True
) -> tuple[str, dict[str, Any]]:
    """The statement that reads what a grid card names of the first ``GRID_OBJECTS`` catalog
    matches of each of ``image_ids``, in the order they were written: from the index
    ``ix_catalog_matches_image_labels`` alone (revision 0010)."""
    condition, params = _in_ids("image_id", image_ids, sqlite)
    sql = (
        "SELECT image_id, messier, name, designation FROM (SELECT image_id, messier, name, "
        "designation, id, ROW_NUMBER() OVER (PARTITION BY image_id ORDER BY id) AS n "
        f"FROM catalog_matches WHERE {condition}) AS firsts "
        "WHERE n <= :shown ORDER BY id"
    )
    return sql, {**params, "shown": GRID_OBJECTS}


R = TypeVar("R")


@dataclass(frozen=True)
class Projection(Generic[R]):
    """What a search reads of each image it finds, and the record it makes of it: the select
    list over ``images`` and ``plate_solutions``, the statement reading a chunk of images'
    matches, and the record made of an image's row and its match rows."""

    columns: str
    matches: Callable[[Sequence[int], bool], tuple[str, dict[str, Any]]]
    record: Callable[[RowMapping, list[RowMapping]], R]


def _full_record(row: RowMapping, matches: list[RowMapping]) -> SearchResult:
    return SearchResult(
        image=image_from_db(row, row["ps_status"]),
        plate_solution=(
            solution_from_db(row, prefix="ps_").to_solution()
            if row["ps_fingerprint"] is not None
            else None
        ),
        # By position (MATCH_FIELDS is CatalogMatch's field order): twice as fast as a dict per
        # match, and a page of 1,000 frames has thousands.
        matches=tuple(CatalogMatch(*[match[n] for n in MATCH_FIELDS]) for match in matches),
    )


def _grid_record(row: RowMapping, matches: list[RowMapping]) -> GridCard:
    status = row["ps_status"]
    return GridCard(
        image_id=int(row["id"]),
        partition_key=row["partition_key"],
        rel_path=row["rel_path"],
        status=ImageStatus(row["status"]),
        object=row["object"],
        filter=row["filter"],
        exposure_s=row["exposure_s"],
        date_obs=utc(row["date_obs"]),
        frame_type=row["frame_type"],
        has_thumbnail=row["thumbnail_path"] is not None,
        solution_status=SolveStatus(status) if status is not None else None,
        objects=tuple(object_label(m["messier"], m["name"], m["designation"]) for m in matches),
    )


# Every column, the plate solution and every match: what ``astrocat search`` shows.
FULL: Projection[SearchResult] = Projection(_FULL_COLUMNS, matches_statement, _full_record)
# What a card of the gallery's grid shows, and nothing else: a page of 1,000 cards takes about a
# third of the full records' CPU time (bench/gallery_bench.py: 44 ms against 127-171 ms).
GRID: Projection[GridCard] = Projection(_GRID_COLUMNS, grid_matches_statement, _grid_record)


def run_search(
    execute: Callable[[str, dict[str, Any]], Iterable[Mapping[str, Any]]],
    object_keys: Collection[str] | None,
    limit: int | None = None,
    *,
    filters: HeaderFilters = NO_FILTERS,
    offset: int = 0,
    sqlite_times: bool = True,
    projection: Projection[R],
) -> list[R]:
    """The search, through ``execute`` (which runs one statement with its parameters and returns
    its rows as mappings by column name), as ``projection``'s records."""
    statement = search_statement(
        object_keys,
        limit,
        filters=filters,
        offset=offset,
        sqlite_times=sqlite_times,
        columns=projection.columns,
    )
    if statement is None:
        return []
    rows = list(execute(*statement))
    matches: dict[int, list[RowMapping]] = {row["id"]: [] for row in rows}
    if matches:
        for match in execute(*projection.matches(list(matches), sqlite_times)):
            matches[match["image_id"]].append(match)
    return [projection.record(row, matches[row["id"]]) for row in rows]


def run_count(
    execute: Callable[[str, dict[str, Any]], Iterable[Mapping[str, Any]]],
    object_keys: Collection[str] | None,
    *,
    filters: HeaderFilters = NO_FILTERS,
    sqlite_times: bool = True,
) -> int:
    """How many images :func:`run_search` finds without a limit."""
    statement = count_statement(object_keys, filters=filters, sqlite_times=sqlite_times)
    if statement is None:
        return 0
    return int(next(iter(execute(*statement)))["n"])
