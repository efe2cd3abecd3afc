"""The ``astrocat`` command: a thin formatter over core, adapters and the pipeline steps.

Every command exits non-zero with a one-line message on bad input; ``--json`` prints one JSON
document on stdout. Dagster is imported only by ``index``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from astrocat_pipeline.core.errors import AstrocatError
from astrocat_pipeline.core.frame_types import FrameType

# Written to a new $DAGSTER_HOME by `astrocat index` (scripts/run copies the project's own).
# The dagster.yaml ``astrocat index`` writes for the instance it creates beside the catalog
# (when DAGSTER_HOME is not set), followed by the storage block of defs/sqlite_storage.py for
# that folder. A home it wrote before that block existed (exactly this text) is given it.
INSTANCE_YAML = "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 141  # what a shell reports for a process ended by SIGPIPE (128 + 13)


class CliError(Exception):
    """A one-line message for the user."""


def _print_json(document: Any) -> None:
    json.dump(document, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def _existing_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise CliError(f"{text}: no such file")
    return path


def cmd_demo_library(args: argparse.Namespace) -> int:
    from astrocat_pipeline.adapters.star_index import list_index_stars
    from astrocat_pipeline.demo.library import write_demo_library
    from astrocat_pipeline.settings import Settings

    index_dir = Settings.from_env().index_dir
    written = write_demo_library(
        Path(args.directory),
        lambda ra, dec, radius: list_index_stars(ra, dec, radius, index_dir),
    )
    if args.json:
        _print_json(
            {"directory": str(Path(args.directory).absolute()), "files": [str(p) for p in written]}
        )
    else:
        print(f"wrote {len(written)} frames to {args.directory}")
    return 0


def _progress_bar(done: int, total: int, out: TextIO) -> None:
    width = 30
    filled = width * done // total if total else width
    end = "\n" if done >= total else ""
    out.write(f"\rindexing [{'#' * filled}{'.' * (width - filled)}] {done}/{total}{end}")
    out.flush()


@contextlib.contextmanager
def _stderr_descriptor_to(log: Any) -> Iterator[None]:
    """Point file descriptor 2 at ``log`` meanwhile (``redirect_stderr`` moves Python's
    ``sys.stderr`` only; processes started meanwhile write to the descriptor)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        os.dup2(log.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def cmd_index(args: argparse.Namespace) -> int:
    from astrocat_pipeline.settings import Settings

    overrides = {}
    if args.roots:
        for root in args.roots:
            if not Path(root).is_dir():
                raise CliError(f"{root}: not a directory")
        overrides["ASTROCAT_LIBRARY_ROOTS"] = os.pathsep.join(
            str(Path(r).absolute()) for r in args.roots
        )
    if args.runs < 1:
        raise CliError(f"--runs {args.runs}: expected 1 or more")
    if args.batch_size is not None and args.batch_size < 1:
        raise CliError(f"--batch-size {args.batch_size}: expected 1 or more")
    settings = Settings.from_env(overrides=overrides)
    # The runs are recorded in a Dagster instance: $DAGSTER_HOME's, else the one beside the
    # catalog that scripts/run also uses, so the UI shows these runs later.
    dagster_home_text = os.environ.get("DAGSTER_HOME")
    if dagster_home_text:
        dagster_home = Path(dagster_home_text)
    else:
        dagster_home = settings.home / "dagster_home"
        dagster_home.mkdir(parents=True, exist_ok=True)
        instance_yaml = dagster_home / "dagster.yaml"
        if not instance_yaml.exists() or instance_yaml.read_text() == INSTANCE_YAML:
            from astrocat_pipeline.defs.sqlite_storage import storage_yaml

            instance_yaml.write_text(INSTANCE_YAML + storage_yaml(str(dagster_home)))
    # Dagster flags some APIs the pipeline uses as beta; that is for developers, not users.
    warnings.filterwarnings("ignore", message=r".*is currently in (beta|preview)")
    import dagster as dg

    from astrocat_pipeline import definitions
    from astrocat_pipeline.defs.indexing import index_library

    # Dagster's console log of the runs goes to a file; every event is also in the instance.
    log_path = settings.home / "index.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    terminal = sys.stderr
    show_progress = not args.json and terminal.isatty()
    on_celery = settings.celery_broker_url is not None
    if on_celery:  # descriptor 2 goes to the log below; the progress bar keeps the terminal
        terminal = os.fdopen(os.dup(sys.stderr.fileno()), "w", encoding="utf-8")

    def progress(done: int, total: int) -> None:
        _progress_bar(done, total, terminal)

    with (
        dg.DagsterInstance.from_config(str(dagster_home)) as instance,
        log_path.open("a", encoding="utf-8") as log,
        contextlib.redirect_stderr(log),
        # The runner processes of Celery runs log to descriptor 2.
        _stderr_descriptor_to(log) if on_celery else contextlib.nullcontext(),
    ):
        summary = index_library(
            settings,
            instance,
            definitions.defs.resolve_job_def("index_images"),
            progress=progress if show_progress else None,
            # With ASTROCAT_CELERY_BROKER_URL: the job the Celery workers load by its origin.
            celery_job=dg.reconstructable(definitions.index_images_celery),
            runs_at_once=args.runs,
            **({"batch_size": args.batch_size} if args.batch_size else {}),
        )
    document = {
        "files": summary.files,
        "new_partitions": summary.new_partitions,
        "runs": summary.runs,
        "failed_runs": summary.failed_runs,
        "offline_roots": list(summary.offline_roots),
        "dagster_home": str(dagster_home),
        "log": str(log_path),
    }
    if args.json:
        _print_json(document)
    else:
        print(
            f"indexed {summary.files} files ({summary.new_partitions} new) in {summary.runs} runs"
            + (
                f", {summary.failed_runs} runs failed (see {log_path} or the Dagster UI)"
                if summary.failed_runs
                else ""
            )
        )
        for root in summary.offline_roots:
            print(f"offline root (nothing under it was changed): {root}")
    return EXIT_ERROR if summary.failed_runs else 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from astrocat_pipeline.core.loading import read_header
    from astrocat_pipeline.core.metadata import normalize_metadata

    path = _existing_file(args.file)
    metadata = normalize_metadata(str(path), read_header(path)).to_dict()
    if args.json:
        _print_json(metadata)
    else:
        for name, value in metadata.items():
            if value is not None:
                print(f"{name:16} {value}")
    return 0


def cmd_thumbnail(args: argparse.Namespace) -> int:
    from astrocat_pipeline.cataloging.thumbnails import render_file_thumbnail
    from astrocat_pipeline.core.thumbnail import encode_jpeg

    path = _existing_file(args.file)
    image, _ = render_file_thumbnail(path, args.size)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(encode_jpeg(image))
    tmp.replace(out)
    print(f"wrote {out} ({image.width}x{image.height})")
    return 0


def cmd_solve(args: argparse.Namespace) -> int:
    from astrocat_pipeline.adapters.solvers import build_solver
    from astrocat_pipeline.cataloging.objects import load_object_catalog
    from astrocat_pipeline.cataloging.steps import solve_file
    from astrocat_pipeline.settings import Settings

    path = _existing_file(args.file)
    settings = Settings.from_env()
    solver = build_solver(
        settings.solver,
        index_dir=settings.index_dir,
        api_url=settings.api_url,
        api_key=settings.api_key,
        blind_fallback=settings.blind_fallback,
        nova_deadline_s=settings.nova_deadline_s,
        solve_budget_s=settings.solve_budget_s,
    )
    solution, _ = solve_file(path, solver, load_object_catalog())
    document = {"path": str(path), **solution.to_dict()}
    if args.json:
        _print_json(document)
    else:
        for name, value in document.items():
            if value is not None:
                print(f"{name:20} {value}")
    return 0 if solution.status in ("solved", "skipped") else EXIT_ERROR


def cmd_search(args: argparse.Namespace) -> int:
    from astrocat_pipeline.cataloging.search import SearchQueryError, build_query, search_catalog
    from astrocat_pipeline.settings import Settings

    try:
        query = build_query(
            object=args.object,
            near=tuple(args.near) if args.near is not None else None,
            radius_deg=args.radius,
            filter=args.filter,
            frame_type=args.frame_type,
            camera=args.camera,
            telescope=args.telescope,
            date_from=args.date_from,
            date_to=args.date_to,
            min_exposure_s=args.min_exposure,
            max_exposure_s=args.max_exposure,
        )
    except SearchQueryError as exc:
        raise CliError(str(exc)) from exc
    settings = Settings.from_env()
    results = [result.to_dict() for result in search_catalog(settings.database_url, query)]
    if args.json:
        _print_json(results)
        return 0
    if not results:
        print("no images found")
        return 0
    print(
        f"{'date (UTC)':19}  {'type':12} {'object':14} {'filter':7} {'exp s':>7}  "
        f"{'solve':8} objects in field / path"
    )
    for image in results:
        solution = image.get("plate_solution") or {}
        objects = ", ".join(
            f"M {m['messier']}" if m.get("messier") else m["designation"]
            for m in image.get("matches", [])[:5]
        )
        when = (image.get("date_obs") or "-")[:19].replace("T", " ")
        exposure = image.get("exposure_s")
        print(
            f"{when:19}  {image.get('frame_type') or '-':12} "
            f"{(image.get('object') or '-')[:14]:14} {(image.get('filter') or '-')[:7]:7} "
            f"{exposure if exposure is not None else '-':>7}  {solution.get('status', '-'):8} "
            f"{objects or '-'}\n    {image['path']}"
        )
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from astrocat_pipeline.adapters.catalog import open_catalog
    from astrocat_pipeline.cataloging.summary import library_tables
    from astrocat_pipeline.settings import Settings

    settings = Settings.from_env()
    with open_catalog(settings.database_url) as store:
        tables = library_tables(store)
    if args.json:
        _print_json({name: table.to_dict("records") for name, table in tables.items()})
        return 0
    titles = {
        "integration": "Integration per target and filter",
        "frame_types": "Frames per frame type",
        "cameras": "Frames per camera",
        "formats": "Frames per format",
        "statuses": "Frames per status",
        "solutions": "Plate solutions",
        "nights": "Frames per night (noon to noon UTC)",
    }
    for name, table in tables.items():
        print(f"{titles.get(name, name)}:")
        print(table.to_string(index=False) if not table.empty else "  none")
        print()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from astrocat_pipeline.settings import Settings

    if not 0 < args.port < 65536:
        raise CliError(f"--port {args.port}: expected 1 to 65535")
    if not 32 <= args.grid_size <= 800:
        raise CliError(f"--grid-size {args.grid_size}: expected 32 to 800 pixels")
    settings = Settings.from_env()
    # Imported here: the web stack is only this command's (the others stay quick to start).
    import uvicorn

    from astrocat_pipeline.gallery.app import create_app

    app = create_app(settings, grid_size_px=args.grid_size, grid_format=args.grid_format)
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"astrocat gallery on http://{shown_host}:{args.port}/ (catalog {settings.database_url}, "
        f"Dagster UI {settings.dagster_url})",
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="astrocat", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo-library", help="write a small demo library of real sky fields")
    p.add_argument("directory")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_demo_library)

    p = sub.add_parser("index", help="run the whole pipeline over the library, through Dagster")
    p.add_argument("roots", nargs="*", help="library roots (default: ASTROCAT_LIBRARY_ROOTS)")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--runs",
        type=int,
        default=1,
        metavar="N",
        help="batches run at once (with Celery workers: as many as there are workers)",
    )
    p.add_argument(
        "--batch-size", type=int, metavar="N", help="files per run (default 100)", default=None
    )
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("inspect", help="normalized metadata of one file (catalog untouched)")
    p.add_argument("file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("thumbnail", help="write one auto-stretched thumbnail")
    p.add_argument("file")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--size", type=int, default=800, help="fit within SIZE x SIZE pixels")
    p.set_defaults(func=cmd_thumbnail)

    p = sub.add_parser("solve", help="plate-solve one file with the configured solver")
    p.add_argument("file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_solve)

    p = sub.add_parser("search", help="search the catalog (all filters combine)")
    p.add_argument("--object", help="designation or name: M31, 'NGC 224', 'Andromeda Galaxy'")
    p.add_argument("--near", nargs=2, type=float, metavar=("RA", "DEC"), help="degrees (ICRS)")
    p.add_argument("--radius", type=float, metavar="DEG", help="cone radius with --near")
    p.add_argument("--filter", help="filter name contains this (Ha, L, ...)")
    p.add_argument("--frame-type", choices=[t.value for t in FrameType])
    p.add_argument("--camera", help="camera contains this")
    p.add_argument("--telescope", help="telescope or lens contains this")
    p.add_argument("--date-from", help="observed on or after (ISO date or time, UTC)")
    p.add_argument("--date-to", help="observed on or before (ISO date or time, UTC)")
    p.add_argument("--min-exposure", type=float, metavar="S")
    p.add_argument("--max-exposure", type=float, metavar="S")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("serve", help="the read-only web gallery over the catalog")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=3001, help="port (default 3001; Dagster's is 3000)")
    p.add_argument(
        "--grid-size", type=int, default=320, metavar="PX", help="grid thumbnails fit PX square"
    )
    p.add_argument("--grid-format", choices=["jpeg", "webp"], default="jpeg")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("stats", help="integration time per target and filter, frame counts")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stats)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = int(args.func(args))
        sys.stdout.flush()
    except CliError as exc:
        print(f"astrocat: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except AstrocatError as exc:
        print(f"astrocat: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader went away (``astrocat stats | head``): stop quietly, as Unix tools do.
        # Python flushes stdout again at exit; point it at /dev/null so that flush is silent.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    return code


if __name__ == "__main__":
    sys.exit(main())
