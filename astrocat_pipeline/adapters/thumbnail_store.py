"""The thumbnail cache: one JPEG per source image in a flat directory.

File names come from :func:`astrocat_pipeline.core.thumbnail.thumbnail_filename`, so the same
source path always maps to the same file (re-rendering overwrites it). Writes are atomic: a
reader sees the old thumbnail or the new one, never a partial file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from astrocat_pipeline.core.thumbnail import THUMBNAIL_SUFFIX, thumbnail_filename

# Thumbnails are meant to be read by other processes (the web UI, a file browser); mkstemp
# creates files readable by the owner only.
THUMBNAIL_FILE_MODE = 0o644


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
        """Store ``jpeg`` as the thumbnail of ``source_path`` atomically; returns its path.

        The bytes go to a temporary file in the cache directory (same file system), which is
        flushed to disk and then renamed over the final name.
        """
        target = self.path_for(source_path)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=self.cache_dir, prefix=".", suffix=".tmp")
        temp_path = Path(temp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(jpeg)
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

    def stats(self) -> tuple[int, int]:
        """``(count, total bytes)`` of the thumbnails in the cache (0, 0 if it does not exist)."""
        count = 0
        total_bytes = 0
        if not self.cache_dir.is_dir():
            return 0, 0
        for entry in os.scandir(self.cache_dir):
            if entry.name.endswith(THUMBNAIL_SUFFIX) and entry.is_file(follow_symlinks=False):
                try:
                    size = entry.stat(follow_symlinks=False).st_size
                except FileNotFoundError:  # removed by another process while we listed
                    continue
                count += 1
                total_bytes += size
        return count, total_bytes
