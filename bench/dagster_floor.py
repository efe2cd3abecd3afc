"""Dagster's floor: what the orchestration costs per partition when the assets do nothing.

Same shape as ``index_images`` in bench/orchestration_bench.py: three chained assets on a
DynamicPartitionsDefinition with ``BackfillPolicy.multi_run(100)``, computed by one step that
loops over ``context.partition_keys`` and yields one materialization with a small metadata dict
per partition and asset, the way defs/assets.py does, the in-process executor, one
``execute_in_process`` per batch of 100 consecutive partitions with the new-file sensor's range
tags, on two Dagster instances in turn:

- the embedded instance: SQLite under a temporary ``DAGSTER_HOME``, with the project's storage
  (dagster.yaml: Dagster's SQLite storages with their connections kept open,
  astrocat_pipeline/defs/sqlite_storage.py), then with Dagster's default SQLite storage (a
  connection per operation); ``--sqlite-only kept|dagster`` runs one;
- PostgreSQL, on a scratch database of the server at ``$ASTROCAT_BENCH_POSTGRES_URL`` (default
  the local one), in deploy/production.env's environment (event batching), twice: with
  deploy/dagster.postgres.yaml's storage (dagster-postgres's storages with pooled connections,
  astrocat_pipeline/defs/instance_storage.py), then with dagster-postgres's plain
  ``storage: postgres`` (a new connection per query). ``--no-postgres`` skips both,
  ``--pg-only production|plain`` runs one.

Whatever this costs per partition, the real pipeline pays too, on top of its own work. Issue 7's
goal (orchestrated / plain <= 1.3) needs Dagster's cost per file at most 0.3 x the plain work.

Options: ``--no-sqlite``; ``--pg-set NAME=VALUE`` sets a PostgreSQL setting on the scratch
database (diagnosis, e.g. synchronous_commit=off); ``--profile DIR`` writes a cProfile of each
instance's runs (``DIR/floor_<name>.prof``);
``--tmp DIR`` puts the SQLite ``DAGSTER_HOME`` under DIR (e.g. /dev/shm, to see what fsync
costs); ``--plain-ms N`` the plain loop's time per frame to compare with (default 14).

Run from the project root:
``.venv/bin/python -m bench.dagster_floor [PARTITIONS] [--no-postgres] [--profile DIR]``.
"""

import cProfile
import os
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
import yaml
from sqlalchemy.engine import make_url

from astrocat_pipeline.defs.sqlite_storage import storage_yaml
from bench.orchestration_bench import production_environment, production_storage
from bench.scratch_postgres import POSTGRES_URL_DEFAULT, POSTGRES_URL_ENV, scratch_database

PARTITIONS = 1000
PER_RUN = 100
PLAIN_MS_DEFAULT = 14.0  # plain loop per frame, bench/orchestration_bench.py (bench/README.md)
GOAL_RATIO = 1.3
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
SENSOR_NAME_TAG = "dagster/sensor_name"

floor_partitions = dg.DynamicPartitionsDefinition(name="floor_images")
floor_policy = dg.BackfillPolicy.multi_run(max_partitions_per_run=PER_RUN)


FLOOR_KEYS = [
    dg.AssetKey("floor_file"),
    dg.AssetKey("floor_metadata"),
    dg.AssetKey("floor_thumbnail"),
]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            key,
            partitions_def=floor_partitions,
            deps=FLOOR_KEYS[:index][-1:],
            skippable=True,
        )
        for index, key in enumerate(FLOOR_KEYS)
    ],
    partitions_def=floor_partitions,
    backfill_policy=floor_policy,
    can_subset=True,
)
def floor_chain(context: dg.AssetExecutionContext):
    """No work: per partition and asset, one materialization with the small metadata dict
    defs/assets.py yields."""
    selected = context.selected_asset_keys
    for key in context.partition_keys:
        for asset_key in FLOOR_KEYS:
            if asset_key not in selected:
                continue
            metadata = {
                "status": dg.MetadataValue.text("ok"),
                "path": dg.MetadataValue.path(key),
                "width": 512,
                "height": 512,
            }
            yield dg.AssetMaterialization(asset_key=asset_key, partition=key, metadata=metadata)


FLOOR_ASSETS = [floor_chain]
floor_job = dg.define_asset_job(
    name="floor_job",
    selection=dg.AssetSelection.assets(*FLOOR_ASSETS),
    executor_def=dg.in_process_executor,
)
defs = dg.Definitions(assets=FLOOR_ASSETS, jobs=[floor_job])


