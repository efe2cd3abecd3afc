"""Frozen records passed between core, adapters and the Dagster wiring.

Units are in the names; coordinates are ICRS degrees; times are timezone-aware UTC datetimes.
Records become dicts only at the database and metadata edges (``to_dict``).
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from astrocat_pipeline.core.frame_types import FrameType


class ImageStatus(StrEnum):
    """Where one image file is in the pipeline. The values are what the catalog stores and what
    JSON shows (a ``StrEnum`` compares equal to its text)."""

    DISCOVERED = "discovered"  # inventoried, not read yet
    INDEXED = "indexed"  # its metadata is recorded
    ERROR = "error"  # a step failed on it; the image's error and error stage say why


class SolveStatus(StrEnum):
    """Where the plate solve of one file's content is (stored and shown as the text value)."""

    PENDING = "pending"  # about to be solved
    SUBMITTED = "submitted"  # uploaded to nova, no job yet
    PROCESSING = "processing"  # a solver is working on it
    SOLVED = "solved"
    FAILED = "failed"
    SKIPPED = "skipped"  # nothing to solve (a calibration frame) or no solver configured


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value  # a plain string or number, as the database and Dagster want it
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class InventoryEntry:
    """One image file found under a library root (what a directory scan sees, no content)."""

    root: str
    rel_path: str  # POSIX separators, relative to root
    size_bytes: int
    mtime_ns: int
    format: str  # "fits", ... (see core.formats)
    partition_key: str
    # st_dev of the file when seen (None: not known): a vanished file is removed only while its
    # folder is still on this device.
    device: int | None = None

    @property
    def path(self) -> str:
        import posixpath

        return posixpath.join(self.root, self.rel_path)


@dataclass(frozen=True)
class ImageMetadata:
    """Normalized metadata of one image (docs/metadata.md)."""

    path: str
    format: str
    width: int | None = None
    height: int | None = None
    channels: int | None = None
    bit_depth: int | None = None
    frame_type: FrameType = FrameType.UNKNOWN
    object: str | None = None
    exposure_s: float | None = None
    date_obs: datetime | None = None
    camera: str | None = None
    telescope: str | None = None
    filter: str | None = None
    gain: float | None = None
    offset: float | None = None
    iso: int | None = None
    ccd_temp_c: float | None = None
    focal_length_mm: float | None = None
    pixel_size_um: float | None = None
    binning: int | None = None
    bayer_pattern: str | None = None
    ra_deg: float | None = None
    dec_deg: float | None = None
    has_wcs: bool = False

    def __post_init__(self) -> None:
        # A record built from stored strings ("light") holds the member too, and a word outside
        # the vocabulary fails here, where it is made, not where it is used.
        object.__setattr__(self, "frame_type", FrameType(self.frame_type))

    def to_dict(self) -> dict[str, Any]:
        return {k: _jsonable(v) for k, v in dataclasses.asdict(self).items()}


@dataclass(frozen=True)
class SolveHints:
    """What is known about a frame before solving it. Any field may be unknown (None)."""

    scale_low_arcsec: float | None = None
    scale_high_arcsec: float | None = None
    ra_deg: float | None = None
    dec_deg: float | None = None
    radius_deg: float | None = None

    @property
    def has_scale(self) -> bool:
        return self.scale_low_arcsec is not None and self.scale_high_arcsec is not None

    @property
    def has_position(self) -> bool:
        return self.ra_deg is not None and self.dec_deg is not None and self.radius_deg is not None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class FieldGeometry:
    """Geometry of a solved field, derived from its WCS, for the original frame's pixels."""

    ra_deg: float  # field centre
    dec_deg: float
    pixel_scale_arcsec: float
    rotation_deg: float  # position angle of image "up" (+y) east of north, in [0, 360)
    parity: str  # "normal" (sky as seen, north up east left) or "flipped"
    width_deg: float
    height_deg: float
    radius_deg: float  # centre to the farthest corner
    corners_deg: tuple[tuple[float, float], ...]  # (ra, dec) of the four pixel corners


@dataclass(frozen=True)
class SolveAttempt:
    """One run of a solver on one frame: the hints it was given (None: blind) and its outcome."""

    solver: str  # "local" or "nova"
    hints: SolveHints | None
    outcome: str  # "solved", "no match", "timed out", "failed: <service message>"
    elapsed_s: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "solver": self.solver,
            "hints": self.hints.to_dict() if self.hints else None,
            "outcome": self.outcome,
            "elapsed_s": round(self.elapsed_s, 3),
        }


@dataclass(frozen=True)
class PlateSolution:
    """Outcome of one plate-solve of one file's content (keyed by fingerprint in the catalog)."""

    status: str  # a SolveStatus value
    solver: str | None = None  # "local", "nova", "header", or None when skipped
    geometry: FieldGeometry | None = None
    wcs_header: str | None = None  # FITS header text (celestial WCS only, SIP included)
    hints_used: SolveHints | None = None
    elapsed_s: float | None = None
    error: str | None = None
    attempts: tuple[SolveAttempt, ...] = ()  # every solver run, in order

    def to_dict(self) -> dict[str, Any]:
        geometry = dataclasses.asdict(self.geometry) if self.geometry else {}
        geometry.pop("corners_deg", None)
        return {
            "status": self.status,
            "solver": self.solver,
            "ra_deg": geometry.get("ra_deg"),
            "dec_deg": geometry.get("dec_deg"),
            "pixel_scale_arcsec": geometry.get("pixel_scale_arcsec"),
            "rotation_deg": geometry.get("rotation_deg"),
            "parity": geometry.get("parity"),
            "width_deg": geometry.get("width_deg"),
            "height_deg": geometry.get("height_deg"),
            "radius_deg": geometry.get("radius_deg"),
            "hints_used": self.hints_used.to_dict() if self.hints_used else None,
            "elapsed_s": self.elapsed_s,
            "error": self.error,
            "attempts": [attempt.to_dict() for attempt in self.attempts],
        }


@dataclass(frozen=True)
class CatalogObject:
    """One object of the object catalog: a deep-sky object (OpenNGC) or a named star."""

    catalog: str  # "NGC", "IC", "HIP", ... "M" is not a catalog here: Messier numbers are aliases
    designation: str  # e.g. "NGC 224", "HIP 91262"
    name: str | None  # common name(s), e.g. "Andromeda Galaxy", "Vega"
    object_type: str  # OpenNGC type code, e.g. "G", "OCl", "HII"; "*" for a star
    ra_deg: float
    dec_deg: float
    major_axis_arcmin: float | None = None
    minor_axis_arcmin: float | None = None
    position_angle_deg: float | None = None  # of the major axis, east of north
    messier: int | None = None
    aliases: tuple[str, ...] = field(default_factory=tuple)
    magnitude: float | None = None  # visual (or Hipparcos Hp for stars), when known


def object_label(messier: int | None, name: str | None, designation: str) -> str:
    """How an object is named to a user (on a picture, on a grid card): "M 31", else its common
    name, else its designation."""
    if messier:
        return f"M {messier}"
    return name or designation


@dataclass(frozen=True)
class CatalogMatch:
    """A catalog object inside a solved frame, at 0-based pixel coordinates of the frame."""

    catalog: str
    designation: str
    name: str | None
    object_type: str
    ra_deg: float
    dec_deg: float
    x_px: float
    y_px: float
    major_axis_arcmin: float | None
    messier: int | None = None
    minor_axis_arcmin: float | None = None
    position_angle_deg: float | None = None  # of the major axis, east of north
    magnitude: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
