"""The five per-file assets (docs/architecture.md), computed by one step over a batch of
partitions: for each file, each selected asset in the graph's order.

Why one step (docs/orchestration.md, "Failed files"): Dagster marks a partition failed only when
a failed run planned it and did not materialize it. So the step yields one materialization per
file and asset whose work gave a result (negative results included: a calibration frame not
solved, a frame without a solution), yields nothing for a file whose work failed there or
upstream, and fails the run at the end naming those files. The good files of the batch and all
their downstream assets are done; the failed ones show "Failed" in the UI, per asset and
partition, and the asset page's "failed and missing" backfill re-runs just them. Any exception
from one file's work is that file's error (``steps.run_file_step``); only shared infrastructure
that stays unavailable (the catalog database, the thumbnail cache) fails the step as a whole.

Asset checks (cataloging/checks.py) are evaluated per file, for the assets the step materialized
for that file, right after its materializations: partitioned check specs and one
``AssetCheckEvaluation`` per file and check, linked to its materialization (docs/orchestration.md,
"Asset checks").
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dagster as dg

from astrocat_pipeline.cataloging import batch, checks, steps
from astrocat_pipeline.core.links import gallery_frame_url
from astrocat_pipeline.defs import dagster_internals
from astrocat_pipeline.defs.partitions import batch_policy, images_partitions
from astrocat_pipeline.defs.resources import AstrocatResource

SOLVER_POOL = "plate_solver"
GROUP_NAME = "images"
# The failures a failed step's description lists; the rest are counted (all are in its
# metadata and in the run's log).
FAILURES_IN_DESCRIPTION = 10
# A batch's check evaluations are linked to their materializations with one lookup per asset
# for this many files at a time, instead of one per check and file.
FILES_PER_CHECK_LOOKUP = 20

IMAGE_FILE = dg.AssetKey("image_file")
IMAGE_METADATA = dg.AssetKey("image_metadata")
IMAGE_THUMBNAIL = dg.AssetKey("image_thumbnail")
PLATE_SOLUTION = dg.AssetKey("plate_solution")
CATALOG_MATCHES = dg.AssetKey("catalog_matches")


def _spec(key: dg.AssetKey, description: str, deps: list[dg.AssetKey]) -> dg.AssetSpec:
    # skippable: a file whose work failed is left unmaterialized (and so shows failed).
    return dg.AssetSpec(
        key,
        description=description,
        deps=deps,
        group_name=GROUP_NAME,
        kinds={"python"},
        partitions_def=images_partitions,
        skippable=True,
    )


# In the order the step computes them (each after what it depends on).
IMAGE_SPECS = [
    _spec(
        IMAGE_FILE,
        "Inventory record of one image file: path, size, mtime, format and content fingerprint.",
        [],
    ),
    _spec(
        IMAGE_METADATA,
        "Normalized metadata (camera, exposure, filter, target, pointing ...) and the raw header.",
        [IMAGE_FILE],
    ),
    _spec(
        IMAGE_THUMBNAIL,
        "Auto-stretched JPEG preview (PixInsight AutoSTF) in the thumbnail cache.",
        [IMAGE_METADATA],
    ),
    _spec(
        PLATE_SOLUTION,
        "Where the frame points: its WCS and field geometry, or why it could not be solved.",
        [IMAGE_METADATA],
    ),
    _spec(
        CATALOG_MATCHES,
        "NGC/IC/Messier objects inside the solved field, with their pixel positions.",
        [PLATE_SOLUTION],
    ),
]

_CHECK_DESCRIPTIONS = {
    checks.THUMBNAIL_NOT_BLANK: "The thumbnail is in the cache and is not blank.",
    checks.METADATA_COMPLETE: (
        "The metadata has what its frame type needs: frame type, exposure, date; for a light "
        "also a pointing or an object name."
    ),
    checks.SOLUTION_MATCHES_HINTS: (
        "A solved frame's scale and centre agree with its header's hints; otherwise it is a "
        "possible false solution."
    ),
    checks.MATCHES_INSIDE_FIELD: "Every catalog match lies inside the solved field.",
}
CHECK_SPECS = [
    dg.AssetCheckSpec(
        name,
        asset=dg.AssetKey(checks.CHECKED_ASSET[name]),
        description=description,
        # Partitioned checks are a preview feature in 1.13 (its warning is filtered in
        # pyproject.toml): one result per file, as the UI shows per partition.
        partitions_def=images_partitions,
    )
    for name, description in _CHECK_DESCRIPTIONS.items()
]


def outcome_metadata(
    outcome: steps.StepOutcome, links: dict[str, dg.MetadataValue] | None = None
) -> dict[str, dg.MetadataValue]:
    """One file's materialization metadata, in the order the UI lists it: the preview first,
    then the status and short values, then ``links``, long JSON (stretch, attempts, hints,
    objects) last."""
    preview: dict[str, dg.MetadataValue] = {}
    short: dict[str, dg.MetadataValue] = {"status": dg.MetadataValue.text(outcome.status)}
    long: dict[str, dg.MetadataValue] = {}
    if outcome.message:
        short["message"] = dg.MetadataValue.text(outcome.message)
    for name, value in outcome.metadata.items():
        if name == "error" and value == outcome.message:
            continue  # already the message
        if name == "preview_markdown":
            preview["preview"] = dg.MetadataValue.md(value)
        elif name.endswith("_path") or name == "path":
            short[name] = dg.MetadataValue.path(str(value))
        elif isinstance(value, dict | list):
            long[name] = dg.MetadataValue.json(value)
        elif isinstance(value, bool | int | float | str):
            short[name] = value  # type: ignore[assignment]
        else:
            short[name] = dg.MetadataValue.text(str(value))
    return {**preview, **short, **(links or {}), **long}


@dataclass(frozen=True)
class FileFailure:
    """One file's work that failed at one asset in this run."""

    partition_key: str
    asset: str
    reason: str

    def line(self) -> str:
        return f"{self.partition_key}: {self.asset}: {self.reason}"


