"""Library sync: what one pass of the new-file sensor decides, with no Dagster in it.

A pass has three parts; the sensor (``defs/sensors.py``) only carries out their answers:

1. :func:`walk_library` walks the roots from where the last pass stopped, for at most
   ``WALK_BUDGET_S`` seconds and ``WALK_MAX_FILES`` files (the position is in the cursor, so a
   big library on a slow NAS is covered over several passes, a local one of 100,000 files in
   every pass), and compares what it saw with the catalog's inventory: a file is taken only
   when two looks agree on its size and mtime, so a file still being written waits. It reads
   the file system and the catalog; it decides nothing.
2. :func:`plan_inventory` turns those findings into what to record in the catalog, which
   partitions to add, and whether Dagster's partition statuses are needed (they cost ~1.5 s at
   100,000 partitions, so a steady pass skips them).
3. :func:`plan_sync` decides, from the statuses and the runs in flight, which vanished files
   to remove, and which runs to launch over batches of consecutive partitions: changed and
   re-added files first, then partitions that were never materialized, keeping at most
   ``MAX_RUNS_IN_FLIGHT`` runs queued or running.

Removal only with proof (DESIGN.md, invariant 3). A file is removed when two looks at least
``REMOVAL_SETTLE_S`` apart missed it while its folder was listed, not empty and on the device the
file was recorded on; a folder that vanished, lists nothing or changed device is offline the way
a root is, and nothing under it is removed. When the files gone under a root are more than
``max(MASS_REMOVAL_MIN_FILES, MASS_REMOVAL_FRACTION`` of its files), their removals are held in
the catalog until the user confirms them (the ``confirm_removals`` job) or the files return. A
removed file is a tombstone in the catalog (see ``adapters/catalog/images.py``), purged after
``ASTROCAT_TOMBSTONE_DAYS``; a file that returns gets its rows back without being processed.

:func:`remove_images`, :func:`held_removals_to_confirm` and :func:`purge_tombstones` carry out
the catalog and thumbnail part of a removal, a confirmation and a purge.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import posixpath
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from astrocat_pipeline.adapters.catalog import CatalogStore, LibraryPass
from astrocat_pipeline.adapters.catalog.images import RemovalFacts
from astrocat_pipeline.adapters.thumbnail_store import ThumbnailStore
from astrocat_pipeline.core.inventory import (
    FileState,
    RootWalk,
    ScanCursor,
    compare_looks,
    contiguous_batches,
    folder_offline,
    root_label,
    vanished_files,
    walk_root,
)
from astrocat_pipeline.core.records import InventoryEntry
from astrocat_pipeline.core.tuning import LOOK_INTERVAL_S

# --- budgets of one pass (Dagster stops a sensor evaluation after 60 s) ----------------------
# Walking: a local disk lists and stats 100,000 files in 1-4 s here (bench/partitions_bench.py),
# a NAS over SMB or NFS can be 100x slower; the rest of the walk continues on the next pass.
WALK_BUDGET_S = 10.0
# Files examined per pass: bounds the memory and the comparison work of one pass (a walk of
# 250,000 local files takes ~5-8 s here).
WALK_MAX_FILES = 250_000
# New files recorded for a second look, and new partitions added, per pass: bounds the catalog
# writes and the partitions added at once (100,000 keys: ~2 s on SQLite, ~14 s on PostgreSQL);
# it is also Dagster's recommended maximum number of partitions per asset. Files beyond it are
# taken on the next passes.
MAX_NEW_PER_TICK = 100_000
# Changes of processed files waiting for their second look, kept in the cursor (~100 bytes
# each). More changes than this at once are seen again on the next pass.
MAX_PENDING_CHANGES = 2_000
# Partition deletions cost ~5 ms each on SQLite, ~30 ms on PostgreSQL, one by one (Dagster has
# no bulk call): the rest of a mass deletion follows on the next passes.
MAX_REMOVALS_PER_TICK = 500
# A vanished file's two looks are at least this far apart: the interval of the new-file
# sensor, whose two looks at a new file are as far apart (core/tuning.py).
REMOVAL_SETTLE_S = float(LOOK_INTERVAL_S)
# A root whose gone files are more than max(this many, this fraction of its files) holds their
# removals for the user's confirmation: deleting 100 frames or 2 % of a library on purpose is
# ordinary housekeeping; more at once is more likely a disk or share that half went away.
MASS_REMOVAL_MIN_FILES = 100
MASS_REMOVAL_FRACTION = 0.02
# Runs of the sensor queued or running at once. The daemon takes ~10 s to create one run at
# 100,000 partitions (bench/partitions_bench.py) and the queue runs two at a time here: more
# queued runs would only slow the daemon and make new files wait behind the whole backlog.
MAX_RUNS_IN_FLIGHT = 8
# The source the sensor's passes are recorded under in the catalog (for the health view).
PASS_SOURCE = "sensor"


class PartitionState(StrEnum):
    """What Dagster knows of one partition's first asset; no entry means never materialized."""

    MATERIALIZED = "materialized"
    FAILED = "failed"
    IN_PROGRESS = "in_progress"


