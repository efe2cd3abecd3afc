"""Finding image files under library roots, naming their Dagster partitions, and telling what
changed since the last look.

A library can hold 100,000 files on a slow NAS, so a walk can be cut short by a budget and
resumed later: the walk visits folders and files in a fixed order (names sorted, depth first),
and a *position* (the relative path of the last file examined) says where to pick up again.
Comparing a walk with what the catalog recorded on the previous look tells which files are new,
still being written, changed or gone.
"""

from __future__ import annotations

import hashlib
import json
import operator
import os
import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from astrocat_pipeline.core.formats import image_format
from astrocat_pipeline.core.records import InventoryEntry
from astrocat_pipeline.core.tuning import PARTITION_KEY_MAX_LEN

# Characters kept as they are in partition keys. Everything else (spaces, commas, brackets,
# quotes, unicode, shell metacharacters) becomes "_": the UI's partition selectors split on
# ",", read "..." as a range and reject "[", "]" and spaces.
_UNSAFE = re.compile(r"[^A-Za-z0-9._/+=@~-]")
_DOT_RUNS = re.compile(r"\.{2,}")

# The format of a file name longer than this depends only on its last this-many characters
# (the longest image extension, ".fits.gz", has 8), not on the whole name.
_FORMAT_TAIL = 12

# (size_bytes, mtime_ns): what one look at a file sees.
FileState = tuple[int, int]


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
    return _partition_key(root_label(root), root, rel_path)


def _partition_key(label: str, root: str, rel_path: str) -> str:
    if _UNSAFE.search(rel_path) is None and ".." not in rel_path:  # the common case, quickly
        key = f"{label}/{rel_path}"
        if len(key) <= PARTITION_KEY_MAX_LEN:
            return key
    safe = _DOT_RUNS.sub("_", _UNSAFE.sub("_", rel_path))
    key = f"{label}/{safe}"
    if safe == rel_path and len(key) <= PARTITION_KEY_MAX_LEN:
        return key
    suffix = "~" + _short_hash(f"{root}\0{rel_path}", 10)
    return key[: PARTITION_KEY_MAX_LEN - len(suffix)] + suffix


# --- walking a root -------------------------------------------------------------------------


def walk_position(rel_path: str) -> tuple[str, ...]:
    """The sort key of ``rel_path`` in walk order.

    The walk lists each folder's names sorted and goes depth first, which is the order of the
    paths' component tuples (not of the path strings: "a/b" comes before "a-c" because the
    folder "a" sorts before "a-c").
    """
    return tuple(rel_path.split("/"))


def in_walked_range(rel_path: str, start_after: str | None, stopped_after: str | None) -> bool:
    """Whether ``rel_path`` lies in the part of a root that a walk covered: after
    ``start_after`` (None: from the beginning) up to and including ``stopped_after`` (None: to
    the end)."""
    position = walk_position(rel_path)
    if start_after is not None and position <= walk_position(start_after):
        return False
    return stopped_after is None or position <= walk_position(stopped_after)


def _is_under(rel_path: str, prefixes: Collection[str]) -> bool:
    return any(
        prefix == "" or rel_path == prefix or rel_path.startswith(prefix + "/")
        for prefix in prefixes
    )


@dataclass(frozen=True)
class FolderLook:
    """What a walk saw of one folder it listed: its device and whether it lists nothing."""

    device: int
    empty: bool


