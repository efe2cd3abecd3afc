"""The per-file asset checks (issue 16): what each one decides about one file, without Dagster.

Each decision returns a :class:`CheckVerdict`, or None when the check does not apply to the file
(a calibration frame has no solution to compare, an unsolved frame no matches): such a file is
not evaluated rather than passed or warned about. ``defs/assets.py`` turns verdicts into
Dagster's check evaluations, one per file and check, for the assets it materialized.

- ``thumbnail_not_blank`` (image_thumbnail, ERROR): the JPEG is in the cache and its pixels vary.
- ``metadata_complete`` (image_metadata, WARN): the fields the frame type needs are there; a
  header that lacks them is the file's own gap, not the pipeline's error.
- ``solution_matches_hints`` (plate_solution, ERROR): a solved frame's scale and centre agree
  with the hints its header gives (``core/hints.py``); otherwise it is a possible false solution.
- ``matches_inside_field`` (catalog_matches, ERROR): every matched object reaches into the frame,
  by its pixel position and by its sky position against the solved footprint.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from astrocat_pipeline.adapters.catalog import CatalogStore, ImageRow, SolutionRow
from astrocat_pipeline.adapters.catalog.rows import METADATA_FIELDS
from astrocat_pipeline.cataloging.objects import object_position
from astrocat_pipeline.cataloging.steps import is_infrastructure
from astrocat_pipeline.core.frame_types import FrameType
from astrocat_pipeline.core.hints import solve_hints, usable_hints
from astrocat_pipeline.core.records import CatalogMatch, FieldGeometry, ImageMetadata, SolveHints
from astrocat_pipeline.core.sky_catalog import ObjectCatalog
from astrocat_pipeline.core.sky_index import distance_to_quads, unit_vectors
from astrocat_pipeline.core.tuning import THUMBNAIL_BLANK_STD_DN

THUMBNAIL_NOT_BLANK = "thumbnail_not_blank"
METADATA_COMPLETE = "metadata_complete"
SOLUTION_MATCHES_HINTS = "solution_matches_hints"
MATCHES_INSIDE_FIELD = "matches_inside_field"

# The asset each check is on, by asset name (as the wiring's asset keys spell it).
CHECKED_ASSET = {
    THUMBNAIL_NOT_BLANK: "image_thumbnail",
    METADATA_COMPLETE: "image_metadata",
    SOLUTION_MATCHES_HINTS: "plate_solution",
    MATCHES_INSIDE_FIELD: "catalog_matches",
}

# A match's centre may lie this many pixels beyond the reach of its extent (rounding of the
# stored positions, the half pixel between pixel centres and the frame's outer edge).
MATCH_EDGE_TOLERANCE_PX = 1.0


class Severity(StrEnum):
    """How much a failed check matters, as Dagster's ``AssetCheckSeverity`` names it."""

    ERROR = "ERROR"
    WARN = "WARN"


@dataclass(frozen=True)
class CheckVerdict:
    """One check's answer for one file: passed or not, how bad a failure is, one line saying
    why, and values worth showing."""

    passed: bool
    severity: Severity
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


# --- thumbnail --------------------------------------------------------------------------------


def pixels_verdict(pixels: np.ndarray) -> CheckVerdict:
    """Whether 8-bit pixels (any shape) show anything: their standard deviation above
    ``THUMBNAIL_BLANK_STD_DN``."""
    std_dn = float(np.std(pixels.astype(np.float64))) if pixels.size else 0.0
    metadata = {"pixel_std_dn": round(std_dn, 3)}
    if std_dn <= THUMBNAIL_BLANK_STD_DN:
        level = float(np.mean(pixels)) if pixels.size else 0.0
        return CheckVerdict(
            False,
            Severity.ERROR,
            f"blank thumbnail: every pixel near {level:.0f} of 255 (standard deviation "
            f"{std_dn:.2f} DN, at most {THUMBNAIL_BLANK_STD_DN:g} is blank)",
            metadata,
        )
    return CheckVerdict(True, Severity.ERROR, "the thumbnail shows an image", metadata)


def thumbnail_verdict(thumbnail_path: str | None) -> CheckVerdict:
    """The cached thumbnail exists, is a readable image and is not blank."""
    if not thumbnail_path:
        return CheckVerdict(False, Severity.ERROR, "no thumbnail recorded for the file")
    path = Path(thumbnail_path)
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("L"))
    except FileNotFoundError:
        return CheckVerdict(
            False, Severity.ERROR, f"thumbnail missing from the cache: {path}", {"path": str(path)}
        )
    except (OSError, UnidentifiedImageError) as exc:
        return CheckVerdict(
            False, Severity.ERROR, f"thumbnail unreadable: {path}: {exc}", {"path": str(path)}
        )
    verdict = pixels_verdict(pixels)
    return CheckVerdict(
        verdict.passed,
        verdict.severity,
        verdict.description,
        {**verdict.metadata, "path": str(path)},
    )


# --- metadata ---------------------------------------------------------------------------------