class InventoryReader(Protocol):
    """The catalog's view the walk needs."""

    def recorded_files(self, root: str) -> dict[str, tuple[str, FileState]]: ...

    def removal_facts(self, root: str, keys: Collection[str]) -> dict[str, RemovalFacts]: ...


def mass_removal_limit(root_files: int) -> int:
    """How many gone files a root with ``root_files`` cataloged files may lose without the
    user's confirmation."""
    return max(MASS_REMOVAL_MIN_FILES, math.floor(MASS_REMOVAL_FRACTION * root_files))


@dataclass(frozen=True)
class GoneFile:
    """A cataloged file a walk missed while its folder was intact."""

    key: str
    path: str
    root: str
    gone_since: datetime | None  # the first look that missed it (None: this one)
    held: bool  # its removal waits for the user's confirmation


# --- 1. the walk -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LibraryWalk:
    """What the walk part of one pass found, over all the roots it visited."""

    files: int = 0
    record: tuple[InventoryEntry, ...] = ()  # first looks, and files whose row went missing
    ready: tuple[InventoryEntry, ...] = ()  # new files seen the same twice
    changed: tuple[InventoryEntry, ...] = ()  # processed files whose change has settled
    vanished: tuple[tuple[str, str], ...] = ()  # (partition key, path) of files not seen
    gone: tuple[GoneFile, ...] = ()  # the vanished files whose folder is intact
    back: tuple[str, ...] = ()  # keys of files missed or held before, seen again
    offline: Mapping[str, str] = field(default_factory=dict)  # root -> why
    offline_folders: Mapping[str, str] = field(default_factory=dict)  # folder -> why
    problems: tuple[str, ...] = ()  # what could not be read under online roots
    cursor: ScanCursor = field(default_factory=ScanCursor)
    root_files: Mapping[str, int] = field(default_factory=dict)  # root -> cataloged files
    # root -> cataloged files known to be gone (missed once, waiting, or held)
    gone_counts: Mapping[str, int] = field(default_factory=dict)


