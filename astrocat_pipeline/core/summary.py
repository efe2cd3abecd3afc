"""Library summary: integration time per target and filter, and frame counts per frame type,
camera, night and format, from the catalog's image records (plain dicts as
``CatalogStore.search`` returns them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from astrocat_pipeline.core.frame_types import FrameType
from astrocat_pipeline.core.targets import target_of

__all__ = ["INTEGRATION_FRAME_TYPES", "library_summary", "markdown_table", "target_of"]

# A night runs from noon to noon: frames after midnight belong to the evening before. Times are
# UTC (the catalog does not know the site), which is right to within the site's zone offset.
NIGHT_STARTS_AT_UTC_HOUR = 12
# Frames that add to a target's integration time: linear subframes of the sky (lights). Masters
# would count their subframes twice; unlabelled frames count when they were solved (they show the
# sky).
INTEGRATION_FRAME_TYPES = frozenset(
    t for t in FrameType if t.shows_sky and t.is_linear and not t.is_master
)


def _night(date_obs: Any) -> str | None:
    if not date_obs:
        return None
    moment = datetime.fromisoformat(date_obs) if isinstance(date_obs, str) else date_obs
    return (moment - timedelta(hours=NIGHT_STARTS_AT_UTC_HOUR)).date().isoformat()


def _counts(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    values = frame[column].fillna("unknown")
    return values.value_counts().rename_axis(column).reset_index(name="frames")


def library_summary(images: Iterable[Mapping[str, Any]]) -> dict[str, pd.DataFrame]:
    """Summary tables of the library.

    Returns
    -------
    dict of pandas.DataFrame
        ``integration``: target, filter, frames, exposure_s, exposure_h (light subframes, and
        unlabelled frames that were solved), largest first; ``frame_types``, ``cameras``,
        ``formats``, ``statuses`` (indexed or error), ``solutions`` (plate-solve status):
        frames per value; ``nights``: frames and exposure_h per night (noon to noon
        UTC), newest first.
    """
    records = []
    for image in images:
        solution = image.get("plate_solution") or {}
        sky = image.get("frame_type") in INTEGRATION_FRAME_TYPES or (
            image.get("frame_type") == FrameType.UNKNOWN and solution.get("status") == "solved"
        )
        records.append(
            {
                "target": target_of(image),
                "filter": image.get("filter") or "none",
                "frame_type": image.get("frame_type"),
                "camera": image.get("camera"),
                "format": image.get("format"),
                "night": _night(image.get("date_obs")),
                "exposure_s": float(image.get("exposure_s") or 0.0),
                "sky": sky,
                "status": image.get("status"),
                "solution": solution.get("status") or "not tried",
            }
        )
    columns = [
        "target",
        "filter",
        "frame_type",
        "camera",
        "format",
        "night",
        "exposure_s",
        "sky",
        "status",
        "solution",
    ]
    frame = pd.DataFrame.from_records(records, columns=columns).astype(
        {"exposure_s": float, "sky": bool}
    )
    lights = frame[frame["sky"]]
    if lights.empty:
        integration = pd.DataFrame(
            columns=["target", "filter", "frames", "exposure_s", "exposure_h"]
        )
    else:
        integration = (
            lights.groupby(["target", "filter"], as_index=False)
            .agg(frames=("exposure_s", "size"), exposure_s=("exposure_s", "sum"))
            .assign(exposure_h=lambda t: (t["exposure_s"] / 3600.0).round(3))
            .sort_values(["exposure_s", "target", "filter"], ascending=[False, True, True])
            .reset_index(drop=True)
        )
    dated = frame.dropna(subset=["night"])
    if dated.empty:
        nights = pd.DataFrame(columns=["night", "frames", "exposure_h"])
    else:
        nights = (
            dated.groupby("night", as_index=False)
            .agg(frames=("exposure_s", "size"), exposure_s=("exposure_s", "sum"))
            .assign(exposure_h=lambda t: (t["exposure_s"] / 3600.0).round(3))
            .drop(columns="exposure_s")
            .sort_values("night", ascending=False)
            .reset_index(drop=True)
        )
    return {
        "integration": integration,
        "frame_types": _counts(frame, "frame_type"),
        "cameras": _counts(frame, "camera"),
        "formats": _counts(frame, "format"),
        "statuses": _counts(frame, "status"),
        "solutions": _counts(frame, "solution"),
        "nights": nights,
    }


def markdown_table(table: pd.DataFrame) -> str:
    """A DataFrame as a GitHub-style markdown table (what the Dagster UI renders)."""
    if table.empty:
        return "_none_"
    header = "| " + " | ".join(str(c) for c in table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    rows = ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *rows])