RETRY_HINT = (
    "the other files are done; retry the failed ones from the asset graph: select the images "
    "assets, Materialize, 'Backfill only failed and missing partitions within selection'"
)

INFRASTRUCTURE_HINT = (
    "what this run finished stays done, the files it had not reached show failed; once the "
    "catalog database or the thumbnail cache is back, re-execute the run or backfill the "
    "failed and missing partitions"
)


def failures_failure(
    failures: list[FileFailure], files: int, retry_hint: str = RETRY_HINT
) -> dg.Failure:
    """The step's failure naming the failed files, each with its asset and reason."""
    failed_files = sorted({failure.partition_key for failure in failures})
    shown = [failure.line() for failure in failures[:FAILURES_IN_DESCRIPTION]]
    more = len(failures) - len(shown)
    description = (
        f"{len(failed_files)} of {files} files failed ({retry_hint}):\n"
        + "\n".join(shown)
        + (f"\n... and {more} more (metadata 'failures')" if more else "")
    )
    table = "| file | asset | reason |\n|---|---|---|\n" + "\n".join(
        f"| `{f.partition_key}` | {f.asset} | {f.reason.replace('|', '/')} |" for f in failures
    )
    return dg.Failure(
        description=description,
        metadata={
            "failed_files": len(failed_files),
            "failures": dg.MetadataValue.md(table),
        },
        allow_retries=False,  # the same files would fail again; the rest are done
    )


def _object_catalog(astrocat: AstrocatResource, selected: set[dg.AssetKey]) -> Any:
    """The object catalog, loaded only when a selected asset needs it."""
    needs_objects = selected & {IMAGE_METADATA, PLATE_SOLUTION, CATALOG_MATCHES}
    return astrocat.object_catalog() if needs_objects else None


def _step_functions(
    astrocat: AstrocatResource, selected: set[dg.AssetKey], catalog: Any
) -> dict[str, batch.StepFunction]:
    """The step of each selected asset, by asset name, with only the resources the selection
    needs; each takes the file's one-pass read (None: it reads the file itself)."""
    store = astrocat.store()
    functions: dict[str, batch.StepFunction] = {}
    if IMAGE_FILE in selected:
        functions["image_file"] = lambda key, read: steps.record_file(store, key, read)
    if IMAGE_METADATA in selected:
        functions["image_metadata"] = lambda key, read: steps.extract_metadata(
            store, key, catalog, read
        )
    if IMAGE_THUMBNAIL in selected:
        thumbnails = astrocat.thumbnails()
        functions["image_thumbnail"] = lambda key, read: steps.make_thumbnail(
            store, thumbnails, key, file_pass=read
        )
    if PLATE_SOLUTION in selected:
        solver = astrocat.plate_solver()
        checker = astrocat.solution_checker()
        functions["plate_solution"] = lambda key, read: steps.solve_plate(
            store, solver, key, catalog, file_pass=read, checker=checker
        )
    if CATALOG_MATCHES in selected:
        annotated = astrocat.thumbnails()
        functions["catalog_matches"] = lambda key, _read: steps.match_catalog(
            store, catalog, key, annotated
        )
    return functions


def _materialization(
    asset_key: dg.AssetKey, partition_key: str, outcome: steps.StepOutcome, gallery_url: str
) -> dg.AssetMaterialization:
    # The file's content fingerprint is image_file's data version, per partition, so a changed
    # file makes its downstream assets stale.
    tags = {"dagster/data_version": outcome.data_version} if outcome.data_version else None
    # One click from the partition to the picture: the file's page in the gallery.
    gallery: dict[str, dg.MetadataValue] = {
        "gallery": dg.MetadataValue.url(gallery_frame_url(gallery_url, partition_key))
    }
    return dg.AssetMaterialization(
        asset_key=asset_key,
        partition=partition_key,
        metadata=outcome_metadata(outcome, gallery),
        tags=tags,
    )