def walk_library(
    roots: Sequence[str],
    cursor: ScanCursor,
    catalog: InventoryReader,
    partitions: Collection[str],
    *,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
) -> LibraryWalk:
    """Walk ``roots`` from ``cursor`` within the budget and compare with the catalog."""
    max_files, max_new = WALK_MAX_FILES, MAX_NEW_PER_TICK
    if cursor.root in roots:
        index, after = roots.index(cursor.root), cursor.after
    else:  # first pass, or the roots changed: start a new pass
        index, after = 0, None
    pending = dict(cursor.pending)
    offline_roots = set(cursor.offline)
    passes = cursor.passes
    next_root: str | None = None
    next_after: str | None = None
    files = 0
    record: list[InventoryEntry] = []
    ready: list[InventoryEntry] = []
    changed: list[InventoryEntry] = []
    vanished: list[tuple[str, str]] = []
    gone: list[GoneFile] = []
    back: list[str] = []
    offline: dict[str, str] = {}
    offline_folders: dict[str, str] = {}
    problems: list[str] = []
    root_files: dict[str, int] = {}
    gone_counts: dict[str, int] = {}
    while True:
        root = roots[index]
        walk = walk_root(root, after, max_entries=max_files - files, deadline=deadline, clock=clock)
        recorded = catalog.recorded_files(root) if walk.online else {}
        if walk.online and walk.root_is_empty and recorded:
            walk = RootWalk(
                root,
                online=False,
                entries=(),
                problem=f"{root}: the folder is empty but {len(recorded)} images were cataloged "
                "under it (an unmounted disk?); they are kept",
            )
        if not walk.online:
            offline[root] = walk.problem or f"{root}: offline"
            offline_roots.add(root)
        else:
            offline_roots.discard(root)
            if walk.problem:
                problems.append(walk.problem)
            looks = compare_looks(
                walk.entries,
                {key: state for key, (_, state) in recorded.items()},
                partitions,
                pending,
                MAX_PENDING_CHANGES,
            )
            pending = dict(looks.pending)
            record += looks.record[: max_new - len(record)]
            ready += looks.ready[: max_new - len(ready)]
            changed += looks.changed
            missed = vanished_files({key: rel for key, (rel, _) in recorded.items()}, walk)
            vanished += [(key, posixpath.join(root, recorded[key][0])) for key in missed]
            facts = catalog.removal_facts(root, missed)
            seen = {entry.partition_key for entry in walk.entries}
            marked = {k for k, f in facts.items() if f.gone_since is not None or f.held}
            back += sorted(marked & seen)
            for key in missed:
                rel_path = recorded[key][0]
                fact = facts.get(key, RemovalFacts(None, None, False))
                why = folder_offline(rel_path, walk, fact.device)
                if why is not None:
                    folder = posixpath.join(root, why[0]) if why[0] else root
                    offline_folders[folder] = f"{folder}: {why[1]}"
                    continue
                path = posixpath.join(root, rel_path)
                gone.append(GoneFile(key, path, root, fact.gone_since, fact.held))
            root_files[root] = len(recorded)
            gone_counts[root] = len((marked - seen) | set(missed))
            files += len(walk.entries)
        if not walk.finished:  # the budget ran out inside this root
            next_root, next_after = root, walk.stopped_after
            break
        index, after = index + 1, None
        if index == len(roots):  # a whole pass is done; the next one starts next time
            passes += 1
            break
        if files >= max_files or clock() >= deadline:
            next_root = roots[index]
            break
    return LibraryWalk(
        files=files,
        record=tuple(record),
        ready=tuple(ready),
        changed=tuple(changed),
        vanished=tuple(vanished),
        gone=tuple(gone),
        back=tuple(back),
        offline=offline,
        offline_folders=offline_folders,
        problems=tuple(problems),
        root_files=root_files,
        gone_counts=gone_counts,
        cursor=ScanCursor(
            root=next_root,
            after=next_after,
            passes=passes,
            pending=pending,
            offline=tuple(sorted(offline_roots & set(roots))),
        ),
    )


# --- 2. what to record and add ---------------------------------------------------------------


@dataclass(frozen=True)
class InventoryPlan:
    """The catalog and partition changes of one pass, before Dagster's statuses are known."""

    walk: LibraryWalk
    partitions: tuple[str, ...]  # the partitions before this pass, in Dagster's order
    record: tuple[InventoryEntry, ...]  # rows to write to the catalog's inventory
    new_keys: tuple[str, ...]  # partitions to add, in this order
    # Partitions whose Dagster status the plan needs (empty: a steady pass needs none).
    status_keys: tuple[str, ...]
    warnings: tuple[str, ...]
    # Cataloged files never processed (a new file whose key has history is launched only when
    # its row is one: a file restored from its tombstone is not processed again).
    unprocessed: frozenset[str] = frozenset()

    @property
    def needs_statuses(self) -> bool:
        return bool(self.status_keys)

    @functools.cached_property
    def may_catch_up(self) -> Callable[[str], bool]:
        """Whether a never-processed partition may be launched now (see
        :func:`_catch_up_test`); made once per plan, asked for every such partition."""
        return _catch_up_test(self.walk)


def _catch_up_test(walk: LibraryWalk) -> Callable[[str], bool]:
    """Whether a never-processed partition may be launched now: not while its file is still
    changing, not while its root is offline (a run would only record it unreadable)."""
    pending = walk.cursor.pending
    offline_prefixes = tuple(f"{root_label(root)}/" for root in walk.cursor.offline)
    return lambda key: key not in pending and not key.startswith(offline_prefixes)


