"""The sky index: each image's solved footprint, and cone searches over them.

``sky_footprints`` (see :mod:`.schema`) holds one row per image whose content is solved: the
HEALPix cell of the footprint's centre at an order chosen from its size, its bounding circle,
its packed corners and the image's partition key. A cone search reads a few key ranges per size
class, filters by bounding circle in the database and runs the exact test here (numpy); the
statements are tuned per backend (see bench/cone_search_bench.py for the figures).

The footprints follow both sides: :func:`write_footprints` is called by the images part when an
image's content changes and by the solutions part when a solution is saved.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection, delete, select

from astrocat_pipeline.adapters.catalog.base import StoreBase, chunks
from astrocat_pipeline.adapters.catalog.rows import loads
from astrocat_pipeline.adapters.catalog.schema import images, plate_solutions, sky_footprints
from astrocat_pipeline.core.records import SolveStatus
from astrocat_pipeline.core.sky_index import (
    GEOMETRY_DOUBLES,
    MAX_ORDER,
    cone_key_ranges,
    footprint_records,
    geometry_overlaps_cone,
    order_key_range,
    prefilter_terms,
)
from astrocat_pipeline.core.tuning import (
    SKY_INDEX_CLASS_RADIUS_DEG,
    SKY_INDEX_QUERY_CELL_FRACTION,
)

__all__ = ["SkyIndexPart", "solved_corners", "write_footprints"]


class SkyIndexPart(StoreBase):
    """The store's sky index: cone searches, and an image's footprint from a reused solution."""

    def index_image_footprint(self, partition_key: str) -> None:
        """Write the image's row of the sky index from its content's solution (none unless
        solved), whatever was there: a step that reuses a solution calls it, so that an image
        recorded while its content was being solved elsewhere is indexed too."""
        with self._engine.begin() as conn:
            row = self._lock_image(conn, partition_key)
            corners = solved_corners(conn, row.fingerprint) if row.fingerprint else []
            write_footprints(conn, row.fingerprint, corners, row.id)

    def cone_search(self, ra_deg: float, dec_deg: float, radius_deg: float) -> list[str]:
        """Partition keys of the images whose solved footprint overlaps a cone.

        Exact on the sphere: an image counts when the cone's centre is inside its footprint (the
        quadrilateral of its corners) or an edge comes within ``radius_deg``, not by distance
        between centres; right across RA 0h and at the poles. Candidates come from a few ranges
        of the sky index per size class, filtered by bounding circle in the database; the exact
        test runs on their packed geometry here (numpy). Ordered by distance from the cone's
        centre to the footprint's centre, then key.

        Parameters
        ----------
        ra_deg, dec_deg : float
            Centre of the cone, ICRS degrees (Dec within [-90, 90]).
        radius_deg : float
            Radius in degrees (>= 0; 0 finds the frames containing the point).
        """
        for name, value in (("ra_deg", ra_deg), ("dec_deg", dec_deg), ("radius_deg", radius_deg)):
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        if not -90.0 <= dec_deg <= 90.0:
            raise ValueError(f"dec_deg must be within [-90, 90], got {dec_deg!r}")
        if radius_deg < 0:
            raise ValueError(f"radius_deg must be >= 0, got {radius_deg!r}")
        terms = prefilter_terms(ra_deg, dec_deg, radius_deg)

        def ranges_for(classes: Sequence[int]) -> list[tuple[int, int]]:
            return cone_key_ranges(
                ra_deg,
                dec_deg,
                radius_deg,
                classes,
                SKY_INDEX_CLASS_RADIUS_DEG,
                SKY_INDEX_QUERY_CELL_FRACTION,
            )

        with self._reader.connect() as conn:
            if conn.dialect.name == "postgresql":
                keys, packed = self._pg_candidates(conn, ranges_for, terms)
            else:
                keys, packed = _sqlite_candidates(conn, ranges_for, terms)
        if not keys:
            return []
        geometry = np.frombuffer(packed, dtype="<f8").reshape(len(keys), GEOMETRY_DOUBLES)
        overlaps, closeness = geometry_overlaps_cone(geometry, ra_deg, dec_deg, radius_deg)
        return _nearest_first(keys, overlaps, closeness)

    def _pg_candidates(
        self,
        conn: Connection,
        ranges_for: Callable[[Sequence[int]], list[tuple[int, int]]],
        terms: tuple[float, ...] | None,
    ) -> tuple[list[str], bytes]:
        """The candidates of a cone search on PostgreSQL (as :func:`_sqlite_candidates`), in one
        round trip: the search's settings and its statement are pipelined (psycopg 3) and end
        with one Sync, so they share one implicit transaction that the settings
        (``set_config(..., true)``) end with; in autocommit, so no BEGIN and ROLLBACK. psycopg
        prepares the statement on a connection's first search, and its result comes in
        PostgreSQL's binary format: the packed geometry as its own bytes rather than hex text,
        half as much to move (a millisecond less for a 2° cone's ~120 kB).

        The statement reads the candidates of the size classes seen last time and which classes
        hold a footprint now. A class that has appeared since (a footprint of a new size) is
        searched again at once, so no result ever misses one; a class that has emptied costs a
        few empty ranges.
        """
        dbapi: Any = conn.connection.dbapi_connection  # psycopg's own connection
        prefilter = terms is not None
        # Autocommit set on the driver's connection directly, and restored before the pool
        # gets it back: through SQLAlchemy's isolation_level option, setting and resetting it
        # cost a third of a millisecond per search.
        dbapi.autocommit = True
        try:
            classes = self._sky_classes
            joined = True
            while True:
                ranges = ranges_for(classes)
                params = (
                    _pg_bigint_array(lo for lo, _ in ranges),
                    _pg_bigint_array(hi for _, hi in ranges),
                    *(terms or ()),
                )
                with dbapi.pipeline():
                    dbapi.execute(_PG_SEARCH_SETTINGS, prepare=True)
                    cursor = dbapi.execute(
                        _pg_candidates_sql(prefilter, joined), params, prepare=True, binary=True
                    )
                *probes, found_keys, geometry = cursor.fetchone()
                packed = bytes(geometry) if geometry is not None else b""
                if found_keys is None:
                    keys = []
                elif joined:
                    keys = found_keys.split(_PG_KEY_SEPARATOR)
                    if len(keys) * GEOMETRY_DOUBLES * 8 != len(packed):
                        # A key holds the separator (no inventory key does): read them as an
                        # array instead.
                        joined = False
                        continue
                else:
                    keys = found_keys
                present = [order for order, probe in enumerate(probes) if probe is not None]
                self._sky_classes = present
                if set(present) <= set(classes):
                    return keys, packed
                classes = present
        finally:
            if not dbapi.closed:
                dbapi.autocommit = False


def _nearest_first(keys: Sequence[str], hits: np.ndarray, closeness: np.ndarray) -> list[str]:
    """The ``keys`` of the ``hits``, by decreasing ``closeness`` and, among equals (copies of one
    file share a solution), by key. One numpy sort; only runs of equal closeness, if any, are
    sorted again by key in Python."""
    chosen = np.flatnonzero(hits)
    nearest = chosen[np.argsort(-closeness[chosen], kind="stable")]
    ordered = [keys[i] for i in nearest.tolist()]
    values = closeness[nearest]
    tied = np.flatnonzero(values[1:] == values[:-1])
    if tied.size:
        # Runs of equal values: each starts where the previous pair was not tied.
        starts = tied[np.r_[True, tied[1:] != tied[:-1] + 1]]
        for start in starts.tolist():
            stop = start + 1
            while stop < len(values) and values[stop] == values[start]:
                stop += 1
            ordered[start:stop] = sorted(ordered[start:stop])
    return ordered


# Whether each size class (order 0 to MAX_ORDER) has a footprint: one indexed probe each, so
# that a cone search scans only the classes in use.
_CLASSES_PRESENT = select(
    *(
        select(sky_footprints.c.healpix_uniq)
        .where(
            sky_footprints.c.healpix_uniq >= order_key_range(order)[0],
            sky_footprints.c.healpix_uniq < order_key_range(order)[1],
        )
        .limit(1)
        .scalar_subquery()
        .label(f"order_{order}")
        for order in range(MAX_ORDER + 1)
    )
)
# The same as literal SQL for the driver's cursor (no parameters; identical on both backends).
_CLASSES_SQL = str(_CLASSES_PRESENT.compile(compile_kwargs={"literal_binds": True}))
# Ranges per candidate query on SQLite (2 parameters each; a 2° cone has ~60): below its
# historical limit of 999 bound parameters and its 500 compound SELECTs.
_MAX_UNION_ARMS = 120
# The bounding-circle test of a candidate (core.sky_index.prefilter_terms), with placeholders
# for the terms px, py, pz, cos_r, sin_r, slack. Footprints of 90° radius or more
# (cos_radius <= 0) always pass: the test assumes radius + bounding radius <= 180°.
_PREFILTER_SQL = (
    "(x * {0} + y * {1} + z * {2} >= {3} * cos_radius - {4} * sin_radius - {5} OR cos_radius <= 0)"
)


def _present_classes(cursor: Any) -> list[int]:
    """The size classes (orders) that hold a footprint."""
    cursor.execute(_CLASSES_SQL)
    return [order for order, present in enumerate(cursor.fetchone()) if present is not None]


def _sqlite_candidates(
    conn: Connection,
    ranges_for: Callable[[Sequence[int]], list[tuple[int, int]]],
    terms: tuple[float, ...] | None,
) -> tuple[list[str], bytes]:
    """The candidates of a cone search on SQLite: their partition keys, and their packed
    geometries one after the other (``GEOMETRY_DOUBLES`` little-endian float64 each).

    Straight to the driver's cursor. Each statement reads its own snapshot: a footprint written
    between the class probe and the candidates is found or not, as if written just before or
    just after the search; each row lies in one range, so none is found twice. One
    UNION ALL arm per range of the sky index, rather than an OR of ranges: SQLite walks each
    range of the primary key either way, but for an OR it also keeps every row's key in a
    temporary index to drop duplicates (a third slower for 2° cones). The rows are aggregated
    into one: stepping and converting a result row costs the sqlite3 module about 1 µs, more
    than scanning and filtering it. group_concat of the blobs concatenates their bytes as they
    are (a BLOB read as TEXT is not converted in a UTF-8 database) and CAST ... AS BLOB returns
    them undecoded.
    """
    keys: list[str] = []
    blobs: list[bytes] = []
    cursor: Any = conn.connection.cursor()  # the DBAPI's: rows as plain tuples
    try:
        ranges = ranges_for(_present_classes(cursor))
        prefilter = (
            ""
            if terms is None
            else " AND " + _PREFILTER_SQL.format(*(f"?{i}" for i in range(1, 7)))
        )
        first = 1 if terms is None else 7
        for chunk in chunks(ranges, _MAX_UNION_ARMS):
            arms = " UNION ALL ".join(
                "SELECT partition_key, geometry FROM sky_footprints WHERE"
                f" healpix_uniq >= ?{lo} AND healpix_uniq < ?{lo + 1}{prefilter}"
                for lo in range(first, first + 2 * len(chunk), 2)
            )
            cursor.execute(
                "SELECT group_concat(partition_key, char(0)),"
                f" CAST(group_concat(geometry, '') AS BLOB) FROM ({arms})",
                (*(terms or ()), *(bound for lo_hi in chunk for bound in lo_hi)),
            )
            joined_keys, joined_geometry = cursor.fetchone()
            if joined_keys is not None:
                keys.extend(joined_keys.split("\0"))  # no path holds a NUL character
                blobs.append(joined_geometry)
    finally:
        cursor.close()
    packed = b"".join(blobs)
    if len(packed) != len(keys) * GEOMETRY_DOUBLES * 8:
        raise RuntimeError(f"sky index: {len(keys)} candidates but {len(packed)} bytes of geometry")
    return keys, packed


def _pg_candidates_sql(prefilter: bool, joined_keys: bool, numbered: bool = False) -> str:
    """The one statement of a cone search on PostgreSQL: which size classes hold a footprint,
    and the candidates in the ranges of the first two parameters (text arrays of bigint
    bounds) whose bounding circle reaches the cone (with ``prefilter``, the terms are the next
    six), aggregated into one row (two aggregates over the same rows see them in the same
    order): the keys joined by :data:`_PG_KEY_SEPARATOR` (``joined_keys``; a third faster to
    read than an array) or as an array, and the packed geometries one after the other.

    Placeholders are psycopg's ``%s``, or PostgreSQL's ``$1``... with ``numbered`` (for a
    PREPARE statement).

    One index scan rescanned per range (a lateral join over the ranges' arrays) rather than one
    UNION ALL arm per range: one statement for any number of ranges, whose executor does not
    start a scan per range.
    """
    marks = [f"${i}" if numbered else "%s" for i in range(1, 9)]
    condition = "healpix_uniq >= r.lo AND healpix_uniq < r.hi"
    if prefilter:
        condition += " AND " + _PREFILTER_SQL.format(*marks[2:])
    keys = "string_agg(f.partition_key, chr(10))" if joined_keys else "array_agg(f.partition_key)"
    return (
        "SELECT classes.*, found.* FROM ("
        + _CLASSES_SQL
        + f") AS classes, (SELECT {keys}, string_agg(f.geometry, ''::bytea)"
        f" FROM unnest({marks[0]}::bigint[], {marks[1]}::bigint[]) AS r(lo, hi)"
        " CROSS JOIN LATERAL (SELECT partition_key, geometry FROM sky_footprints"
        f" WHERE {condition}) AS f) AS found"
    )


def _pg_bigint_array(values: Iterable[int]) -> str:
    """A bigint[] parameter as PostgreSQL's array text: one parameter type for every search
    (psycopg types a list of ints by its largest value, which would prepare the statement again
    for each new type)."""
    return "{" + ",".join(map(str, values)) + "}"


# Between the keys of a cone search's candidates on PostgreSQL (chr(10) in the statement; the
# text type holds no NUL). Partition keys never hold it (core.inventory), nor may Dagster's.
_PG_KEY_SEPARATOR = "\n"
# The settings of a search's statement, local to the implicit transaction it shares with it:
# - the generic plan, so that nothing is planned per search (planning the class probe took
#   about 1 ms);
# - enable_seqscan = off: a generic plan cannot know the ranges' widths, and costed without
#   them it reads the whole table (150 ms) instead of one index scan per range;
# - jit = off: that plan's estimate (ranges of unknown width) crosses jit_above_cost, and
#   compiling a query that runs in a few milliseconds took up to 280 ms.
_PG_SEARCH_SETTINGS = (
    "SELECT set_config('plan_cache_mode', 'force_generic_plan', true),"
    " set_config('enable_seqscan', 'off', true), set_config('jit', 'off', true)"
)


def solved_corners(conn: Connection, fingerprint: str) -> list[tuple[float, float]]:
    """The corners of ``fingerprint``'s solution if it is solved, else none."""
    text = conn.scalar(
        select(plate_solutions.c.corners).where(
            plate_solutions.c.fingerprint == fingerprint,
            plate_solutions.c.status == SolveStatus.SOLVED,
        )
    )
    corners = loads(text) if text else None
    return [tuple(corner) for corner in corners] if corners else []


def write_footprints(
    conn: Connection,
    fingerprint: str | None,
    corners: Sequence[tuple[float, float]],
    image_id: int | None = None,
) -> None:
    """Make ``corners`` (none: not solved) the indexed footprint of the images of content
    ``fingerprint``, or of image ``image_id`` only (whose rows of any content are replaced;
    ``fingerprint`` None: the image has no content recorded, so it gets no row)."""
    if image_id is None:
        conn.execute(delete(sky_footprints).where(sky_footprints.c.fingerprint == fingerprint))
    else:
        conn.execute(delete(sky_footprints).where(sky_footprints.c.image_id == image_id))
    if fingerprint is None or len(corners) != 4:
        return
    owners = select(images.c.id, images.c.partition_key).where(images.c.fingerprint == fingerprint)
    if image_id is not None:
        owners = owners.where(images.c.id == image_id)
    rows = conn.execute(owners.order_by(images.c.id)).all()
    if rows:
        conn.execute(sky_footprints.insert(), _sky_rows(rows, fingerprint, corners))


def _sky_rows(
    owners: Sequence[Any], fingerprint: str, corners: Sequence[tuple[float, float]]
) -> list[dict[str, Any]]:
    """The sky_footprints rows of images ``(id, partition_key)`` whose content
    ``fingerprint`` has the footprint ``corners`` (four (ra, dec) pairs)."""
    records = footprint_records(np.array([corners], dtype=float), SKY_INDEX_CLASS_RADIUS_DEG)
    (x, y, z), blob = records.centres[0].tolist(), records.blobs()[0]
    return [
        {
            "healpix_uniq": int(records.keys[0]),
            "image_id": image_id,
            "partition_key": partition_key,
            "fingerprint": fingerprint,
            "x": x,
            "y": y,
            "z": z,
            "cos_radius": float(records.cos_radius[0]),
            "sin_radius": float(records.sin_radius[0]),
            "geometry": blob,
        }
        for image_id, partition_key in owners
    ]