def _check_evaluations(
    context: dg.AssetExecutionContext, files: list[tuple[str, dict[str, checks.CheckVerdict]]]
) -> Iterator[dg.AssetCheckEvaluation]:
    """One evaluation per verdict of each ``(partition key, verdicts)``, linked to the
    materialization of its asset and file that this run wrote (which is what makes it the
    check's current result for that file). The materializations are looked up with one query
    per asset for all of ``files`` (a query per check and file cost Dagster ~10 ms each)."""
    targets: dict[tuple[str, str], Any] = {}
    for asset_name in {checks.CHECKED_ASSET[name] for _, verdicts in files for name in verdicts}:
        keys = [
            key
            for key, verdicts in files
            if any(checks.CHECKED_ASSET[name] == asset_name for name in verdicts)
        ]
        # Newest first: this run's materialization of each key comes before any older one.
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset_name), asset_partitions=keys),
            limit=2 * len(keys),
        ).records
        for record in records:
            key = record.partition_key
            if key is not None and record.event_log_entry.run_id == context.run.run_id:
                targets.setdefault((asset_name, key), record)
    for partition_key, verdicts in files:
        for name, verdict in verdicts.items():
            asset_name = checks.CHECKED_ASSET[name]
            record = targets.get((asset_name, partition_key))
            target = None
            if record is not None:
                target = dagster_internals.check_target_materialization(record)
            else:  # never expected: the materialization was yielded (and written) before
                context.log.warning(f"{partition_key}: {name}: its materialization is not stored")
            yield dg.AssetCheckEvaluation(
                asset_key=dg.AssetKey(asset_name),
                check_name=name,
                passed=verdict.passed,
                severity=dg.AssetCheckSeverity(verdict.severity.value),
                description=verdict.description,
                metadata=dict(verdict.metadata),
                partition=partition_key,
                target_materialization_data=target,
            )


def _file_events(
    context: dg.AssetExecutionContext,
    work: batch.FileWork,
    counts: dict[str, dict[str, int]],
    pending_checks: list[tuple[str, dict[str, checks.CheckVerdict]]],
    gallery_url: str,
) -> Iterator[dg.AssetMaterialization | dg.AssetCheckEvaluation]:
    """One file's work as Dagster events: its log lines, a materialization per step that gave
    a result; its check verdicts wait in ``pending_checks`` and are evaluated every
    ``FILES_PER_CHECK_LOOKUP`` files (and at the end)."""
    for line in work.log:
        context.log.log(line.level, line.message)
    for name, outcome in work.outcomes:
        counts[name][outcome.status] = counts[name].get(outcome.status, 0) + 1
        if not outcome.failed:
            yield _materialization(dg.AssetKey(name), work.key, outcome, gallery_url)
    if work.verdicts:
        pending_checks.append((work.key, work.verdicts))
    if len(pending_checks) >= FILES_PER_CHECK_LOOKUP:
        yield from _check_evaluations(context, pending_checks)
        pending_checks.clear()


@dg.multi_asset(
    name="image_assets",
    specs=IMAGE_SPECS,
    check_specs=CHECK_SPECS,
    partitions_def=images_partitions,
    backfill_policy=batch_policy,
    can_subset=True,
    # The solver's pool covers the whole step: with the pool's limit at the run queue's limit
    # (dagster.yaml, deploy/dagster.postgres.yaml) it throttles nothing more than the queue.
    pool=SOLVER_POOL,
)
def image_assets(
    context: dg.AssetExecutionContext, astrocat: AstrocatResource
) -> Iterator[dg.AssetMaterialization | dg.AssetCheckEvaluation]:
    """Every selected per-file asset for every file of the run; one bad file never stops the
    rest, and fails only its own assets and those downstream of them."""
    selected = set(context.selected_asset_keys)
    store = astrocat.store()
    catalog = _object_catalog(astrocat, selected)
    gallery_url = astrocat.settings().gallery_url
    functions = _step_functions(astrocat, selected, catalog)
    # The selected checks, by the asset they are on: a file's check is evaluated only when this
    # step materialized that asset for it.
    checks_on: dict[str, list[str]] = {}
    for check_key in context.selected_asset_check_keys:
        checks_on.setdefault(check_key.asset_key.to_user_string(), []).append(check_key.name)
    counts: dict[str, dict[str, int]] = {name: {} for name in batch.STAGES if name in functions}
    failures: list[FileFailure] = []
    keys = context.partition_keys
    # The files are worked on in parallel threads (cataloging/batch.py); this thread turns each
    # file's results, in the batch's order, into Dagster events.
    pending_checks: list[tuple[str, dict[str, checks.CheckVerdict]]] = []
    try:
        for work in batch.run_batch(store, catalog, keys, functions, checks_on):
            yield from _file_events(context, work, counts, pending_checks, gallery_url)
            failures += [FileFailure(work.key, name, reason) for name, reason in work.failures]
    except batch.BatchStoppedError as exc:
        # What the files' steps finished stays done (run_batch gave it before it raised).
        if pending_checks:
            yield from _check_evaluations(context, pending_checks)
        raise dg.Failure(description=f"{exc}\n{INFRASTRUCTURE_HINT}", allow_retries=False) from exc
    if pending_checks:
        yield from _check_evaluations(context, pending_checks)
    for name, by_status in counts.items():
        context.log.info(f"{name}: {len(keys)} files {by_status}")
    if failures:
        raise failures_failure(failures, len(keys))


IMAGE_ASSETS = [image_assets]
