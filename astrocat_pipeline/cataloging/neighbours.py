"""A night solves like one field: a frame whose own hints are weak takes a tight hint from a frame
of the same night already solved nearby (issue 19, item 5).

Dithered frames of one target share optics, camera and, within a few arcminutes, pointing. When
a frame's header gives no pointing (or no scale), the solution of such a neighbour (its centre
and scale, :func:`~astrocat_pipeline.core.hints.neighbour_hints`) makes its search a hinted one:
tens of milliseconds instead of a blind search of seconds.

The neighbour: a solved frame of the same pixel size (camera and binning) taken within
``NEIGHBOUR_WINDOW_H`` hours, whose scale fits the frame's own scale hint when it has one, whose
centre lies within the frame's own hinted radius when it has a position, and whose OBJECT is
the frame's when both have one; the same OBJECT first, then the nearest in time. The solver
tries the neighbour's hint first and the frame's own path after it (a wrong neighbour costs
time, never the solution); for nova it only fills in what the header lacks, within the same
upload (never an upload of its own).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from astrocat_pipeline.adapters.catalog import CatalogStore
from astrocat_pipeline.adapters.catalog.solutions import SolvedNeighbour
from astrocat_pipeline.core.hints import neighbour_hints, usable_hints
from astrocat_pipeline.core.records import ImageMetadata, SolveHints
from astrocat_pipeline.core.tuning import NEIGHBOUR_WINDOW_H

__all__ = ["Neighbour", "find_neighbour", "merged_hints", "weak_hints"]


@dataclass(frozen=True)
class Neighbour:
    """The neighbour chosen for a frame and the hints it gives."""

    fingerprint: str
    minutes_apart: float
    hints: SolveHints


def weak_hints(hints: SolveHints | None) -> bool:
    """True when the hints lack a position or a scale (what a neighbour can give)."""
    usable = usable_hints(hints)
    return usable is None or not (usable.has_position and usable.has_scale)


def find_neighbour(
    store: CatalogStore,
    metadata: ImageMetadata,
    hints: SolveHints | None,
    *,
    fingerprint: str | None = None,
    object_key: str | None = None,
) -> Neighbour | None:
    """The neighbour whose solution hints this frame, or None (strong hints of its own, no
    time or size to look by, or no solved frame that fits; see the module docstring)."""
    if not weak_hints(hints):
        return None
    if metadata.date_obs is None or not metadata.width or not metadata.height:
        return None
    candidates = store.solved_neighbours(
        metadata.date_obs,
        timedelta(hours=NEIGHBOUR_WINDOW_H),
        metadata.width,
        metadata.height,
        exclude_fingerprint=fingerprint,
    )
    own = usable_hints(hints)
    fitting = [c for c in candidates if _fits(c, own, object_key)]
    if not fitting:
        return None
    # The same target first (a neighbour of another target in the same night is only taken
    # when neither has an OBJECT); then the nearest in time.
    same_object = [c for c in fitting if object_key and c.object_key == object_key]
    chosen = (same_object or fitting)[0]
    minutes = abs((chosen.date_obs - metadata.date_obs).total_seconds()) / 60.0
    return Neighbour(chosen.fingerprint, minutes, neighbour_hints(chosen.geometry, own))


def _fits(candidate: SolvedNeighbour, own: SolveHints | None, object_key: str | None) -> bool:
    geometry = candidate.geometry
    if object_key and candidate.object_key and candidate.object_key != object_key:
        return False  # another target of the same night
    if own is not None and own.has_scale:
        assert own.scale_low_arcsec is not None
        assert own.scale_high_arcsec is not None
        if not own.scale_low_arcsec <= geometry.pixel_scale_arcsec <= own.scale_high_arcsec:
            return False  # other optics
    if own is not None and own.has_position:
        assert own.ra_deg is not None
        assert own.dec_deg is not None
        assert own.radius_deg is not None
        if _separation_deg(geometry.ra_deg, geometry.dec_deg, own.ra_deg, own.dec_deg) > (
            own.radius_deg
        ):
            return False  # elsewhere than the frame says it points
    return True


def merged_hints(own: SolveHints | None, neighbour: SolveHints) -> SolveHints | None:
    """For a solver whose every call is one upload (nova): the frame's own hints with what they
    lack (position, scale) taken from the neighbour's; None when the frame has no hints at all
    (its one upload stays blind: a wrong neighbour must not cost it its solution)."""
    usable = usable_hints(own)
    if usable is None:
        return None
    position = usable if usable.has_position else neighbour
    scale = usable if usable.has_scale else neighbour
    return SolveHints(
        scale_low_arcsec=scale.scale_low_arcsec,
        scale_high_arcsec=scale.scale_high_arcsec,
        ra_deg=position.ra_deg,
        dec_deg=position.dec_deg,
        radius_deg=position.radius_deg,
    )


def _separation_deg(ra1_deg: float, dec1_deg: float, ra2_deg: float, dec2_deg: float) -> float:
    p1, p2 = math.radians(dec1_deg), math.radians(dec2_deg)
    dp, dl = p2 - p1, math.radians(ra2_deg - ra1_deg)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return math.degrees(2 * math.asin(min(1.0, math.sqrt(a))))