@dataclass(frozen=True)
class RootWalk:
    """What one (possibly partial) walk of one root saw.

    The walk covered the files after ``start_after`` up to ``stopped_after`` (both relative
    paths in walk order; None means the beginning and the end of the root).
    """

    root: str
    online: bool
    entries: tuple[InventoryEntry, ...]
    start_after: str | None = None
    stopped_after: str | None = None
    # Relative paths of folders that could not be listed and files that could not be examined
    # (a transient NAS error): nothing under them may be taken as deleted.
    unreadable: tuple[str, ...] = ()
    root_is_empty: bool = False  # the root folder itself lists nothing (an unmounted disk?)
    problem: str | None = None  # why the root is offline, or what could not be read below it
    # Every folder the walk listed (relative path, "" for the root): the proof a vanished file
    # needs that its folder is still there, readable and on the same device.
    folders: Mapping[str, FolderLook] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        """Whether the walk reached the end of the root."""
        return self.stopped_after is None

    def covers(self, rel_path: str) -> bool:
        """Whether a file at ``rel_path`` would have been seen by this walk if it existed."""
        return in_walked_range(rel_path, self.start_after, self.stopped_after) and not _is_under(
            rel_path, self.unreadable
        )


class _Walker:
    """Depth-first walk in sorted order from a position; collects what could not be read."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.root_path = Path(root)
        self.label = root_label(root)
        self.problems: list[str] = []
        self.unreadable: list[str] = []
        self.root_is_empty = False
        self.folders: dict[str, FolderLook] = {}
        self._formats: dict[str, str | None] = {}

    def image_format(self, name: str) -> str | None:
        """``image_format(name)``, remembered per name ending: a library has a handful of
        extensions and 100,000 names (this halves the time of a walk)."""
        if len(name) <= _FORMAT_TAIL:
            return image_format(name)
        tail = name[-_FORMAT_TAIL:].lower()
        if tail not in self._formats:
            self._formats[tail] = image_format(name)
        return self._formats[tail]

    def walk(
        self,
        folder: tuple[str, ...],
        after: tuple[str, ...] | None,
        visit: Callable[[tuple[str, ...], InventoryEntry | None], bool],
    ) -> bool:
        """Call ``visit(position, entry)`` for every file examined after ``after`` (entry None:
        not an image), in walk order, until it returns False; returns False if it did.

        A plain recursion with a callback: nested generators cost a ``yield`` per folder level
        for every file, which doubled the time of a walk of 100,000 files.
        """
        path = self.root_path.joinpath(*folder)
        try:
            with os.scandir(path) as listing:
                children = [e for e in listing if not e.name.startswith(".")]
            children.sort(key=_name)
            device = path.stat().st_dev
        except OSError as exc:
            self.problems.append(f"{path}: {exc.strerror or exc}")
            self.unreadable.append("/".join(folder))
            return True
        self.folders["/".join(folder)] = FolderLook(device, empty=not children)
        if not folder and not children:
            self.root_is_empty = True
        for child in children:
            position = (*folder, child.name)
            child_after: tuple[str, ...] | None = None
            if after is not None:
                mark = after[: len(position)]
                if position < mark:
                    continue  # this file or folder was walked before
                if position == mark:
                    if len(position) < len(after):
                        child_after = after  # resume inside this folder
                    elif not _is_dir(child):
                        continue  # the last file examined last time
                # position > mark: everything from here on is new ground
            try:
                if child.is_dir(follow_symlinks=False):
                    if not self.walk(position, child_after, visit):
                        return False
                    continue
                if child_after is not None:
                    continue  # a folder on the way to the position is now a file: walked
                fmt = self.image_format(child.name)
                if fmt is None or not child.is_file():
                    if not visit(position, None):
                        return False
                    continue
                stat = child.stat()
            except OSError as exc:
                self.problems.append(f"{child.path}: {exc.strerror or exc}")
                self.unreadable.append("/".join(position))
                continue
            rel_path = "/".join(position)
            entry = InventoryEntry(
                root=self.root,
                rel_path=rel_path,
                size_bytes=stat.st_size,
                mtime_ns=stat.st_mtime_ns,
                format=fmt,
                partition_key=_partition_key(self.label, self.root, rel_path),
                device=stat.st_dev,
            )
            if not visit(position, entry):
                return False
        return True


_name = operator.attrgetter("name")


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def walk_root(
    root: str,
    after: str | None = None,
    *,
    max_entries: int | None = None,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> RootWalk:
    """Walk ``root`` (recursively, following no symlinked folders) from just after the
    position ``after``, until the end of the root, ``max_entries`` image files, or ``clock()``
    reaching ``deadline``, whichever comes first. A walk whose budget runs out exactly at the
    last file still counts as finished.

    A missing or unreadable root is reported offline rather than raising: its images must not
    be taken as deleted. Unreadable subfolders and files are skipped and listed in
    ``unreadable``; hidden names (starting with ".") are skipped.
    """
    root_path = Path(root)
    if not root_path.is_dir():
        return RootWalk(root, online=False, entries=(), problem=f"{root}: not a directory")
    walker = _Walker(root)
    entries: list[InventoryEntry] = []
    last: list[tuple[str, ...]] = []
    spent = False

    def visit(position: tuple[str, ...], entry: InventoryEntry | None) -> bool:
        nonlocal spent
        if spent:  # stop before this file: the walk did not reach the end
            return False
        last[:] = [position]
        if entry is not None:
            entries.append(entry)
        spent = (max_entries is not None and len(entries) >= max_entries) or (
            deadline is not None and clock() >= deadline
        )
        return True

    stopped = not walker.walk((), walk_position(after) if after else None, visit)
    if "" in walker.unreadable:
        return RootWalk(root, online=False, entries=(), problem="; ".join(walker.problems))
    return RootWalk(
        root,
        online=True,
        entries=tuple(entries),
        start_after=after,
        stopped_after="/".join(last[0]) if stopped and last else None,
        unreadable=tuple(walker.unreadable),
        root_is_empty=walker.root_is_empty,
        problem="; ".join(walker.problems) or None,
        folders=walker.folders,
    )


@dataclass(frozen=True)
class RootScan:
    """What one complete scan of one root found."""

    root: str
    online: bool
    entries: tuple[InventoryEntry, ...]
    problem: str | None = None  # why the root is offline, or what could not be read below it


def scan_root(root: str) -> RootScan:
    """List every image file under ``root`` (a complete :func:`walk_root`)."""
    walk = walk_root(root)
    return RootScan(root, online=walk.online, entries=walk.entries, problem=walk.problem)


# --- comparing two looks --------------------------------------------------------------------


@dataclass(frozen=True)
class Looks:
    """What one look at some files means, given the previous look.

    A file is taken only once two looks some time apart agree on its size and mtime, so a
    file still being copied or written is not indexed half-written.
    """

    # Files to write to the catalog's inventory: this look becomes the previous look of the
    # next one (new files, files still changing, and files whose catalog row went missing).
    record: tuple[InventoryEntry, ...] = ()
    # New files seen the same twice: they get a partition and are processed.
    ready: tuple[InventoryEntry, ...] = ()
    # Files with a partition whose new content was seen the same twice: re-recorded and
    # re-processed.
    changed: tuple[InventoryEntry, ...] = ()
    # Files with a partition whose content is changing: partition key -> what this look saw.
    pending: Mapping[str, FileState] = field(default_factory=dict)


def compare_looks(
    entries: Sequence[InventoryEntry],
    recorded: Mapping[str, FileState],
    partitions: Collection[str],
    pending: Mapping[str, FileState],
    max_pending: int,
) -> Looks:
    """Compare this look at ``entries`` with the previous one.

    ``recorded`` is the catalog's inventory (partition key -> state): the previous look of a
    file without a partition, and the state a processed file had. ``pending`` holds the first
    look at changes of files that have a partition (the catalog keeps their processed state
    until the change settles); at most ``max_pending`` are kept, the rest are seen again on the
    next pass.
    """
    record: list[InventoryEntry] = []
    ready: list[InventoryEntry] = []
    changed: list[InventoryEntry] = []
    still_pending = dict(pending)
    for entry in entries:
        key = entry.partition_key
        now = (entry.size_bytes, entry.mtime_ns)
        before = recorded.get(key)
        if key not in partitions:
            (ready if before == now else record).append(entry)
        elif still_pending.get(key) == now:
            del still_pending[key]
            changed.append(entry)
        elif before == now:
            still_pending.pop(key, None)  # a change that was undone
        elif key in still_pending or len(still_pending) < max_pending:
            still_pending[key] = now
            if before is None:  # the catalog lost the row: steps need it to find the file
                record.append(entry)
    return Looks(tuple(record), tuple(ready), tuple(changed), still_pending)


def vanished_files(recorded_paths: Mapping[str, str], walk: RootWalk) -> list[str]:
    """Partition keys of cataloged files (key -> relative path under ``walk.root``) that the
    walk should have seen but did not: they were deleted, moved or renamed.

    Nothing is vanished when the root is offline, and nothing under an unreadable folder.
    """
    if not walk.online:
        return []
    seen = {entry.rel_path for entry in walk.entries}
    return sorted(
        key
        for key, rel_path in recorded_paths.items()
        if rel_path not in seen and walk.covers(rel_path)
    )


def folder_offline(
    rel_path: str, walk: RootWalk, recorded_device: int | None
) -> tuple[str, str] | None:
    """Why the folder of a vanished file at ``rel_path`` gives no proof of its deletion, as
    (the folder's relative path, the reason), or None when the folder is intact: it was listed
    by ``walk``, lists something, and is on ``recorded_device`` (the file's device when it was
    inventoried; None: not known, not checked).

    A folder that vanished (the highest missing one is named), lists nothing, or moved to another
    device is offline the way a root is: an unmounted disk or share inside a root looks exactly
    like this, and its files must not be taken as deleted.
    """
    parts = rel_path.split("/")[:-1]
    for depth in range(len(parts) + 1):
        folder = "/".join(parts[:depth])
        if folder not in walk.folders:
            return folder, "the folder is missing"
    folder = "/".join(parts)
    look = walk.folders[folder]
    if look.empty:
        return folder, "the folder is empty"
    if recorded_device is not None and look.device != recorded_device:
        return folder, (
            f"the folder is on another device than when its files were recorded "
            f"({recorded_device} then, {look.device} now)"
        )
    return None


def contiguous_batches(
    ordered_keys: Sequence[str], wanted: Collection[str], max_size: int
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


# --- where the sensor is --------------------------------------------------------------------


@dataclass(frozen=True)
class ScanCursor:
    """Where the library walk stands between two sensor ticks (stored as the sensor cursor).

    ``root``/``after``: the root being walked and the last file examined in it (None: start at
    the first root). ``passes``: complete walks over all roots so far. ``pending``: first looks
    at changes of processed files (see :class:`Looks`). ``offline``: roots found offline on
    their last walk, shown in the UI with the cursor. ``partitions``: how many partitions there
    were after the last tick (-1: unknown), to notice partitions added or deleted by hand.
    """

    root: str | None = None
    after: str | None = None
    passes: int = 0
    pending: Mapping[str, FileState] = field(default_factory=dict)
    offline: tuple[str, ...] = ()
    partitions: int = -1

    def to_json(self) -> str:
        return json.dumps(
            {
                "root": self.root,
                "after": self.after,
                "passes": self.passes,
                "offline": list(self.offline),
                "partitions": self.partitions,
                "pending": [[key, size, mtime] for key, (size, mtime) in self.pending.items()],
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | None) -> ScanCursor:
        """The cursor in ``text``; a missing or unreadable cursor starts a new walk (the walk
        is idempotent, so starting over costs time, never data)."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
            return cls(
                root=data.get("root"),
                after=data.get("after"),
                passes=int(data.get("passes", 0)),
                pending={str(k): (int(s), int(m)) for k, s, m in data.get("pending", [])},
                offline=tuple(data.get("offline", ())),
                partitions=int(data.get("partitions", -1)),
            )
        except (ValueError, TypeError, AttributeError):
            return cls()
