"""Removing an image from the library removes the gallery's copies made from its thumbnail
(issue 18: the annotated copy and the grid copies go with the image); its thumbnail stays with
the tombstone for a return."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from astrocat_pipeline.adapters.catalog import CatalogStore
from astrocat_pipeline.adapters.thumbnail_store import ThumbnailStore
from astrocat_pipeline.cataloging import library_sync
from astrocat_pipeline.core.records import InventoryEntry


def test_removing_an_image_removes_its_annotated_and_grid_copies(
    catalog_store: CatalogStore, tmp_path: Path
) -> None:
    store = catalog_store
    thumbnails = ThumbnailStore(tmp_path / "thumbnails")
    paths: dict[str, Path] = {}
    copies: dict[str, list[Path]] = {}
    for name in ("gone", "kept"):
        key = f"lib/{name}.fits"
        store.upsert_inventory([InventoryEntry("/lib", f"{name}.fits", 10, 1, "fits", key)])
        paths[name] = thumbnails.write(f"/lib/{name}.fits", b"thumbnail")
        store.record_thumbnail(key, str(paths[name]))
        image = store.get_image(key)
        assert image is not None
        copies[name] = [
            thumbnails.write_annotated(image.image_id, b"annotated"),
            thumbnails.write_grid(image.image_id, 320, "jpeg", b"grid"),
            thumbnails.write_grid(image.image_id, 160, "webp", b"grid"),
        ]

    removed = library_sync.remove_images(
        store, [("lib/gone.fits", "/lib/gone.fits")], datetime(2026, 12, 7, tzinfo=UTC), thumbnails
    )

    assert removed == ["lib/gone.fits"]
    assert store.get_image("lib/gone.fits") is None
    assert [p for p in copies["gone"] if p.exists()] == []  # removed with the image
    assert all(p.is_file() for p in copies["kept"])
    # The thumbnail stays with the tombstone: a file that comes back gets it again.
    assert paths["gone"].is_file()
    assert paths["kept"].is_file()
