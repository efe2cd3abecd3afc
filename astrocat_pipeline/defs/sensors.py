"""The new-file sensor: keeps the ``images`` partitions in step with the library roots and
launches the work in batched runs.

One tick, bounded in time whatever the library size:

1. walks the roots from where the last tick stopped, for at most ``WALK_BUDGET_S`` seconds and
   ``WALK_MAX_FILES`` files (the position is in the cursor, so a big library on a slow NAS is
   covered over several ticks, a local one of 100,000 files in every tick);
2. compares what it saw with the previous look (the catalog's inventory, and the cursor for
   changes of processed files): a file is taken only when two looks agree on its size and mtime,
   so a file still being written waits;
3. adds the partitions of new files and removes those of vanished files (with their catalog rows
   and thumbnails) -- never under a root that is offline, unreadable or empty;
4. launches runs over batches of consecutive partitions: changed and re-added files, then
   partitions that were never materialized (new files, partitions added by hand, runs that were
   lost), keeping at most ``MAX_RUNS_IN_FLIGHT`` of its runs queued or running.

Partitions are added and deleted through the instance here rather than returned as
``dynamic_partitions_requests``: the daemon checks such requests key by key (~5 ms per key on
SQLite, ~30 ms on PostgreSQL, so 100,000 new files would take 8 to 50 minutes), while one
``add_dynamic_partitions`` call adds 100,000 keys in about 2 s. The tick log has the counts.
"""

import hashlib
import posixpath
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import dagster as dg

from astrocat_pipeline.adapters.catalog import CatalogStore
from astrocat_pipeline.adapters.thumbnail_store import ThumbnailStore
from astrocat_pipeline.core.inventory import (
    FileState,
    RootWalk,
    ScanCursor,
    compare_looks,
    contiguous_batches,
    root_label,
    vanished_files,
    walk_root,
)
from astrocat_pipeline.core.records import InventoryEntry
from astrocat_pipeline.defs.jobs import index_images_job
from astrocat_pipeline.defs.partitions import (
    IMAGES_PARTITIONS_NAME,
    PARTITIONS_PER_RUN,
    images_partitions,
)
from astrocat_pipeline.defs.resources import AstrocatResource

SENSOR_NAME = "new_image_files"
SENSOR_INTERVAL_S = 30
# Dagster's tags for a run over a range of partitions (what single-run backfills use).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
# The tag the daemon puts on the runs a sensor launches.
SENSOR_NAME_TAG = "dagster/sensor_name"
# The first asset of the per-file graph: a partition without its materialization was never
# processed.
IMAGE_FILE_KEY = dg.AssetKey("image_file")

# --- tick budget (Dagster stops a sensor evaluation after 60 s) ------------------------------
# Walking: a local disk lists and stats 100,000 files in 1-4 s here (measured,
# bench/partitions_bench.py), a NAS over SMB or NFS can be 100x slower; the rest of the walk
# continues on the next tick.
WALK_BUDGET_S = 10.0
# Files examined per tick: bounds the memory and the comparison work of one tick (a walk of
# 250,000 local files takes ~5-8 s here).
WALK_MAX_FILES = 250_000
# New files recorded for a second look, and new partitions added, per tick: bounds the catalog
# writes and the partitions added in one tick (100,000 keys: ~2 s on SQLite, ~14 s on
# PostgreSQL); it is also Dagster's recommended maximum number of partitions per asset. Files
# beyond it are taken on the next passes.
MAX_NEW_PER_TICK = 100_000
# Changes of processed files waiting for their second look, kept in the cursor (~100 bytes
# each). More changes than this at once are seen again on the next pass.
MAX_PENDING_CHANGES = 2_000
# Partition deletions cost ~5 ms each on SQLite, ~30 ms on PostgreSQL, one by one (Dagster has
# no bulk call): the rest of a mass deletion follows on the next passes.
MAX_REMOVALS_PER_TICK = 500
# Runs of this sensor queued or running at once. The daemon takes ~10 s to create one run at
# 100,000 partitions (bench/partitions_bench.py) and the queue runs two at a time here: more
# queued runs would only slow the daemon and make new files wait behind the whole backlog.
MAX_RUNS_IN_FLIGHT = 8