def plan_inventory(
    walk: LibraryWalk,
    partitions: Sequence[str],
    previous_partition_count: int,
    unprocessed: Collection[str],
) -> InventoryPlan:
    """What to record and which partitions to add, from the walk and the catalog's state.

    ``partitions`` are Dagster's partitions before this pass, ``previous_partition_count`` how
    many there were after the last pass (a difference means partitions were added or deleted by
    hand), ``unprocessed`` the cataloged files that were never inventoried.
    """
    partition_set = set(partitions)
    new_keys = tuple(entry.partition_key for entry in walk.ready)
    warnings = [
        f"library root offline, its images are kept: {why}" for why in walk.offline.values()
    ]
    warnings += [
        f"folder offline, its images are kept (remove them with the confirm_removals job, "
        f"config folder, if it was deleted on purpose): {why}"
        for why in walk.offline_folders.values()
    ]
    warnings += [
        f"some files could not be read (nothing under them is removed): {problem}"
        for problem in walk.problems
    ]
    may_catch_up = _catch_up_test(walk)
    catch_up = any(key in partition_set and may_catch_up(key) for key in unprocessed)
    # Dagster's view of the partitions only when something may need it: new or vanished files,
    # files never processed, or partitions added or deleted by hand since the last pass.
    if new_keys or walk.vanished or catch_up or len(partitions) != previous_partition_count:
        status_keys = (*partitions, *new_keys)
    else:
        status_keys = ()
    return InventoryPlan(
        walk=walk,
        partitions=tuple(partitions),
        record=(*walk.record, *walk.changed),
        new_keys=new_keys,
        status_keys=status_keys,
        warnings=tuple(warnings),
        unprocessed=frozenset(unprocessed),
    )


# --- 3. removals and runs --------------------------------------------------------------------


@dataclass(frozen=True)
class RunBatch:
    """One run over consecutive partitions, with the files' state when it was planned."""

    keys: tuple[str, ...]
    state: str  # "size:mtime" per key

    @property
    def run_key(self) -> str:
        """The same files in the same state give the same key, so a repeated request for them
        is deduplicated."""
        return hashlib.sha1(("\n".join(self.keys) + "\n" + self.state).encode()).hexdigest()


@dataclass(frozen=True)
class SyncPlan:
    """What one pass does after its inventory changes."""

    removals: tuple[tuple[str, str], ...]  # (partition key, path), in this order
    removals_left: int  # proven removals left for the next pass (budget, or run in progress)
    runs: tuple[RunBatch, ...]
    never_processed: int
    failed: int
    in_flight: int
    cursor: ScanCursor
    warnings: tuple[str, ...]
    mark_gone: tuple[str, ...] = ()  # files missed for the first time (their first look)
    hold: tuple[str, ...] = ()  # removals to hold for the user's confirmation
    held: int = 0  # removals held under the roots walked, with those of this pass

    def summary(self, plan: InventoryPlan, roots: int, elapsed_s: float) -> str:
        """One line for the sensor's tick log."""
        walk = self.cursor
        online = roots - len(plan.walk.offline)
        return (
            f"looked at {plan.walk.files} files under {online}/{roots} "
            f"online roots (pass {walk.passes}"
            + (f", continues at {walk.after!r}" if walk.after else "")
            + f"); {len(plan.walk.record)} recorded for a second look, {len(plan.new_keys)} new, "
            f"{len(plan.walk.changed)} changed, {len(self.removals)} removed"
            + (f" ({self.removals_left} more next tick)" if self.removals_left else "")
            + (f", {len(self.mark_gone)} missed once" if self.mark_gone else "")
            + (f", {self.held} removals held" if self.held else "")
            + (
                f", {len(plan.walk.offline_folders)} folders offline"
                if plan.walk.offline_folders
                else ""
            )
            + f"; {self.never_processed} never processed, {self.in_flight} runs in flight, "
            f"{len(self.runs)} runs launched ({sum(len(r.keys) for r in self.runs)} partitions) "
            f"in {elapsed_s:.1f} s"
        )

    def library_pass(self, plan: InventoryPlan, roots: int, elapsed_s: float) -> LibraryPass:
        """This pass's counts, as the catalog keeps them for the library health view."""
        return LibraryPass(
            source=PASS_SOURCE,
            elapsed_s=elapsed_s,
            pass_number=self.cursor.passes,
            roots=roots,
            offline_roots=self.cursor.offline,
            files_looked_at=plan.walk.files,
            recorded=len(plan.walk.record),
            new=len(plan.new_keys),
            changed=len(plan.walk.changed),
            removed=len(self.removals),
            removals_left=self.removals_left,
            runs_launched=len(self.runs),
        )


