"""The library summary as ``astrocat stats``, the ``library_summary`` asset and the gallery's
targets page read it: aggregated by the catalog database, not over every image in Python."""

from __future__ import annotations

from typing import TYPE_CHECKING

from astrocat_pipeline.core.targets import INTEGRATION_FRAME_TYPES

if TYPE_CHECKING:
    import pandas as pd

    from astrocat_pipeline.adapters.catalog import CatalogStore


def library_tables(store: CatalogStore) -> dict[str, pd.DataFrame]:
    """:func:`~astrocat_pipeline.core.summary.library_summary`'s tables of the library in
    ``store`` (integration per target and filter, frames per frame type, camera, format,
    status, plate-solve status and night), from the catalog's aggregations."""
    from astrocat_pipeline.core.summary import NIGHT_STARTS_AT_UTC_HOUR, summary_tables

    sky_types = sorted(t.value for t in INTEGRATION_FRAME_TYPES)
    return summary_tables(store.summary_aggregates(sky_types, NIGHT_STARTS_AT_UTC_HOUR))