_CAPTURE = ("exposure_s", "date_obs")
_POINTING = "pointing (RA/Dec) or object name"
# What each frame type needs. Captures need their exposure (0 counts, for a bias) and date to be
# matched with their calibration frames; a light also where it points, for solving and search.
# Masters need the exposure they are matched by (none for a master bias: its exposure is zero
# whatever is written); a master light also its target. Processed images need nothing more.
_REQUIRED: dict[FrameType, tuple[str, ...]] = {
    FrameType.LIGHT: (*_CAPTURE, _POINTING),
    FrameType.DARK: _CAPTURE,
    FrameType.FLAT: _CAPTURE,
    FrameType.BIAS: _CAPTURE,
    FrameType.DARK_FLAT: _CAPTURE,
    FrameType.MASTER_LIGHT: ("exposure_s", _POINTING),
    FrameType.MASTER_DARK: ("exposure_s",),
    FrameType.MASTER_FLAT: ("exposure_s",),
    FrameType.MASTER_BIAS: (),
    FrameType.PROCESSED: (),
}


def required_fields(frame_type: FrameType) -> tuple[str, ...]:
    """The metadata a frame of this type needs besides its frame type (an unknown type needs
    its frame type first)."""
    return _REQUIRED.get(frame_type, ())


def metadata_verdict(metadata: ImageMetadata) -> CheckVerdict:
    """Whether the normalized metadata has what its frame type needs."""
    frame_type = metadata.frame_type
    if frame_type is FrameType.UNKNOWN:
        return CheckVerdict(
            False,
            Severity.WARN,
            "frame type unknown: the header has no IMAGETYP (or FRAMETYP) the pipeline knows",
            {"frame_type": str(frame_type)},
        )
    missing = []
    for name in required_fields(frame_type):
        if name == _POINTING:
            pointing = metadata.ra_deg is not None and metadata.dec_deg is not None
            if not (pointing or metadata.object):
                missing.append(name)
        elif getattr(metadata, name) is None:
            missing.append(name)
    details: dict[str, Any] = {"frame_type": str(frame_type)}
    if missing:
        details["missing"] = missing
        return CheckVerdict(
            False, Severity.WARN, f"{frame_type} frame without {', '.join(missing)}", details
        )
    return CheckVerdict(True, Severity.WARN, f"{frame_type} frame with what it needs", details)


def metadata_of(row: ImageRow) -> ImageMetadata:
    """The normalized metadata a catalog row holds."""
    values = {name: getattr(row, name) for name in METADATA_FIELDS}
    values["frame_type"] = FrameType.of(row.frame_type)
    values["has_wcs"] = bool(row.has_wcs)
    return ImageMetadata(**values)


# --- plate solution against its hints ----------------------------------------------------------


def separation_deg(ra1_deg: float, dec1_deg: float, ra2_deg: float, dec2_deg: float) -> float:
    """Angular distance between two sky positions, in degrees (accurate at every distance)."""
    a = unit_vectors(ra1_deg, dec1_deg)
    b = unit_vectors(ra2_deg, dec2_deg)
    return math.degrees(math.atan2(float(np.linalg.norm(np.cross(a, b))), float(np.dot(a, b))))


def solution_verdict(
    geometry: FieldGeometry | None, hints: SolveHints | None
) -> CheckVerdict | None:
    """Whether a solved field agrees with the frame's hints: its pixel scale within the hinted
    range, its centre within the hinted radius of the hinted position.

    None when there is nothing to compare: no solved geometry, or no usable hint.
    """
    usable = usable_hints(hints)
    if geometry is None or usable is None:
        return None
    problems = []
    metadata: dict[str, Any] = {"pixel_scale_arcsec": round(geometry.pixel_scale_arcsec, 4)}
    low, high = usable.scale_low_arcsec, usable.scale_high_arcsec
    if low is not None and high is not None:
        metadata["hint_scale_arcsec"] = [round(low, 4), round(high, 4)]
        if not low <= geometry.pixel_scale_arcsec <= high:
            problems.append(
                f'scale {geometry.pixel_scale_arcsec:.3g}"/px outside the hinted '
                f'{low:.3g}-{high:.3g}"/px'
            )
    if usable.ra_deg is not None and usable.dec_deg is not None and usable.radius_deg:
        offset = separation_deg(geometry.ra_deg, geometry.dec_deg, usable.ra_deg, usable.dec_deg)
        metadata["centre_offset_deg"] = round(offset, 4)
        metadata["hint_radius_deg"] = round(usable.radius_deg, 4)
        if offset > usable.radius_deg:
            problems.append(
                f"centre {offset:.3g}° from the hinted position "
                f"(RA {usable.ra_deg:.4f}°, Dec {usable.dec_deg:.4f}°), beyond its "
                f"{usable.radius_deg:.3g}° radius"
            )
    if problems:
        return CheckVerdict(
            False, Severity.ERROR, "possible false solution: " + "; ".join(problems), metadata
        )
    return CheckVerdict(True, Severity.ERROR, "the solution agrees with the hints", metadata)


