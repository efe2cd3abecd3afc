"""The catalog's tables and column types (SQLAlchemy Core).

The tables must match the newest revision in ``migrations/versions``: a test compares them.
Every schema change is a new revision, never a table dropped and created again.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)

from astrocat_pipeline.adapters.catalog.rows import GEOMETRY_COLUMNS, MATCH_FIELDS, METADATA_FIELDS

__all__ = [
    "GEOMETRY_COLUMNS",
    "MATCH_FIELDS",
    "METADATA",
    "METADATA_FIELDS",
    "SafeFloat",
    "SafeText",
    "UTCDateTime",
    "catalog_matches",
    "images",
    "library_passes",
    "plate_solutions",
    "sky_footprints",
    "star_lists",
]


# --- column types ---------------------------------------------------------------------------


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    SQLite has no timezone type: values are stored as naive UTC text, which also keeps ``<`` and
    ``ORDER BY`` chronological there. A naive input is refused rather than guessed at.
    """

    impl = DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"expected a timezone-aware datetime, found naive {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class SafeText(TypeDecorator[str]):
    """Text without NUL characters: PostgreSQL refuses them, and headers of damaged files have
    them; one bad file must not fail its whole write (invariant 5)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return value.replace("\x00", "") if value is not None else None


class SafeFloat(TypeDecorator[float]):
    """Double precision where NaN is stored as NULL on every backend (SQLite does so anyway)."""

    impl = Double
    cache_ok = True

    def process_bind_param(self, value: float | None, dialect: Dialect) -> float | None:
        if value is None or math.isnan(value):
            return None
        return float(value)


# --- tables ---------------------------------------------------------------------------------

# Deterministic constraint names on every backend, so that later migrations can refer to them
# (SQLite's batch mode needs named constraints).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
METADATA = MetaData(naming_convention=NAMING_CONVENTION)

images = Table(
    "images",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("partition_key", SafeText, nullable=False, unique=True),
    Column("root", SafeText, nullable=False),
    Column("rel_path", SafeText, nullable=False),
    Column("path", SafeText, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("fingerprint", SafeText, index=True),
    Column("format", SafeText, nullable=False),
    Column("status", SafeText, nullable=False),
    Column("error_stage", SafeText),
    Column("error", SafeText),
    # ImageMetadata, all NULL until the file is indexed
    Column("width", Integer),
    Column("height", Integer),
    Column("channels", Integer),
    Column("bit_depth", Integer),
    Column("frame_type", SafeText, index=True),
    Column("object", SafeText),
    Column("object_key", SafeText, index=True),
    Column("exposure_s", SafeFloat),
    Column("date_obs", UTCDateTime),
    Column("camera", SafeText),
    Column("telescope", SafeText),
    Column("filter", SafeText),
    Column("gain", SafeFloat),
    Column("offset", SafeFloat),
    Column("iso", Integer),
    Column("ccd_temp_c", SafeFloat),
    Column("focal_length_mm", SafeFloat),
    Column("pixel_size_um", SafeFloat),
    Column("binning", Integer),
    Column("bayer_pattern", SafeText),
    Column("ra_deg", SafeFloat),
    Column("dec_deg", SafeFloat),
    Column("has_wcs", Boolean),
    Column("raw_header", SafeText),  # JSON object: keyword -> value
    Column("thumbnail_path", SafeText),
    # JSON: the stretch the thumbnail was made with and the content's fingerprint (revision
    # 0008), so that a thumbnail made again at another size reuses it instead of recomputing
    # the statistics.
    Column("thumbnail_stretch", SafeText),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("root", "rel_path"),
    # Removal with proof (revision 0006): the file's st_dev when inventoried, when a walk first
    # missed it with its folder intact, a removal held for the user's confirmation, and the
    # tombstone of a removed file (reads of the library leave tombstoned rows out).
    Column("device", BigInteger),
    Column("gone_since", UTCDateTime),
    Column("removal_held_at", UTCDateTime),
    Column("removed_at", UTCDateTime, index=True),
    # The target the frame shows (core.targets.target_of of OBJECT and the matches; revision
    # 0010), written with either; NULL: neither was ever written (target "unknown").
    Column("target", SafeText),
    # The search's order over the library (search_query.SEARCH_ORDER; revision 0008): a page of
    # results reads its ids from this index instead of sorting every image. It also holds the
    # columns the search's header filters test (revision 0010), so that a filtered page and its
    # count read the index alone.
    Index(
        "ix_images_search_order",
        "date_obs",
        "path",
        "id",
        "filter",
        "frame_type",
        "exposure_s",
        "camera",
        "telescope",
        "removed_at",  # SQLite reads a partial index alone only if it holds its condition's
        sqlite_where=text("removed_at IS NULL"),
        postgresql_where=text("removed_at IS NULL"),
    ),
    # Integration per target and filter (revision 0010): everything its aggregation reads, in
    # its grouping order.
    Index(
        "ix_images_target_filter",
        "target",
        "filter",
        "frame_type",
        "exposure_s",
        "fingerprint",
        "removed_at",
        sqlite_where=text("removed_at IS NULL"),
        postgresql_where=text("removed_at IS NULL"),
    ),
)

plate_solutions = Table(
    "plate_solutions",
    METADATA,
    Column("fingerprint", SafeText, primary_key=True),
    Column("status", SafeText, nullable=False),
    Column("solver", SafeText),
    Column("ra_deg", SafeFloat),
    Column("dec_deg", SafeFloat),
    Column("pixel_scale_arcsec", SafeFloat),
    Column("rotation_deg", SafeFloat),
    Column("parity", SafeText),
    Column("width_deg", SafeFloat),
    Column("height_deg", SafeFloat),
    Column("radius_deg", SafeFloat),
    Column("corners", SafeText),  # JSON: [[ra_deg, dec_deg], ...]
    Column("wcs_header", SafeText),
    Column("hints_used", SafeText),  # JSON: SolveHints.to_dict()
    Column("elapsed_s", SafeFloat),
    Column("error", SafeText),
    Column("submission_id", BigInteger),
    Column("job_id", BigInteger),
    Column("attempts", SafeText),  # JSON: [SolveAttempt.to_dict(), ...]
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Why a failed solve failed, when the pipeline itself failed it (a FailureKind value; NULL
    # for a solver's own failure): "stale" is set by fail_stale_solutions, so that a retry
    # resumes the nova job instead of uploading again.
    Column("failure_kind", SafeText),
    Index("ix_plate_solutions_status_updated_at", "status", "updated_at"),
    # A solution's status without its row (which holds the WCS header; revision 0010).
    Index("ix_plate_solutions_fingerprint_status", "fingerprint", "status"),
)

catalog_matches = Table(
    "catalog_matches",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column(
        "image_id",
        Integer,
        ForeignKey("images.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("catalog", SafeText, nullable=False),
    Column("designation", SafeText, nullable=False, index=True),
    Column("name", SafeText),
    Column("object_type", SafeText, nullable=False),
    Column("ra_deg", SafeFloat, nullable=False),
    Column("dec_deg", SafeFloat, nullable=False),
    Column("x_px", SafeFloat, nullable=False),
    Column("y_px", SafeFloat, nullable=False),
    Column("major_axis_arcmin", SafeFloat),
    Column("messier", Integer, index=True),
    Column("minor_axis_arcmin", SafeFloat),
    Column("position_angle_deg", SafeFloat),
    Column("magnitude", SafeFloat),
    # An image's matches in stored order with what a grid card names of them (revision 0010):
    # read from the index alone; its leading column serves the foreign key's cascades.
    Index("ix_catalog_matches_image_labels", "image_id", "id", "messier", "designation", "name"),
)

# The sky index (issue 6): one row per image whose content is solved (its solution's four
# corners), see core.sky_index. healpix_uniq is the NUNIQ number of the HEALPix cell of the
# footprint's centre at its size class's order; x, y, z the centre's unit vector and cos/sin_radius
# its bounding radius, for a bounding-circle filter in SQL; geometry the packed float64 values the
# exact test needs (core.sky_index.GEOMETRY_DOUBLES); partition_key the image's, so that a cone
# search reads one small row per candidate and nothing else. Plain columns and one B-tree, the
# same on SQLite and PostgreSQL without extensions. The primary key (healpix_uniq, image_id) is
# the B-tree a cone search walks; it holds the whole row: SQLite keeps it as the table (WITHOUT
# ROWID) and PostgreSQL INCLUDEs the other columns, so that the scan is index-only.
#
# A row per image rather than per solution, because looking up the images of ~1,000 solutions
# took more than half of a 2-degree search (bench/cone_search_bench.py). The rows follow both
# sides: save_solution rewrites those of the content's images, record_file those of an image
# whose content changed, deleting an image or a solution deletes them (cascades), and a reused
# solution writes the image's row again (index_image_footprint).
_SKY_ROW_COLUMNS = ("partition_key", "x", "y", "z", "cos_radius", "sin_radius", "geometry")
sky_footprints = Table(
    "sky_footprints",
    METADATA,
    Column("healpix_uniq", Integer, nullable=False, autoincrement=False),
    Column(
        "image_id",
        Integer,
        ForeignKey("images.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
        autoincrement=False,
    ),
    Column("partition_key", SafeText, nullable=False),
    Column(
        "fingerprint",
        SafeText,
        ForeignKey("plate_solutions.fingerprint", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("x", Double, nullable=False),
    Column("y", Double, nullable=False),
    Column("z", Double, nullable=False),
    Column("cos_radius", Double, nullable=False),
    Column("sin_radius", Double, nullable=False),
    Column("geometry", LargeBinary, nullable=False),
    PrimaryKeyConstraint("healpix_uniq", "image_id", postgresql_include=list(_SKY_ROW_COLUMNS)),
    sqlite_with_rowid=False,
)

# The last pass of each library walker over the roots (issue 16): what the new-file sensor's
# latest tick looked at and did, for the library health asset. One row per source, replaced by
# each tick (a history would grow by 2,880 rows a day and nothing reads it). offline_roots is a
# JSON list of the roots found offline.
library_passes = Table(
    "library_passes",
    METADATA,
    Column("source", SafeText, primary_key=True),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("elapsed_s", SafeFloat, nullable=False),
    Column("pass_number", Integer, nullable=False),
    Column("roots", Integer, nullable=False),
    Column("offline_roots", SafeText, nullable=False),
    Column("files_looked_at", Integer, nullable=False),
    Column("recorded", Integer, nullable=False),
    Column("new", Integer, nullable=False),
    Column("changed", Integer, nullable=False),
    Column("removed", Integer, nullable=False),
    Column("removals_left", Integer, nullable=False),
    Column("runs_launched", Integer, nullable=False),
)

# The stars found in a frame (issue 17): the solver's input, found in the same read of the file
# as its fingerprint and thumbnail, so that solving never reads the image again. Keyed by
# content fingerprint like the plate solutions (a moved file keeps it), with the frame's size
# the positions refer to. ``stars`` packs x_px, y_px, flux as little-endian float64 triples,
# brightest first (core.star_detect.DetectedStars; 24 bytes a star, at most
# STAR_LIST_MAX_STARS).
star_lists = Table(
    "star_lists",
    METADATA,
    Column("fingerprint", SafeText, primary_key=True),
    Column("width_px", Integer, nullable=False),
    Column("height_px", Integer, nullable=False),
    Column("star_count", Integer, nullable=False),
    Column("stars", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Written by record_metadata; path and format belong to the inventory.
METADATA_COLUMNS = tuple(n for n in METADATA_FIELDS if n not in ("path", "format"))
INVENTORY_COLUMNS = ("root", "rel_path", "path", "size_bytes", "mtime_ns", "format", "device")
