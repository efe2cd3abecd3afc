"""The indexing loop of ``astrocat index``: every file under the roots recorded, then the
per-file work in batches of consecutive partitions. Dagster stays outside: the caller adds the
partitions the plan names and runs each batch (``defs/indexing.py``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass

from astrocat_pipeline.adapters.catalog import CatalogStore
from astrocat_pipeline.core.inventory import contiguous_batches, scan_root


@dataclass(frozen=True)
class IndexPlan:
    """What one ``astrocat index`` will do."""

    files: int
    new_keys: tuple[str, ...]  # partitions to add, in this order, before the first batch
    batches: tuple[tuple[str, ...], ...]  # consecutive partitions, one run each
    offline_roots: tuple[str, ...]


@dataclass(frozen=True)
class IndexSummary:
    files: int
    new_partitions: int
    runs: int
    failed_runs: int
    offline_roots: tuple[str, ...]


def plan_index(
    roots: Sequence[str], store: CatalogStore, partitions: Sequence[str], batch_size: int
) -> IndexPlan:
    """Scan the roots, record every file in the catalog's inventory and plan the batches.

    ``partitions`` are the existing partitions in Dagster's order; new ones are appended in the
    plan's order, so the batches are ranges of the order the partitions will have.
    """
    scans = [scan_root(root) for root in roots]
    entries = {entry.partition_key: entry for scan in scans for entry in scan.entries}
    store.upsert_inventory(entries.values())
    existing = set(partitions)
    new_keys = tuple(key for key in entries if key not in existing)
    ordered = [*partitions, *new_keys]
    return IndexPlan(
        files=len(entries),
        new_keys=new_keys,
        batches=tuple(
            tuple(batch) for batch in contiguous_batches(ordered, set(entries), batch_size)
        ),
        offline_roots=tuple(scan.root for scan in scans if not scan.online),
    )


def run_index(
    plan: IndexPlan,
    run_batch: Callable[[Sequence[str]], bool],
    progress: Callable[[int, int], None] | None = None,
    runs_at_once: int = 1,
) -> IndexSummary:
    """Run every batch of ``plan`` through ``run_batch`` (True: the run succeeded),
    ``runs_at_once`` at a time, reporting files done out of the total after each."""
    done = failed = 0
    if progress:
        progress(0, plan.files)
    with (
        ThreadPoolExecutor(max_workers=runs_at_once) if runs_at_once > 1 else nullcontext() as pool
    ):
        # One at a time in this thread (a run in-process wants the main thread's signals).
        results = pool.map(run_batch, plan.batches) if pool else map(run_batch, plan.batches)
        for batch, succeeded in zip(plan.batches, results, strict=True):
            failed += 0 if succeeded else 1
            done += len(batch)
            if progress:
                progress(done, plan.files)
    return IndexSummary(
        files=plan.files,
        new_partitions=len(plan.new_keys),
        runs=len(plan.batches),
        failed_runs=failed,
        offline_roots=plan.offline_roots,
    )