_IN_FLIGHT_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def batch_run_request(batch: Sequence[str], state: str) -> dg.RunRequest:
    """One run over a contiguous batch of partitions; the run key dedupes repeated requests
    for the same files in the same state."""
    run_key = hashlib.sha1(("\n".join(batch) + "\n" + state).encode()).hexdigest()
    return dg.RunRequest(
        run_key=run_key,
        tags={RANGE_START_TAG: batch[0], RANGE_END_TAG: batch[-1]},
    )


# --- one tick --------------------------------------------------------------------------------


@dataclass
class _Walked:
    """What the walk part of one tick found, over all the roots it visited."""

    files: int = 0
    record: list[InventoryEntry] = field(default_factory=list)
    ready: list[InventoryEntry] = field(default_factory=list)
    changed: list[InventoryEntry] = field(default_factory=list)
    vanished: list[tuple[str, str]] = field(default_factory=list)  # (key, path)
    offline: dict[str, str] = field(default_factory=dict)  # root -> why
    problems: list[str] = field(default_factory=list)
    cursor: ScanCursor = field(default_factory=ScanCursor)


def _walk_roots(
    roots: Sequence[str],
    cursor: ScanCursor,
    store: CatalogStore,
    partitions: set[str],
    deadline: float,
    clock: Callable[[], float],
) -> _Walked:
    found = _Walked()
    if cursor.root in roots:
        index, after = roots.index(cursor.root), cursor.after
    else:  # first tick, or the roots changed: start a new pass
        index, after = 0, None
    pending = dict(cursor.pending)
    offline = set(cursor.offline)
    passes = cursor.passes
    next_root: str | None = None
    next_after: str | None = None
    while True:
        root = roots[index]
        walk = walk_root(
            root, after, max_entries=WALK_MAX_FILES - found.files, deadline=deadline, clock=clock
        )
        recorded = store.recorded_files(root) if walk.online else {}
        if walk.online and walk.root_is_empty and recorded:
            walk = RootWalk(
                root,
                online=False,
                entries=(),
                problem=f"{root}: the folder is empty but {len(recorded)} images were cataloged "
                "under it (an unmounted disk?); they are kept",
            )
        if not walk.online:
            found.offline[root] = walk.problem or f"{root}: offline"
            offline.add(root)
        else:
            offline.discard(root)
            if walk.problem:
                found.problems.append(walk.problem)
            looks = compare_looks(
                walk.entries,
                {key: state for key, (_, state) in recorded.items()},
                partitions,
                pending,
                MAX_PENDING_CHANGES,
            )
            pending = dict(looks.pending)
            found.record += looks.record[: MAX_NEW_PER_TICK - len(found.record)]
            found.ready += looks.ready[: MAX_NEW_PER_TICK - len(found.ready)]
            found.changed += looks.changed
            gone = vanished_files({key: rel for key, (rel, _) in recorded.items()}, walk)
            found.vanished += [(key, posixpath.join(root, recorded[key][0])) for key in gone]
            found.files += len(walk.entries)
        if not walk.finished:  # the budget ran out inside this root
            next_root, next_after = root, walk.stopped_after
            break
        index, after = index + 1, None
        if index == len(roots):  # a whole pass is done; the next one starts next tick
            passes += 1
            break
        if found.files >= WALK_MAX_FILES or clock() >= deadline:
            next_root = roots[index]
            break
    found.cursor = ScanCursor(
        root=next_root,
        after=next_after,
        passes=passes,
        pending=pending,
        offline=tuple(sorted(offline & set(roots))),
    )
    return found


