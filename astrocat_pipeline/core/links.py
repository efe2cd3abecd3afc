"""Links between the Dagster UI and the gallery: plain URL text from base URLs and keys."""

from __future__ import annotations

from urllib.parse import quote


def dagster_partition_url(dagster_url: str, asset: str, partition_key: str) -> str:
    """The Dagster UI's page of one partition of ``asset`` (its partitions view, that partition
    selected: where it is materialized again or its failure is read)."""
    return (
        f"{dagster_url.rstrip('/')}/assets/{quote(asset, safe='/')}"
        f"?view=partitions&partition={quote(partition_key, safe='')}"
    )


def gallery_frame_url(gallery_url: str, partition_key: str) -> str:
    """The gallery's page of the file of ``partition_key`` (redirects to the frame by id)."""
    return f"{gallery_url.rstrip('/')}/frame?partition={quote(partition_key, safe='')}"