class StorageClock:
    """Wall time spent in the event log storage's writes, by event type (diagnosis only: wraps
    the storage object's own ``store_event`` / ``store_event_batch``, nothing else changes)."""

    def __init__(self, instance: dg.DagsterInstance) -> None:
        self.seconds: dict[str, float] = {}
        self.planned_s = 0.0
        storage = instance.event_log_storage
        store_event, store_event_batch = storage.store_event, storage.store_event_batch

        depth = [0]

        def timed(fn, events):
            depth[0] += 1
            begin = time.perf_counter()
            try:
                return fn()
            finally:
                depth[0] -= 1
                # a batch's fallback to single writes is counted in the batch
                if not depth[0]:
                    kind = events[0].dagster_event_type.value if events[0].dagster_event else "log"
                    if len(events) > 1:
                        kind += " (batched)"
                    spent = time.perf_counter() - begin
                    self.seconds[kind] = self.seconds.get(kind, 0.0) + spent

        storage.store_event = lambda event: timed(lambda: store_event(event), [event])
        storage.store_event_batch = lambda events: timed(
            lambda: store_event_batch(events), list(events)
        )
        from dagster._core.instance.runs.run_domain import RunDomain

        log_planned = RunDomain._log_asset_planned_events
        clock = self

        def planned(domain, *args, **kwargs):
            begin = time.perf_counter()
            try:
                return log_planned(domain, *args, **kwargs)
            finally:
                clock.planned_s += time.perf_counter() - begin

        RunDomain._log_asset_planned_events = planned  # type: ignore[method-assign]
        self._restore = lambda: setattr(RunDomain, "_log_asset_planned_events", log_planned)

    def close(self) -> None:
        self._restore()


def run_floor(
    instance: dg.DagsterInstance, keys: list[str], profile_path: Path | None
) -> dict[str, float]:
    """Every batch of PER_RUN partitions through ``floor_job``; timings and event counts."""
    instance.add_dynamic_partitions(floor_partitions.name, keys)
    clock = StorageClock(instance)
    job = defs.resolve_job_def("floor_job")
    batches = [keys[i : i + PER_RUN] for i in range(0, len(keys), PER_RUN)]
    run_ids = []
    profiler = cProfile.Profile() if profile_path else None
    begin, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    for batch in batches:
        result = job.execute_in_process(
            instance=instance,
            run_config=QUIET,
            tags={
                RANGE_START_TAG: batch[0],
                RANGE_END_TAG: batch[-1],
                SENSOR_NAME_TAG: "new_image_files",
            },
        )
        if not result.success:
            raise RuntimeError(f"run {result.run_id} failed")
        run_ids.append(result.run_id)
    if profiler:
        profiler.disable()
        profiler.dump_stats(str(profile_path))
    seconds, cpu = time.perf_counter() - begin, time.process_time() - cpu
    clock.close()
    for key in FLOOR_KEYS:
        done = instance.get_materialized_partitions(key)
        assert done == set(keys), f"{key}: {len(done)} of {len(keys)} materialized"
    counts: dict[str, int] = {}
    for run_id in run_ids:
        for record in instance.all_logs(run_id):
            name = record.dagster_event.event_type_value if record.dagster_event else "log"
            counts[name] = counts.get(name, 0) + 1
    return {
        "seconds": seconds,
        "cpu_s": cpu,
        "runs": len(batches),
        "planned_s": clock.planned_s,
        **{f"store_s:{k}": v for k, v in clock.seconds.items()},
        **counts,
    }


