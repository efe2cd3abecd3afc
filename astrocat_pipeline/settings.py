"""Configuration from the environment (README.md, Configuration), read when asked, never at import.

Every value can also be given explicitly (the Dagster resource passes its config as overrides).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from astrocat_pipeline.core.errors import ConfigError
from astrocat_pipeline.core.tuning import NOVA_DEADLINE_S, SOLVER_BUDGET_S, STALE_SOLVE_AFTER_S

SOLVER_CHOICES = ("auto", "local", "nova", "none")
DEFAULT_API_URL = "https://nova.astrometry.net/api/"
# Where Debian's astrometry-data-* packages install their index files.
DEFAULT_INDEX_DIR = Path("/usr/share/astrometry")
DEMO_LIBRARY_DIRNAME = "demo-library"
# Finished Dagster runs (and their event logs) older than this are pruned; 0 keeps everything.
# A month keeps recent history browsable in the UI while bounding the instance's growth.
DEFAULT_RUN_RETENTION_DAYS = 30
# Removed files stay in the catalog as tombstones this long, so that a file back from an
# unplugged disk or a folder moved back gets its rows, thumbnail and matches unprocessed.
DEFAULT_TOMBSTONE_DAYS = 30
# Where `astrocat serve` listens by default (scripts/run), beside the Dagster UI on 3000; the
# two link to each other through these base URLs.
DEFAULT_GALLERY_URL = "http://127.0.0.1:3001"
DEFAULT_DAGSTER_URL = "http://127.0.0.1:3000"
# Where Celery workers send a step's result back: dagster-celery's default, RabbitMQ's reply
# queues (no store of its own needed).
DEFAULT_CELERY_BACKEND_URL = "rpc://"


# The resource's config fields (settable in the Dagster launchpad) and the environment variable
# each overrides. ASTROMETRY_API_KEY is environment-only: a secret never shown in run config.
SETTING_VARIABLES = {
    "library_roots": "ASTROCAT_LIBRARY_ROOTS",
    "home": "ASTROCAT_HOME",
    "database_url": "ASTROCAT_DATABASE_URL",
    "thumbnail_cache_path": "THUMBNAIL_CACHE_PATH",
    "solver": "ASTROCAT_SOLVER",
    "index_dir": "ASTROMETRY_INDEX_DIR",
    "api_url": "ASTROMETRY_API_URL",
    "solver_blind_fallback": "ASTROCAT_SOLVER_BLIND_FALLBACK",
    "solve_budget_s": "ASTROCAT_SOLVE_BUDGET_S",
    "stale_solve_after_s": "ASTROCAT_STALE_SOLVE_AFTER_S",
    "nova_deadline_s": "ASTROCAT_NOVA_DEADLINE_S",
    "run_retention_days": "ASTROCAT_RUN_RETENTION_DAYS",
    "tombstone_days": "ASTROCAT_TOMBSTONE_DAYS",
    "gallery_url": "ASTROCAT_GALLERY_URL",
    "dagster_url": "ASTROCAT_DAGSTER_URL",
}


@dataclass(frozen=True)
class Settings:
    """Resolved configuration of one process."""

    library_roots: tuple[str, ...]
    home: Path
    database_url: str
    thumbnail_cache_path: Path
    solver: str  # resolved: "local", "nova" or "none" (never "auto")
    index_dir: Path
    api_url: str
    api_key: str | None = field(default=None, repr=False)  # never printed
    uses_demo_library: bool = False
    run_retention_days: int = DEFAULT_RUN_RETENTION_DAYS  # ASTROCAT_RUN_RETENTION_DAYS; 0: off
    blind_fallback: bool = True  # ASTROCAT_SOLVER_BLIND_FALLBACK: a blind try after a hinted miss
    solve_budget_s: float = SOLVER_BUDGET_S  # ASTROCAT_SOLVE_BUDGET_S: one local solve, in all
    stale_solve_after_s: float = STALE_SOLVE_AFTER_S  # ASTROCAT_STALE_SOLVE_AFTER_S
    nova_deadline_s: float = NOVA_DEADLINE_S  # ASTROCAT_NOVA_DEADLINE_S
    tombstone_days: int = DEFAULT_TOMBSTONE_DAYS  # ASTROCAT_TOMBSTONE_DAYS
    gallery_url: str = DEFAULT_GALLERY_URL  # ASTROCAT_GALLERY_URL: the gallery, as users reach it
    dagster_url: str = DEFAULT_DAGSTER_URL  # ASTROCAT_DAGSTER_URL: the Dagster UI, likewise
    # ASTROCAT_CELERY_BROKER_URL: when set, the per-file work of each batch runs on Celery
    # workers listening on this broker (dagster-celery); environment-only, as a deployment's
    # choice (it may hold a password).
    celery_broker_url: str | None = field(default=None, repr=False)
    celery_backend_url: str = DEFAULT_CELERY_BACKEND_URL  # ASTROCAT_CELERY_BACKEND_URL

    def resource_config(self) -> dict[str, Any]:
        """These settings as the ``astrocat`` resource's config (its field names, the values a
        run needs to see the same configuration). The API key stays out: it is read from the
        environment only, so it never shows in a run's configuration."""
        config: dict[str, Any] = {
            "home": str(self.home),
            "database_url": self.database_url,
            "thumbnail_cache_path": str(self.thumbnail_cache_path),
            "solver": self.solver,
            "index_dir": str(self.index_dir),
            "api_url": self.api_url,
            "solver_blind_fallback": self.blind_fallback,
            "solve_budget_s": self.solve_budget_s,
            "stale_solve_after_s": self.stale_solve_after_s,
            "nova_deadline_s": self.nova_deadline_s,
            "run_retention_days": self.run_retention_days,
            "tombstone_days": self.tombstone_days,
            "gallery_url": self.gallery_url,
            "dagster_url": self.dagster_url,
        }
        if not self.uses_demo_library:
            config["library_roots"] = os.pathsep.join(self.library_roots)
        return config

    @property
    def demo_library_path(self) -> Path:
        return self.home / DEMO_LIBRARY_DIRNAME

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        overrides: Mapping[str, str | None] | None = None,
        cwd: Path | None = None,
    ) -> Settings:
        """Settings from ``environ`` (default ``os.environ``), with ``overrides`` winning."""
        env = dict(os.environ if environ is None else environ)
        for key, value in (overrides or {}).items():
            if value is not None and value != "":
                env[key] = value

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        base = cwd or Path.cwd()
        home = Path(get("ASTROCAT_HOME") or base / ".astrocat").expanduser()
        home = home if home.is_absolute() else (base / home)
        roots_text = get("ASTROCAT_LIBRARY_ROOTS")
        if roots_text:
            roots = tuple(
                str(Path(part).expanduser().absolute())
                for part in roots_text.split(os.pathsep)
                if part.strip()
            )
        else:
            roots = ()
        uses_demo = not roots
        if uses_demo:
            roots = (str(home / DEMO_LIBRARY_DIRNAME),)
        database_url = get("ASTROCAT_DATABASE_URL") or f"sqlite:///{home / 'catalog.db'}"
        thumbs = Path(get("THUMBNAIL_CACHE_PATH") or home / "thumbnails").expanduser()
        index_dir = Path(get("ASTROMETRY_INDEX_DIR") or DEFAULT_INDEX_DIR).expanduser()
        api_key = get("ASTROMETRY_API_KEY")
        solver = resolve_solver(get("ASTROCAT_SOLVER") or "auto", api_key)
        retention_text = get("ASTROCAT_RUN_RETENTION_DAYS")
        retention_days = DEFAULT_RUN_RETENTION_DAYS
        if retention_text is not None:
            if not retention_text.isdigit():
                raise ConfigError(
                    f"ASTROCAT_RUN_RETENTION_DAYS={retention_text!r}: expected a whole number of "
                    "days, 0 or more (0 keeps every run)"
                )
            retention_days = int(retention_text)
        thumbnail_cache_path = thumbs if thumbs.is_absolute() else base / thumbs
        _check_outside_roots(
            roots, {"ASTROCAT_HOME": home, "THUMBNAIL_CACHE_PATH": thumbnail_cache_path}
        )
        tombstone_text = get("ASTROCAT_TOMBSTONE_DAYS")
        tombstone_days = DEFAULT_TOMBSTONE_DAYS
        if tombstone_text is not None:
            if not tombstone_text.isdigit():
                raise ConfigError(
                    f"ASTROCAT_TOMBSTONE_DAYS={tombstone_text!r}: expected a whole number of "
                    "days, 0 or more (0 purges removed files at the next daily purge)"
                )
            tombstone_days = int(tombstone_text)
        return cls(
            library_roots=roots,
            home=home,
            database_url=database_url,
            thumbnail_cache_path=thumbnail_cache_path,
            solver=solver,
            index_dir=index_dir,
            api_url=get("ASTROMETRY_API_URL") or DEFAULT_API_URL,
            api_key=api_key,
            uses_demo_library=uses_demo,
            run_retention_days=retention_days,
            blind_fallback=_flag("ASTROCAT_SOLVER_BLIND_FALLBACK", get, True),
            solve_budget_s=_seconds("ASTROCAT_SOLVE_BUDGET_S", get, SOLVER_BUDGET_S),
            stale_solve_after_s=_seconds("ASTROCAT_STALE_SOLVE_AFTER_S", get, STALE_SOLVE_AFTER_S),
            nova_deadline_s=_seconds("ASTROCAT_NOVA_DEADLINE_S", get, NOVA_DEADLINE_S),
            tombstone_days=tombstone_days,
            gallery_url=_base_url("ASTROCAT_GALLERY_URL", get, DEFAULT_GALLERY_URL),
            dagster_url=_base_url("ASTROCAT_DAGSTER_URL", get, DEFAULT_DAGSTER_URL),
            celery_broker_url=get("ASTROCAT_CELERY_BROKER_URL"),
            celery_backend_url=get("ASTROCAT_CELERY_BACKEND_URL") or DEFAULT_CELERY_BACKEND_URL,
        )


