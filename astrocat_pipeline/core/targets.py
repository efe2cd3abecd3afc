"""The target a frame shows, from its OBJECT header and its catalog matches.

Kept apart from :mod:`.summary` (which needs pandas) because the catalog stores each image's
target when its header or its matches are written (``images.target``, revision 0010), so that
the library's integration per target is one SQL aggregation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from astrocat_pipeline.core.designations import normalize_designation
from astrocat_pipeline.core.frame_types import FrameType

# The target of a frame with neither matches nor an OBJECT header.
UNKNOWN_TARGET = "unknown"
# Frames that add to a target's integration time: linear subframes of the sky (lights). Masters
# would count their subframes twice; unlabelled frames count when they were solved (they show the
# sky).
INTEGRATION_FRAME_TYPES = frozenset(
    t for t in FrameType if t.shows_sky and t.is_linear and not t.is_master
)


def _match_name(match: Mapping[str, Any]) -> str:
    messier = match.get("messier")
    return f"M {messier}" if messier else str(match["designation"])


def target_of(image: Mapping[str, Any]) -> str:
    """The target a frame shows: the OBJECT header when the solved field contains it, else the
    most relevant object in the field (matches come Messier first), else the OBJECT header as
    written, else "unknown"."""
    matches = image.get("matches") or []
    header = image.get("object")
    wanted = normalize_designation(header) if header else None
    if matches:
        for match in matches:
            names = {str(match["designation"]), _match_name(match)}
            if match.get("name"):
                names.add(str(match["name"]))
            folded = {n.casefold() for n in names}
            if (wanted is not None and wanted in names) or str(header).strip().casefold() in folded:
                return _match_name(match)
        return _match_name(matches[0])
    if header and str(header).strip():
        return wanted or " ".join(str(header).split())
    return UNKNOWN_TARGET


def target_from(object_header: str | None, matches: Sequence[Mapping[str, Any]]) -> str:
    """:func:`target_of` from an OBJECT header and matches (each with ``designation``,
    ``messier`` and ``name``, in stored order)."""
    return target_of({"object": object_header, "matches": matches})