def main(argv: list[str]) -> int:
    args = argv[1:]

    def option(name: str) -> str | None:
        if name in args:
            value = args[args.index(name) + 1]
            del args[args.index(name) : args.index(name) + 2]
            return value
        return None

    profile_dir = option("--profile")
    # diagnosis: PostgreSQL settings of the scratch Dagster database (ALTER DATABASE ... SET),
    # e.g. --pg-set synchronous_commit=off
    pg_settings = [option("--pg-set") for _ in range(args.count("--pg-set"))]
    with_sqlite = "--no-sqlite" not in args
    sqlite_only = option("--sqlite-only")
    tmp_parent = option("--tmp")
    plain_ms = float(option("--plain-ms") or PLAIN_MS_DEFAULT)
    with_postgres = "--no-postgres" not in args
    only = option("--pg-only")
    positional = [arg for arg in args if not arg.startswith("--")]
    partitions = int(positional[0]) if positional else PARTITIONS
    keys = [f"lib0:M31/Ha/frame_{i:06d}.fits" for i in range(partitions)]

    results: list[tuple[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory(prefix="dagster_floor_", dir=tmp_parent) as tmp_text:
        tmp = Path(tmp_text)
        # SQLite: the project's storage (dagster.yaml: connections kept, defs/sqlite_storage.py),
        # then Dagster's own (a connection per operation); --sqlite-only kept|dagster runs one.
        sqlite_variants = [
            ("kept", "SQLite, dagster.yaml (kept connections)"),
            ("dagster", "SQLite, Dagster's default storage"),
        ]
        for variant, label in sqlite_variants if with_sqlite else []:
            if sqlite_only and variant != sqlite_only:
                continue
            home = tmp / f"sqlite_{variant}"
            home.mkdir()
            overrides: dict = {"telemetry": {"enabled": False}}
            if variant == "kept":
                overrides["storage"] = yaml.safe_load(storage_yaml(str(home)))["storage"]
            instance = dg.DagsterInstance.local_temp(tempdir=str(home), overrides=overrides)
            profile = Path(profile_dir) / f"floor_sqlite_{variant}.prof" if profile_dir else None
            name = f"{label} ({tmp_parent or 'default tmp'})"
            results.append((name, run_floor(instance, keys, profile)))
            instance.dispose()
            print(f"{name}: {results[-1][1]['seconds']:.1f} s", flush=True)

        # PostgreSQL: deploy/dagster.postgres.yaml's storage (pooled connections), then
        # dagster-postgres's plain `storage: postgres` (a connection per query), one after the
        # other in this process; --pg-only NAME runs one of them ("production" or "plain").
        variants = [
            ("PostgreSQL, deploy yaml (pooled)", "production"),
            ("PostgreSQL, plain storage: postgres", "plain"),
        ]
        for name, variant in variants if with_postgres else []:
            if only and variant != only:
                continue
            admin_url = os.environ.get(POSTGRES_URL_ENV, POSTGRES_URL_DEFAULT)
            with scratch_database(admin_url, "astrocat_dagster_floor") as url:
                if pg_settings:
                    import sqlalchemy as sa

                    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
                    database = sa.engine.make_url(url).database
                    with engine.connect() as conn:
                        for setting in pg_settings:
                            key, value = setting.split("=", 1)
                            conn.exec_driver_sql(f'ALTER DATABASE "{database}" SET {key} = {value}')
                    engine.dispose()
                    name += " " + ",".join(pg_settings)
                (tmp / variant).mkdir()
                storage = (
                    production_storage()
                    if variant == "production"
                    else {
                        "storage": {"postgres": {"postgres_url": {"env": "DAGSTER_POSTGRES_URL"}}}
                    }
                )
                # dagster-postgres's own storage needs psycopg2 named in the URL (SQLAlchemy
                # 2.1 picks psycopg 3 for a plain postgresql://, which its event batches break).
                psycopg2_url = make_url(url).set(drivername="postgresql+psycopg2")
                production = {
                    **production_environment(),
                    "DAGSTER_POSTGRES_URL": psycopg2_url.render_as_string(hide_password=False),
                }
                os.environ.update(production)
                try:
                    instance = dg.DagsterInstance.local_temp(
                        tempdir=str(tmp / variant),
                        overrides={"telemetry": {"enabled": False}, **storage},
                    )
                    profile = Path(profile_dir) / f"floor_{variant}.prof" if profile_dir else None
                    results.append((name, run_floor(instance, keys, profile)))
                    instance.dispose()
                finally:
                    for key in production:
                        os.environ.pop(key, None)
                print(f"{name}: {results[-1][1]['seconds']:.1f} s", flush=True)

    budget_ms = (GOAL_RATIO - 1) * plain_ms
    print()
    print(
        f"partitions {partitions}, {max(1, partitions // PER_RUN)} runs of {PER_RUN}, "
        f"3 assets doing nothing; load average {Path('/proc/loadavg').read_text().strip()}"
    )
    print(
        f"{'instance':<48} {'ms/partition':>12} {'CPU ms':>7} {'events/partition':>17} "
        f"{'x plain':>8}"
    )
    print("-" * 96)
    verdicts = []
    for name, res in results:
        per_ms = 1000 * res["seconds"] / partitions
        cpu_ms = 1000 * res["cpu_s"] / partitions
        events = sum(v for k, v in res.items() if k.isupper())
        print(
            f"{name:<48} {per_ms:>12.1f} {cpu_ms:>7.1f} {events / partitions:>17.2f} "
            f"{per_ms / plain_ms:>8.2f}"
        )
        verdicts.append((name, per_ms))
    print()
    print("events per partition by type:")
    for name, res in results:
        detail = ", ".join(
            f"{k} {v / partitions:.2f}"
            for k, v in sorted(res.items(), key=lambda kv: -kv[1])
            if k.isupper()
        )
        print(f"  {name}: {detail}")
    print()
    print(
        "where the time goes, ms per partition (wall clock, storage writes timed around the "
        "storage calls):"
    )
    for name, res in results:
        total = 1000 * res["seconds"] / partitions
        planned = 1000 * res["planned_s"] / partitions
        store = {k[8:]: 1000 * v / partitions for k, v in res.items() if k.startswith("store_s:")}
        stored = sum(store.values())
        print(
            f"  {name}: total {total:.1f}; run creation's planned events {planned:.1f}; "
            f"all storage writes {stored:.1f}; everything else {total - stored:.1f}"
        )
        for kind, ms in sorted(store.items(), key=lambda kv: -kv[1])[:5]:
            print(f"      store {kind:<45} {ms:6.1f}")
    print()
    print(
        f"budget for a ratio of {GOAL_RATIO} at {plain_ms:.0f} ms/frame plain work: "
        f"{budget_ms:.1f} ms per file"
    )
    for name, per_ms in verdicts:
        if per_ms > budget_ms:
            print(
                f"  {name}: floor {per_ms:.1f} ms > {budget_ms:.1f} ms: the goal cannot be met "
                f"with one partition per file (best possible ratio {1 + per_ms / plain_ms:.2f})"
            )
        else:
            print(f"  {name}: floor {per_ms:.1f} ms <= {budget_ms:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