# --- catalog matches inside the field ------------------------------------------------------


def matches_verdict(
    matches: Sequence[CatalogMatch], width_px: int, height_px: int, geometry: FieldGeometry
) -> CheckVerdict:
    """Whether every match reaches into the frame: its centre within the pixel rectangle grown
    by its semi-major axis (objects straddling an edge have their centre outside), and its sky
    position within the solved footprint grown by the same amount. An object that fails either
    belongs to another field or to an earlier solution."""
    outside = []
    scale_deg = geometry.pixel_scale_arcsec / 3600.0
    quad = unit_vectors(
        np.array([c[0] for c in geometry.corners_deg]),
        np.array([c[1] for c in geometry.corners_deg]),
    )
    for match in matches:
        reach_px = (match.major_axis_arcmin or 0.0) * 30.0 / geometry.pixel_scale_arcsec
        reach_px += MATCH_EDGE_TOLERANCE_PX
        gap_x = max(-0.5 - match.x_px, match.x_px - (width_px - 0.5), 0.0)
        gap_y = max(-0.5 - match.y_px, match.y_px - (height_px - 0.5), 0.0)
        pixel_gap_px = math.hypot(gap_x, gap_y)
        sky_gap_deg = math.degrees(
            float(distance_to_quads(quad, unit_vectors(match.ra_deg, match.dec_deg)))
        )
        if pixel_gap_px > reach_px or sky_gap_deg > reach_px * scale_deg:
            outside.append(
                f"{match.designation} (x {match.x_px:.0f}, y {match.y_px:.0f} px; "
                f"{sky_gap_deg:.3g}° outside the footprint)"
            )
    metadata: dict[str, Any] = {"match_count": len(matches), "outside": len(outside)}
    if outside:
        shown = outside[:10]
        more = f" and {len(outside) - len(shown)} more" if len(outside) > len(shown) else ""
        return CheckVerdict(
            False,
            Severity.ERROR,
            f"{len(outside)} of {len(matches)} matches outside the field: "
            + ", ".join(shown)
            + more,
            metadata,
        )
    return CheckVerdict(
        True, Severity.ERROR, f"all {len(matches)} matches inside the field", metadata
    )


# --- one file's checks, from the catalog ---------------------------------------------------------


def check_file(
    store: CatalogStore,
    catalog: ObjectCatalog | None,
    key: str,
    checks: Sequence[str],
) -> dict[str, CheckVerdict]:
    """The verdicts of ``checks`` (names above) for the file of partition ``key``, from what the
    catalog holds after its steps ran; a check that does not apply is left out. ``catalog``
    resolves an OBJECT name into a position hint, as the solve did."""
    unknown = set(checks) - set(CHECKED_ASSET)
    if unknown:
        raise ValueError(f"unknown check {sorted(unknown)[0]!r}; known: {sorted(CHECKED_ASSET)}")
    row = store.get_image(key)
    if row is None:
        return {}
    verdicts: dict[str, CheckVerdict | None] = {}
    metadata = metadata_of(row) if row.frame_type is not None else None
    solution: SolutionRow | None = None
    if {SOLUTION_MATCHES_HINTS, MATCHES_INSIDE_FIELD} & set(checks) and row.fingerprint:
        solution = store.get_solution_row(row.fingerprint)
    solved = solution.geometry if solution is not None and solution.status == "solved" else None

    def verdict_of(name: str) -> CheckVerdict | None:
        if name == THUMBNAIL_NOT_BLANK:
            return thumbnail_verdict(row.thumbnail_path)
        if name == METADATA_COMPLETE:
            return metadata_verdict(metadata) if metadata is not None else None
        if name == SOLUTION_MATCHES_HINTS:
            if metadata is None or solved is None:
                return None
            position = object_position(catalog, metadata.object)
            return solution_verdict(solved, solve_hints(metadata, position))
        # MATCHES_INSIDE_FIELD
        if solved is None or row.width is None or row.height is None:
            return None
        return matches_verdict(store.get_matches(key), row.width, row.height, solved)

    for name in checks:
        try:
            verdicts[name] = verdict_of(name)
        except Exception as exc:
            if is_infrastructure(exc):
                raise
            # A check's own exception (a bug, an odd row) fails that check for this file only.
            verdicts.update(unevaluated([name], exc))

    return {name: verdict for name, verdict in verdicts.items() if verdict is not None}


def unevaluated(checks: Sequence[str], exc: BaseException) -> dict[str, CheckVerdict]:
    """The verdicts of ``checks`` whose evaluation itself raised ``exc`` (a bug, an odd row):
    each failed, saying so, rather than the whole batch's step failing with it."""
    reason = str(exc).splitlines()[0] if str(exc) else ""
    description = f"the check could not be evaluated: {type(exc).__name__}: {reason}"
    return {name: CheckVerdict(False, Severity.ERROR, description) for name in checks}