def plan_sync(
    plan: InventoryPlan,
    statuses: Mapping[str, PartitionState],
    in_flight: int,
    inventory_of: Callable[[Sequence[str]], Mapping[str, FileState]],
    *,
    batch_size: int,
    now: datetime,
) -> SyncPlan:
    """Removals and runs, from the inventory plan and Dagster's partition statuses.

    ``statuses`` covers ``plan.status_keys`` (a key missing from it was never materialized);
    ``in_flight`` counts the sensor's runs queued or running; ``inventory_of`` looks up the
    catalog's (size, mtime) of some keys (keys without a catalog row are left out); ``now`` is
    the wall-clock time of this look.
    """
    known = set(plan.status_keys)
    in_progress = PartitionState.IN_PROGRESS
    walk = plan.walk
    settle = timedelta(seconds=REMOVAL_SETTLE_S)
    # The first look that misses a file only notes it; the second, a settle window later,
    # proves it gone. A held removal waits for the user.
    mark_gone = tuple(g.key for g in walk.gone if g.gone_since is None and not g.held)
    proven = [
        g
        for g in walk.gone
        if g.gone_since is not None and not g.held and now - g.gone_since >= settle
    ]
    held_before = sum(g.held for g in walk.gone)
    hold: list[str] = []
    hold_warnings: list[str] = []
    for root in sorted({g.root for g in proven}):
        limit = mass_removal_limit(walk.root_files.get(root, 0))
        if walk.gone_counts.get(root, 0) > limit:
            held_here = [g.key for g in proven if g.root == root]
            hold += held_here
            hold_warnings.append(
                f"{walk.gone_counts[root]} files are gone under {root}, more than {limit} at "
                f"once (a disk or share partly unmounted?): {len(held_here)} removals are held "
                "with the ones held before. They are kept until the files come back or you "
                "confirm them: launch the confirm_removals job (config folder: a root or a "
                "folder, empty for all)"
            )
    if held_before and not hold:
        hold_warnings.append(
            f"{held_before} removals are held until the files come back or you confirm them: "
            "launch the confirm_removals job (config folder: a root or a folder, empty for all)"
        )
    held_now = set(hold)
    # A file being processed right now is removed on a later pass, not under its run.
    vanished = [
        (g.key, g.path)
        for g in proven
        if g.key not in held_now and statuses.get(g.key) != in_progress
    ]
    removals = tuple(vanished[:MAX_REMOVALS_PER_TICK])
    removed = {key for key, _ in removals}
    pending = {k: v for k, v in plan.walk.cursor.pending.items() if k not in removed}

    ordered = [key for key in plan.partitions if key not in removed] + list(plan.new_keys)
    # Changed files, and new files whose key has history (a file moved away and back): their
    # partition looks materialized, so they are launched here rather than as missing.
    priority = {
        entry.partition_key: (entry.size_bytes, entry.mtime_ns) for entry in plan.walk.changed
    }
    restored: set[str] = set()
    for entry in plan.walk.ready:
        key = entry.partition_key
        if key in statuses and statuses[key] != in_progress:
            if statuses[key] == PartitionState.MATERIALIZED and key not in plan.unprocessed:
                restored.add(key)  # back from its tombstone, rows and all: nothing to redo
            else:
                priority[key] = (entry.size_bytes, entry.mtime_ns)
    missing = [
        key
        for key in ordered
        if key in known
        and key not in statuses
        and key not in priority
        and key not in restored
        and plan.may_catch_up(key)
    ]
    failed = sum(status == PartitionState.FAILED for status in statuses.values())
    runs = [
        RunBatch(tuple(batch), _state(batch, priority))
        for batch in contiguous_batches(ordered, priority, batch_size)
    ]
    slots = MAX_RUNS_IN_FLIGHT - in_flight
    orphans: list[str] = []
    if slots > 0 and missing:
        # Only the head of the backlog is looked up: the rest waits for free slots anyway.
        head = missing[: 2 * slots * batch_size]
        inventory = inventory_of(head)
        orphans = [key for key in head if key not in inventory]
        runs += [
            RunBatch(tuple(batch), _state(batch, inventory))
            for batch in contiguous_batches(ordered, inventory.keys(), batch_size)[:slots]
        ]
    warnings = hold_warnings
    if orphans:
        warnings.append(
            f"{len(orphans)} partitions have no catalog row and cannot be processed (added by "
            f"hand, or their file's root is no longer configured), e.g. {orphans[0]!r}"
        )
    if failed:
        warnings.append(
            f"{failed} partitions show failed. A run whose process died is retried "
            "automatically (run retries); a file's own failure is not: retry those from the "
            "asset page (Materialize > 'Backfill only failed and missing partitions within "
            "selection'), which re-runs just those files"
        )
    walk_cursor = plan.walk.cursor
    return SyncPlan(
        removals=removals,
        removals_left=len(vanished) - len(removals),
        runs=tuple(runs),
        never_processed=len(missing),
        failed=failed,
        in_flight=in_flight,
        cursor=ScanCursor(
            root=walk_cursor.root,
            after=walk_cursor.after,
            passes=walk_cursor.passes,
            pending=pending,
            offline=walk_cursor.offline,
            partitions=len(ordered),
        ),
        warnings=tuple(warnings),
        mark_gone=mark_gone,
        hold=tuple(hold),
        held=held_before + len(hold),
    )