def _check_outside_roots(roots: tuple[str, ...], folders: Mapping[str, Path]) -> None:
    """Refuse the project's own folders inside a library root (symlinks resolved): the
    pipeline would write into the library, and the walk would index every thumbnail it makes
    as a new image. Refused at start rather than left out of the walk, so the mistake is seen
    and fixed once, and no write into a library ever happens. A root inside the home (the demo
    library, ``$ASTROCAT_HOME/demo-library``) is fine."""
    for root in roots:
        resolved_root = Path(root).resolve()
        for variable, folder in folders.items():
            resolved = folder.resolve()
            if resolved == resolved_root or resolved_root in resolved.parents:
                raise ConfigError(
                    f"{variable}={folder} is inside the library root {root}: the pipeline "
                    "would write its catalog or thumbnails into the library and index its "
                    f"own thumbnails as new images; move {variable} out of every root"
                )


def _base_url(name: str, get: Callable[[str], str | None], default: str) -> str:
    text = get(name)
    if text is None:
        return default
    if not text.startswith(("http://", "https://")) or any(c.isspace() for c in text):
        raise ConfigError(f"{name}={text!r}: expected an http:// or https:// URL")
    return text.rstrip("/")


def _flag(name: str, get: Callable[[str], str | None], default: bool) -> bool:
    text = get(name)
    if text is None:
        return default
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={text!r}: expected true or false")


def _seconds(name: str, get: Callable[[str], str | None], default: float) -> float:
    text = get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ConfigError(f"{name}={text!r}: expected a positive number of seconds")
    return value


def resolve_solver(choice: str, api_key: str | None) -> str:
    """``auto`` -> local if ``solve-field`` is installed, else nova with a key, else none."""
    choice = choice.strip().lower()
    if choice not in SOLVER_CHOICES:
        raise ConfigError(
            f"ASTROCAT_SOLVER={choice!r}: expected one of {', '.join(SOLVER_CHOICES)}"
        )
    if choice == "auto":
        if shutil.which("solve-field"):
            return "local"
        return "nova" if api_key else "none"
    return choice
