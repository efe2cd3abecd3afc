"""Finding image files under library roots and naming their Dagster partitions."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from astrocat_pipeline.core.formats import image_format
from astrocat_pipeline.core.records import InventoryEntry
from astrocat_pipeline.core.tuning import PARTITION_KEY_MAX_LEN

# Characters kept as they are in partition keys. Everything else (spaces, commas, brackets,
# quotes, unicode, shell metacharacters) becomes "_": the UI's partition selectors split on
# ",", read "..." as a range and reject "[", "]" and spaces.
_UNSAFE = re.compile(r"[^A-Za-z0-9._/+=@~-]")
_DOT_RUNS = re.compile(r"\.{2,}")


def _short_hash(text: str, length: int) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:length]


def root_label(root: str) -> str:
    """A short readable label for a library root, unique per root path.

    ``/mnt/nas/astro`` -> ``astro-1a2b``: the folder name for humans, a hash of the full path so
    two roots with the same folder name never share keys.
    """
    name = PurePosixPath(root.rstrip("/")).name or "root"
    safe = _DOT_RUNS.sub("_", _UNSAFE.sub("_", name)).strip("._-") or "root"
    return f"{safe[:32]}-{_short_hash(root, 4)}"


def partition_key(root: str, rel_path: str) -> str:
    """The stable, unique, UI-safe partition key of ``rel_path`` under ``root``.

    The key is the root label and the relative path. When the path needed any change to be safe,
    or is too long, a hash of the true (root, path) is appended so keys stay unique; the true
    path itself lives in the catalog and in the asset metadata.
    """
    safe = _DOT_RUNS.sub("_", _UNSAFE.sub("_", rel_path))
    key = f"{root_label(root)}/{safe}"
    if safe == rel_path and len(key) <= PARTITION_KEY_MAX_LEN:
        return key
    suffix = "~" + _short_hash(f"{root}\0{rel_path}", 10)
    return key[: PARTITION_KEY_MAX_LEN - len(suffix)] + suffix


@dataclass(frozen=True)
class RootScan:
    """What one scan of one root found."""

    root: str
    online: bool
    entries: tuple[InventoryEntry, ...]
    problem: str | None = None  # why the root is offline, or what could not be read below it


def scan_root(root: str) -> RootScan:
    """List every image file under ``root`` (recursively, following no symlinked folders).

    A missing or unreadable root is reported offline rather than raising: its images must not
    be taken as deleted. Unreadable subfolders are skipped and named in ``problem``.
    """
    root_path = Path(root)
    if not root_path.is_dir():
        return RootScan(root, online=False, entries=(), problem=f"{root}: not a directory")
    try:
        with os.scandir(root_path):
            pass
    except OSError as exc:
        return RootScan(root, online=False, entries=(), problem=f"{root}: {exc.strerror}")
    problems: list[str] = []
    entries = tuple(_walk(root, root_path, problems))
    return RootScan(root, online=True, entries=entries, problem="; ".join(problems) or None)


def _walk(root: str, folder: Path, problems: list[str]) -> Iterator[InventoryEntry]:
    try:
        with os.scandir(folder) as listing:
            children = sorted(listing, key=lambda e: e.name)
    except OSError as exc:
        problems.append(f"{folder}: {exc.strerror}")
        return
    for child in children:
        if child.name.startswith("."):
            continue
        try:
            if child.is_dir(follow_symlinks=False):
                yield from _walk(root, Path(child.path), problems)
                continue
            fmt = image_format(child.name)
            if fmt is None or not child.is_file():
                continue
            stat = child.stat()
        except OSError as exc:
            problems.append(f"{child.path}: {exc.strerror}")
            continue
        rel_path = Path(child.path).relative_to(root).as_posix()
        yield InventoryEntry(
            root=root,
            rel_path=rel_path,
            size_bytes=stat.st_size,
            mtime_ns=stat.st_mtime_ns,
            format=fmt,
            partition_key=partition_key(root, rel_path),
        )


def contiguous_batches(
    ordered_keys: list[str], wanted: set[str] | frozenset[str], max_size: int
) -> list[list[str]]:
    """Split ``wanted`` keys into runs of consecutive keys of ``ordered_keys``, each at most
    ``max_size`` long.

    A Dagster run over several partitions covers a key *range*, so keys that are not next to
    each other in the partition order go to different batches.
    """
    batches: list[list[str]] = []
    current: list[str] = []
    for key in ordered_keys:
        if key in wanted:
            current.append(key)
            if len(current) == max_size:
                batches.append(current)
                current = []
        elif current:
            batches.append(current)
            current = []
    if current:
        batches.append(current)
    return batches