def _state(batch: Sequence[str], states: Mapping[str, FileState]) -> str:
    return ";".join(f"{states[key][0]}:{states[key][1]}" for key in batch)


def remove_images(
    store: CatalogStore,
    removals: Sequence[tuple[str, str]],
    removed_at: datetime,
    thumbnails: ThumbnailStore,
) -> list[str]:
    """Remove files from the library: their rows become tombstones (kept, with their matches
    and thumbnail, for a return), and the gallery's annotated and grid copies of them go (made
    again from the thumbnail if the file returns). The caller deletes their partitions before,
    so that an interrupted removal is found again (copies an interruption leaves behind go with
    the next purge). Returns the partition keys removed."""
    keys = [key for key, _ in removals]
    image_ids = store.live_image_ids_of(keys)
    store.tombstone_images(keys, removed_at)
    if image_ids:
        thumbnails.remove_derived(image_ids)
    return keys


@dataclass(frozen=True)
class Confirmation:
    """What a confirmation of held removals finds."""

    remove: tuple[tuple[str, str], ...]  # (partition key, path) of files still gone
    back: tuple[str, ...]  # keys of held files that came back (their hold is lifted)


def held_removals_to_confirm(
    store: CatalogStore,
    folder: str | None,
    exists: Callable[[str], bool] = os.path.lexists,
) -> Confirmation:
    """The removals a user confirms for ``folder`` (a root or a folder under one; None: all):
    the held ones whose file is still gone and, for a folder named explicitly, also every
    cataloged file under it that is gone now (how the files of a folder deleted on purpose,
    which the sensor keeps as offline, are removed). Held files that came back are kept."""
    held = store.held_removals(folder)
    candidates = dict(held)
    if folder:
        candidates.update((row.partition_key, row.path) for row in store.images_under(folder))
    remove = tuple((key, path) for key, path in sorted(candidates.items()) if not exists(path))
    back = tuple(key for key, path in held if exists(path))
    return Confirmation(remove, back)


def purge_tombstones(
    store: CatalogStore, thumbnails: ThumbnailStore, now: datetime, keep_days: int
) -> list[str]:
    """Delete the tombstones older than ``keep_days`` and their thumbnails (a thumbnail a
    live image took over stays), and every annotated or grid copy whose image is no longer in the
    library (removed, purged, or taken over by a returning file under a new id). Returns the
    purged paths."""
    purged = store.purge_tombstones(now - timedelta(days=keep_days))
    for _, path, thumbnail in purged:
        if thumbnail is not None:
            thumbnails.remove_thumbnails(path, thumbnail)
    thumbnails.remove_derived(thumbnails.derived_ids() - store.live_image_ids())
    return [path for _, path, _ in purged]
