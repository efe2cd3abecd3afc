"""The thumbnail cache: one JPEG per source image in a flat directory, and beside them the
annotated copies of solved frames (``annotated_{image_id}.jpg``, catalog objects drawn on them,
as AstroCat keeps them).

File names come from :func:`astrocat_pipeline.core.thumbnail.thumbnail_filename`, so the same
source path always maps to the same file (re-rendering overwrites it). Writes are atomic: a
reader sees the old thumbnail or the new one, never a partial file. Counting and clearing look
only at regular files whose names have that form
(:func:`~astrocat_pipeline.core.thumbnail.is_thumbnail_filename`): the directory may be shared
with other files, which are never touched.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from astrocat_pipeline.core.thumbnail import is_thumbnail_filename, thumbnail_filename

# Thumbnails are meant to be read by other processes (the web UI, a file browser); mkstemp
# creates files readable by the owner only.
THUMBNAIL_FILE_MODE = 0o644

BYTES_PER_MB = 1_000_000

# Files made from a thumbnail, named by the catalog's image id: the annotated copy of a frame
# (AstroCat's own naming) and the grid's smaller copies (``grid{size}_{image_id}.jpg|webp``).
ANNOTATED_NAME_PATTERN = re.compile(r"annotated_[0-9]+\.jpg")
DERIVED_NAME_PATTERN = re.compile(r"(?:annotated|grid[0-9]+)_([0-9]+)\.(?:jpg|webp)")
GRID_FORMATS = {"jpeg": "jpg", "webp": "webp"}


def annotated_filename(image_id: int) -> str:
    """Cache file name of the annotated copy of image ``image_id``."""
    if isinstance(image_id, bool) or not isinstance(image_id, int) or image_id < 0:
        raise ValueError(f"expected an image id (an integer, 0 or more), found {image_id!r}")
    return f"annotated_{image_id}.jpg"


def grid_filename(image_id: int, size_px: int, image_format: str) -> str:
    """Cache file name of the grid copy of image ``image_id`` at ``size_px`` in
    ``image_format`` (``jpeg`` or ``webp``)."""
    annotated_filename(image_id)  # the same check of the id
    if isinstance(size_px, bool) or not isinstance(size_px, int) or size_px < 1:
        raise ValueError(f"expected a size in pixels, found {size_px!r}")
    return f"grid{size_px}_{image_id}.{GRID_FORMATS[image_format]}"


def _is_cache_filename(name: str) -> bool:
    return is_thumbnail_filename(name) or DERIVED_NAME_PATTERN.fullmatch(name) is not None


@dataclass(frozen=True)
class CacheStats:
    """Size of the thumbnail cache. Unpacks like the tuple it used to be:
    ``count, size_bytes = store.stats()``."""

    count: int
    size_bytes: int

    @property
    def size_mb(self) -> float:
        """``size_bytes`` in megabytes (10**6 bytes)."""
        return self.size_bytes / BYTES_PER_MB

    def __iter__(self) -> Iterator[int]:
        return iter((self.count, self.size_bytes))


class ThumbnailStore:
    """Thumbnails under ``cache_dir`` (created on the first write)."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = Path(cache_dir)

    def __repr__(self) -> str:
        return f"ThumbnailStore({str(self.cache_dir)!r})"

    def path_for(self, source_path: str) -> Path:
        """Where the thumbnail of ``source_path`` lives (whether or not it exists yet)."""
        return self.cache_dir / thumbnail_filename(source_path)

    def write(self, source_path: str, jpeg: bytes) -> Path:
        """Store ``jpeg`` as the thumbnail of ``source_path`` atomically; returns its path."""
        return self._write_atomic(self.path_for(source_path), jpeg)

    def annotated_path(self, image_id: int) -> Path:
        """Where the annotated copy of image ``image_id`` lives (whether or not it exists)."""
        return self.cache_dir / annotated_filename(image_id)

    def write_annotated(self, image_id: int, jpeg: bytes) -> Path:
        """Store ``jpeg`` as the annotated copy of image ``image_id`` atomically."""
        return self._write_atomic(self.annotated_path(image_id), jpeg)

    def remove_annotated(self, image_id: int) -> bool:
        """Delete the annotated copy of image ``image_id``; False if there was none."""
        try:
            self.annotated_path(image_id).unlink()
        except FileNotFoundError:
            return False
        return True

    def grid_path(self, image_id: int, size_px: int, image_format: str) -> Path:
        """Where the grid copy of image ``image_id`` lives (whether or not it exists)."""
        return self.cache_dir / grid_filename(image_id, size_px, image_format)

    def write_grid(self, image_id: int, size_px: int, image_format: str, data: bytes) -> Path:
        """Store ``data`` as the grid copy of image ``image_id`` atomically."""
        return self._write_atomic(self.grid_path(image_id, size_px, image_format), data)

    def derived_ids(self) -> set[int]:
        """The image ids that have an annotated or grid copy in the cache."""
        return {
            int(match.group(1))
            for entry in self._thumbnail_entries()
            if (match := DERIVED_NAME_PATTERN.fullmatch(entry.name)) is not None
        }

    def remove_derived(self, image_ids: set[int]) -> int:
        """Delete the annotated and grid copies of ``image_ids``; returns how many went."""
        removed = 0
        for entry in self._thumbnail_entries():
            match = DERIVED_NAME_PATTERN.fullmatch(entry.name)
            if match is not None and int(match.group(1)) in image_ids:
                with contextlib.suppress(FileNotFoundError):
                    Path(entry.path).unlink()
                    removed += 1
        return removed

    def _write_atomic(self, target: Path, data: bytes) -> Path:
        """Write ``data`` to ``target`` atomically; returns ``target``.

        The bytes go to a temporary file in the cache directory (same file system), which is
        flushed to disk and then renamed over the final name.
        """
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=self.cache_dir, prefix=".", suffix=".tmp")
        temp_path = Path(temp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            temp_path.chmod(THUMBNAIL_FILE_MODE)
            temp_path.replace(target)
        except BaseException:
            # Leave no stray temporary file behind, then let the error propagate.
            with contextlib.suppress(FileNotFoundError):
                temp_path.unlink()
            raise
        return target

    def remove(self, source_path: str) -> bool:
        """Delete the thumbnail of ``source_path``; False if there was none."""
        try:
            self.path_for(source_path).unlink()
        except FileNotFoundError:
            return False
        return True

    def remove_thumbnails(self, source_path: str, recorded: str | None) -> int:
        """Delete the thumbnail of ``source_path`` and the one the catalog recorded for it (they
        differ if the naming rule changed since), the latter only if it lies inside the cache:
        a path from the database must never make us delete anything else. Returns how many
        went."""
        removed = int(self.remove(source_path))
        if recorded:
            cache = self.cache_dir.resolve()
            target = Path(recorded).resolve()
            if target.parent == cache and target != self.path_for(source_path).resolve():
                try:
                    target.unlink()
                    removed += 1
                except FileNotFoundError:
                    pass
        return removed

    def _thumbnail_entries(self) -> Iterator[os.DirEntry[str]]:
        """Regular files (not symlinks, not folders) in the cache named like thumbnails or
        annotated copies."""
        try:
            entries = list(os.scandir(self.cache_dir))
        except FileNotFoundError:
            return
        for entry in entries:
            if _is_cache_filename(entry.name) and entry.is_file(follow_symlinks=False):
                yield entry

    def stats(self) -> CacheStats:
        """Number and total size of the thumbnails and annotated copies in the cache (0, 0 if
        it does not exist)."""
        count = 0
        total_bytes = 0
        for entry in self._thumbnail_entries():
            try:
                size = entry.stat(follow_symlinks=False).st_size
            except FileNotFoundError:  # removed by another process while we listed
                continue
            count += 1
            total_bytes += size
        return CacheStats(count, total_bytes)

    def clear(self) -> int:
        """Delete every thumbnail and annotated copy in the cache; returns how many went.

        Only regular files named like thumbnails go (see the module docstring); anything else
        in the directory, the directory itself and temporary files of writes in progress stay.
        """
        removed = 0
        for entry in self._thumbnail_entries():
            try:
                Path(entry.path).unlink()
            except FileNotFoundError:  # removed by another process while we listed
                continue
            removed += 1
        return removed
