"""Library summary: integration time per target and filter, and frame counts per frame type,
camera, night and format, from the catalog's image records (plain dicts as
``CatalogStore.search`` returns them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from astrocat_pipeline.core.frame_types import FrameType
from astrocat_pipeline.core.targets import INTEGRATION_FRAME_TYPES, target_of

__all__ = [
    "INTEGRATION_FRAME_TYPES",
    "NIGHT_STARTS_AT_UTC_HOUR",
    "library_summary",
    "markdown_table",
    "summary_tables",
    "target_of",
]

# A night runs from noon to noon: frames after midnight belong to the evening before. Times are
# UTC (the catalog does not know the site), which is right to within the site's zone offset.
NIGHT_STARTS_AT_UTC_HOUR = 12


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


def _counted(rows: Sequence[tuple[Any, ...]], column: str) -> pd.DataFrame:
    """A table of (value, frames), most frames first (ties by value)."""
    table = pd.DataFrame.from_records(
        [(value, int(frames)) for value, frames in rows], columns=[column, "frames"]
    )
    return table.sort_values(["frames", column], ascending=[False, True]).reset_index(drop=True)


def summary_tables(aggregates: Mapping[str, Sequence[tuple[Any, ...]]]) -> dict[str, pd.DataFrame]:
    """:func:`library_summary`'s tables from the catalog's aggregations
    (``CatalogStore.summary_aggregates``: integration per target and filter, frames per value,
    frames and exposure per night), in the same columns and order; counts of equal frames are
    ordered by value."""
    integration = pd.DataFrame.from_records(
        [
            (str(target), str(filter_name), int(frames), float(exposure_s))
            for target, filter_name, frames, exposure_s in aggregates["integration"]
        ],
        columns=["target", "filter", "frames", "exposure_s"],
    )
    integration = (
        integration.assign(exposure_h=(integration["exposure_s"] / 3600.0).round(3))
        .sort_values(["exposure_s", "target", "filter"], ascending=[False, True, True])
        .reset_index(drop=True)
    )
    nights = pd.DataFrame.from_records(
        [
            (str(night), int(frames), round(float(exposure_s) / 3600.0, 3))
            for night, frames, exposure_s in aggregates["nights"]
        ],
        columns=["night", "frames", "exposure_h"],
    )
    return {
        "integration": integration,
        "frame_types": _counted(aggregates["frame_types"], "frame_type"),
        "cameras": _counted(aggregates["cameras"], "camera"),
        "formats": _counted(aggregates["formats"], "format"),
        "statuses": _counted(aggregates["statuses"], "status"),
        "solutions": _counted(aggregates["solutions"], "solution"),
        "nights": nights.sort_values("night", ascending=False).reset_index(drop=True),
    }


def markdown_table(table: pd.DataFrame) -> str:
    """A DataFrame as a GitHub-style markdown table (what the Dagster UI renders)."""
    if table.empty:
        return "_none_"
    header = "| " + " | ".join(str(c) for c in table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    rows = ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *rows])
