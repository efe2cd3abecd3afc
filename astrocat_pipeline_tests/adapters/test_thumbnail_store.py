"""The thumbnail cache directory (adapters.thumbnail_store)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from astrocat_pipeline.adapters.thumbnail_store import CacheStats, ThumbnailStore
from astrocat_pipeline.core.thumbnail import thumbnail_filename

SOURCE = "/library/lights/M31_0001.fits.gz"
JPEG = b"\xff\xd8\xff\xe0 first thumbnail \xff\xd9"


def test_path_for_follows_the_file_name_rule(tmp_path: Path) -> None:
    store = ThumbnailStore(tmp_path / "thumbs")
    path = store.path_for(SOURCE)
    assert path == tmp_path / "thumbs" / thumbnail_filename(SOURCE)
    assert path.name.startswith("M31_0001_")
    assert not path.exists()


def test_write_creates_the_directory_and_the_file(tmp_path: Path) -> None:
    store = ThumbnailStore(tmp_path / "home" / "thumbnails")
    path = store.write(SOURCE, JPEG)
    assert path == store.path_for(SOURCE)
    assert path.read_bytes() == JPEG
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary left


def test_write_again_replaces_the_thumbnail(tmp_path: Path) -> None:
    store = ThumbnailStore(tmp_path)
    store.write(SOURCE, JPEG)
    path = store.write(SOURCE, b"second")
    assert path.read_bytes() == b"second"
    assert store.stats() == CacheStats(1, len(b"second"))


def test_failed_write_keeps_the_old_thumbnail_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ThumbnailStore(tmp_path)
    path = store.write(SOURCE, JPEG)

    def disk_full(self: Path, target: Path) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", disk_full)
    with pytest.raises(OSError, match="No space left"):
        store.write(SOURCE, b"never visible")
    monkeypatch.undo()
    assert path.read_bytes() == JPEG
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_same_name_in_two_folders_gets_two_files(tmp_path: Path) -> None:
    store = ThumbnailStore(tmp_path)
    first = store.write("/night1/M42.fits", b"one")
    second = store.write("/night2/M42.fits", b"two")
    assert first != second
    assert (first.read_bytes(), second.read_bytes()) == (b"one", b"two")


def test_remove_reports_whether_there_was_a_thumbnail(tmp_path: Path) -> None:
    store = ThumbnailStore(tmp_path)
    store.write(SOURCE, JPEG)
    assert store.remove(SOURCE) is True
    assert not store.path_for(SOURCE).exists()
    assert store.remove(SOURCE) is False
    assert ThumbnailStore(tmp_path / "missing").remove(SOURCE) is False


def test_stats_count_only_thumbnails(tmp_path: Path) -> None:
    store = ThumbnailStore(tmp_path)
    assert ThumbnailStore(tmp_path / "missing").stats() == CacheStats(0, 0)
    store.write("/a.fits", b"12345")
    store.write("/b.cr2", b"123")
    (tmp_path / "notes.txt").write_text("not a thumbnail")
    (tmp_path / ".tmpabc.tmp").write_bytes(b"half-written")
    (tmp_path / "folder_thumb.jpg").mkdir()
    assert store.stats() == CacheStats(2, 8)


def test_stats_name_their_fields_and_give_megabytes(tmp_path: Path) -> None:
    store = ThumbnailStore(tmp_path)
    store.write("/a.fits", b"x" * 1_500_000)
    stats = store.stats()
    assert (stats.count, stats.size_bytes) == (1, 1_500_000)
    assert stats.size_mb == 1.5
    count, size_bytes = stats
    assert (count, size_bytes) == (1, 1_500_000)


def test_clear_deletes_only_thumbnails(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    store = ThumbnailStore(cache)
    written = [store.write(f"/night/M{n}.fits", b"jpeg") for n in range(3)]
    others = {
        "notes.txt": b"keep",
        "holiday.jpg": b"keep",
        "M31_thumb.jpg": b"keep",  # no hash: not a name the project writes
        "M31_0123ABCD_thumb.jpg": b"keep",  # upper-case hex: not an md5 digest
        ".tmpabc.tmp": b"keep",  # a write in progress
    }
    for name, content in others.items():
        (cache / name).write_bytes(content)
    (cache / "sub_0123abcd_thumb.jpg").mkdir()  # a folder named like a thumbnail
    (cache / "sub_0123abcd_thumb.jpg" / "inner.txt").write_text("keep")
    outside = tmp_path / "precious.jpg"
    outside.write_bytes(b"keep")
    (cache / "link_0123abcd_thumb.jpg").symlink_to(outside)

    assert store.clear() == 3
    assert not any(path.exists() for path in written)
    for name, content in others.items():
        assert (cache / name).read_bytes() == content
    assert (cache / "sub_0123abcd_thumb.jpg" / "inner.txt").read_text() == "keep"
    assert (cache / "link_0123abcd_thumb.jpg").is_symlink()
    assert outside.read_bytes() == b"keep"
    assert store.stats() == CacheStats(0, 0)
    assert store.clear() == 0
    assert cache.is_dir()


def test_clear_of_a_missing_cache_is_nothing(tmp_path: Path) -> None:
    store = ThumbnailStore(tmp_path / "missing")
    assert store.clear() == 0
    assert not (tmp_path / "missing").exists()


def test_adapter_does_not_import_dagster() -> None:
    import subprocess
    import sys

    code = (
        "import sys, astrocat_pipeline.adapters.thumbnail_store; sys.exit('dagster' in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_remove_thumbnails_also_removes_the_recorded_one_only_inside_the_cache(
    tmp_path: Path,
) -> None:
    store = ThumbnailStore(tmp_path / "thumbs")
    store.write(SOURCE, JPEG)
    # A thumbnail recorded under an earlier naming rule, and a path outside the cache.
    earlier = store.cache_dir / "old-name_0123abcd_thumb.jpg"
    earlier.write_bytes(JPEG)
    outside = tmp_path / "precious.jpg"
    outside.write_bytes(JPEG)

    assert store.remove_thumbnails(SOURCE, str(earlier)) == 2
    assert not store.path_for(SOURCE).exists()
    assert not earlier.exists()

    store.write(SOURCE, JPEG)
    assert store.remove_thumbnails(SOURCE, str(outside)) == 1
    assert outside.read_bytes() == JPEG  # a path from the database never deletes anything else
    store.write(SOURCE, JPEG)
    recorded = str(store.path_for(SOURCE))  # the same file: counted once
    assert store.remove_thumbnails(SOURCE, recorded) == 1
    assert store.remove_thumbnails(SOURCE, recorded) == 0
    assert store.remove_thumbnails(SOURCE, None) == 0


def test_annotated_and_grid_copies_are_counted_cleared_and_removed_by_image_id(
    tmp_path: Path,
) -> None:
    store = ThumbnailStore(tmp_path / "thumbs")
    store.write(SOURCE, JPEG)
    annotated = store.write_annotated(7, JPEG)
    grid = store.write_grid(7, 320, "webp", JPEG)
    store.write_grid(8, 320, "jpeg", JPEG)
    (tmp_path / "thumbs" / "annotated_x.jpg").write_bytes(JPEG)  # not ours: never touched
    assert annotated.name == "annotated_7.jpg"
    assert grid.name == "grid320_7.webp"
    assert store.stats().count == 4
    assert store.derived_ids() == {7, 8}
    assert store.remove_derived({7}) == 2
    assert store.derived_ids() == {8}
    assert store.remove_annotated(7) is False
    assert store.clear() == 2
    assert (tmp_path / "thumbs" / "annotated_x.jpg").exists()
    with pytest.raises(ValueError, match="image id"):
        store.annotated_path(-1)
