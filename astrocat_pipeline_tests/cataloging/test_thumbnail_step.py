"""The image_thumbnail step keeps the stretch it used: a thumbnail made again (at another size)
applies it instead of computing statistics, until the file's content changes."""

from __future__ import annotations

from pathlib import Path

from astrocat_pipeline.adapters.catalog import CatalogStore
from astrocat_pipeline.adapters.thumbnail_store import ThumbnailStore
from astrocat_pipeline.cataloging import steps
from astrocat_pipeline.core.fingerprint import content_fingerprint
from astrocat_pipeline.core.inventory import partition_key
from astrocat_pipeline.core.loading import read_header
from astrocat_pipeline.core.metadata import normalize_metadata
from astrocat_pipeline.core.records import InventoryEntry
from astrocat_pipeline_tests.defs.conftest import write_tiny_fits


def _index(store: CatalogStore, path: Path) -> str:
    root = str(path.parent)
    key = partition_key(root, path.name)
    stat = path.stat()
    store.upsert_inventory(
        [InventoryEntry(root, path.name, stat.st_size, stat.st_mtime_ns, "fits", key)]
    )
    store.record_file(
        key, fingerprint=content_fingerprint(path), size_bytes=stat.st_size, mtime_ns=1
    )
    store.record_metadata(key, normalize_metadata(str(path), read_header(path)), {}, None)
    return key


def test_a_thumbnail_made_again_at_another_size_keeps_its_stretch(
    catalog_store: CatalogStore, tmp_path: Path
):
    path = write_tiny_fits(tmp_path / "library" / "m31.fits")
    key = _index(catalog_store, path)
    thumbnails = ThumbnailStore(tmp_path / "thumbnails")

    first = steps.make_thumbnail(catalog_store, thumbnails, key)
    assert first.metadata["stretch"]["statistics_kept"] is False
    kept = catalog_store.get_thumbnail_stretch(key)
    assert kept["fingerprint"] == content_fingerprint(path)

    smaller = steps.make_thumbnail(catalog_store, thumbnails, key, max_size_px=32)
    assert smaller.metadata["size_px"] == "32x24"
    assert smaller.metadata["stretch"]["statistics_kept"] is True
    assert smaller.metadata["stretch"]["c0"] == first.metadata["stretch"]["c0"]

    # New content: its own statistics.
    write_tiny_fits(path.with_name("m31-new.fits"), seed=9).replace(path)
    catalog_store.record_file(
        key, fingerprint=content_fingerprint(path), size_bytes=path.stat().st_size, mtime_ns=2
    )
    again = steps.make_thumbnail(catalog_store, thumbnails, key)
    assert again.metadata["stretch"]["statistics_kept"] is False