def _remove(
    instance: dg.DagsterInstance,
    store: CatalogStore,
    thumbnails: ThumbnailStore,
    vanished: Sequence[tuple[str, str]],
    partitions: set[str],
) -> list[str]:
    """Remove vanished files: partition first, then thumbnail, then the catalog row (which is
    how a vanished file is found again if this is interrupted)."""
    removed: list[str] = []
    for key, path in vanished:
        if key in partitions:
            instance.delete_dynamic_partition(IMAGES_PARTITIONS_NAME, key)
        row = store.get_image(key)
        thumbnails.remove_thumbnails(path, row.thumbnail_path if row else None)
        removed.append(key)
    store.delete_images(removed)
    return removed


def _batches(
    store: CatalogStore,
    ordered: Sequence[str],
    priority: dict[str, FileState],
    missing: Sequence[str],
    slots: int,
) -> tuple[list[tuple[list[str], str]], list[str]]:
    """The batches to launch, each with its files' state: every batch of ``priority`` keys
    (changed or re-added files, whose state is given), then up to ``slots`` batches of
    ``missing`` keys. Also returns the missing keys that have no catalog row (they cannot be
    processed)."""
    batches = [
        (batch, _state(batch, priority))
        for batch in contiguous_batches(ordered, priority, PARTITIONS_PER_RUN)
    ]
    if slots <= 0 or not missing:
        return batches, []
    # Only the head of the backlog is looked up: the rest waits for free slots anyway.
    head = list(missing[: 2 * slots * PARTITIONS_PER_RUN])
    known = store.inventory_by_key(head)
    orphans = [key for key in head if key not in known]
    batches += [
        (batch, _state(batch, known))
        for batch in contiguous_batches(ordered, known.keys(), PARTITIONS_PER_RUN)[:slots]
    ]
    return batches, orphans


def _state(batch: Sequence[str], states: dict[str, FileState]) -> str:
    return ";".join(f"{states[key][0]}:{states[key][1]}" for key in batch)


def evaluate_library(
    instance: dg.DagsterInstance,
    astrocat: AstrocatResource,
    cursor_text: str | None,
    log: Callable[[str], None],
    warn: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
) -> dg.SensorResult:
    """One tick of the sensor (see the module docstring)."""
    started = clock()
    settings = astrocat.settings()
    store, thumbnails = astrocat.store(), astrocat.thumbnails()
    cursor = ScanCursor.from_json(cursor_text)
    partitions = list(instance.get_dynamic_partitions(IMAGES_PARTITIONS_NAME))
    partition_set = set(partitions)

    walked = _walk_roots(
        settings.library_roots,
        cursor,
        store,
        partition_set,
        deadline=started + WALK_BUDGET_S,
        clock=clock,
    )
    unprocessed = store.unprocessed_keys()
    for why in walked.offline.values():
        warn(f"library root offline, its images are kept: {why}")
    for problem in walked.problems:
        warn(f"some files could not be read (nothing under them is removed): {problem}")

    store.upsert_inventory([*walked.record, *walked.changed])
    new_keys = [entry.partition_key for entry in walked.ready]
    if new_keys:
        instance.add_dynamic_partitions(IMAGES_PARTITIONS_NAME, new_keys)
    pending = walked.cursor.pending
    # Files of an offline root wait for it: a run over them would only record them unreadable.
    offline_prefixes = tuple(f"{root_label(root)}/" for root in walked.cursor.offline)

    def may_catch_up(key: str) -> bool:
        return key not in pending and not key.startswith(offline_prefixes)

    # Dagster's view of the partitions (~1.5 s at 100,000) only when something may need it:
    # new or vanished files, files the catalog says were never processed, or partitions added
    # or deleted by hand since the last tick. A steady tick skips it.
    candidates = [key for key in unprocessed if key in partition_set and may_catch_up(key)]
    statuses: dict[str, dg.AssetPartitionStatus | None] = {}
    if new_keys or walked.vanished or candidates or len(partitions) != cursor.partitions:
        statuses = dict(
            instance.get_status_by_partition(
                IMAGE_FILE_KEY, [*partitions, *new_keys], images_partitions
            )
            or dict.fromkeys([*partitions, *new_keys])
        )
    in_progress = dg.AssetPartitionStatus.IN_PROGRESS
    # A file being processed right now is removed on a later pass, not under its run.
    vanished = [(k, path) for k, path in walked.vanished if statuses.get(k) != in_progress]
    removed = _remove(instance, store, thumbnails, vanished[:MAX_REMOVALS_PER_TICK], partition_set)
    removed_set = set(removed)
    pending = {k: v for k, v in pending.items() if k not in removed_set}

    ordered = [key for key in partitions if key not in removed_set] + new_keys
    # Changed files, and new files whose key has history (a file moved away and back): their
    # partition looks materialized, so they are launched here rather than as missing.
    priority = {entry.partition_key: (entry.size_bytes, entry.mtime_ns) for entry in walked.changed}
    for entry in walked.ready:
        if statuses.get(entry.partition_key) not in (None, in_progress):
            priority[entry.partition_key] = (entry.size_bytes, entry.mtime_ns)
    missing = [
        key
        for key in ordered
        if key in statuses and statuses[key] is None and key not in priority and may_catch_up(key)
    ]
    failed = sum(status == dg.AssetPartitionStatus.FAILED for status in statuses.values())
    in_flight = instance.get_runs_count(
        dg.RunsFilter(statuses=_IN_FLIGHT_STATUSES, tags={SENSOR_NAME_TAG: SENSOR_NAME})
    )
    batches, orphans = _batches(store, ordered, priority, missing, MAX_RUNS_IN_FLIGHT - in_flight)
    run_requests = [batch_run_request(batch, state) for batch, state in batches]
    if orphans:
        warn(
            f"{len(orphans)} partitions have no catalog row and cannot be processed (added by "
            f"hand, or their file's root is no longer configured), e.g. {orphans[0]!r}"
        )
    if failed:
        warn(
            f"{failed} partitions failed and are not retried automatically: retry them from the "
            "asset page (Materialize > 'Failed and missing' partitions) or re-execute the failed "
            "runs"
        )

    next_cursor = ScanCursor(
        root=walked.cursor.root,
        after=walked.cursor.after,
        passes=walked.cursor.passes,
        pending=pending,
        offline=walked.cursor.offline,
        partitions=len(ordered),
    )
    roots_online = len(settings.library_roots) - len(walked.offline)
    more_removals = len(vanished) - len(removed)
    summary = (
        f"looked at {walked.files} files under {roots_online}/{len(settings.library_roots)} "
        f"online roots (pass {next_cursor.passes}"
        + (f", continues at {next_cursor.after!r}" if next_cursor.after else "")
        + f"); {len(walked.record)} recorded for a second look, {len(new_keys)} new, "
        f"{len(walked.changed)} changed, {len(removed)} removed"
        + (f" ({more_removals} more next tick)" if more_removals else "")
        + f"; {len(missing)} never processed, {in_flight} runs in flight, "
        f"{len(run_requests)} runs launched ({sum(len(b) for b, _ in batches)} partitions) "
        f"in {clock() - started:.1f} s"
    )
    log(summary)
    if run_requests:
        return dg.SensorResult(run_requests=run_requests, cursor=next_cursor.to_json())
    return dg.SensorResult(skip_reason=summary, cursor=next_cursor.to_json())


@dg.sensor(
    name=SENSOR_NAME,
    job=index_images_job,
    minimum_interval_seconds=SENSOR_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Keeps one partition per image file under the library roots: adds new files "
    "once they stop changing, re-processes changed ones, removes deleted ones (never under an "
    "offline root) and processes the partitions in batches.",
)
def new_image_files(
    context: dg.SensorEvaluationContext, astrocat: AstrocatResource
) -> dg.SensorResult:
    return evaluate_library(
        context.instance, astrocat, context.cursor, context.log.info, context.log.warning
    )
