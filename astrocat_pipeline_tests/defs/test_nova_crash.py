"""A nova job in flight when its process is killed (SIGKILL, no chance to clean up) is resumed
by the next run, never uploaded again: `astrocat index` in a real process against a loopback
nova that speaks the real protocol."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from astrocat_pipeline.adapters.catalog import open_catalog
from astrocat_pipeline.core.fingerprint import content_fingerprint
from astrocat_pipeline_tests.adapters.solvers.nova_double import NovaDouble
from astrocat_pipeline_tests.adapters.solvers.test_nova import HEIGHT, KEY, WIDTH, truth_wcs
from astrocat_pipeline_tests.image_files import write_fits
from astrocat_pipeline_tests.samples import PROJECT_ROOT


def index(home: Path, library: Path, api_url: str, log: Path) -> subprocess.Popen:
    environment = {
        **os.environ,
        "ASTROCAT_HOME": str(home),
        "ASTROCAT_SOLVER": "nova",
        "ASTROMETRY_API_KEY": KEY,
        "ASTROMETRY_API_URL": api_url,
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    for name in ("DAGSTER_HOME", "ASTROCAT_DATABASE_URL", "ASTROCAT_LIBRARY_ROOTS"):
        environment.pop(name, None)
    astrocat = Path(sys.executable).with_name("astrocat")
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(astrocat), "index", str(library)],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def test_a_nova_job_of_a_killed_run_is_resumed_and_never_uploaded_twice(tmp_path):
    library = tmp_path / "library"
    frame = write_fits(
        library / "M42 light.fits",
        np.full((HEIGHT, WIDTH), 1000, np.uint16),
        {"IMAGETYP": "LIGHT", "OBJECT": "M42"},
    )
    fingerprint = content_fingerprint(frame)
    home = tmp_path / "home"
    # nova keeps the job "solving" until the killed process is gone.
    with NovaDouble(api_key=KEY, wcs_file=truth_wcs(), solving_polls=10**9) as double:
        first = index(home, library, double.api_url, tmp_path / "first.log")
        try:
            deadline = time.monotonic() + 120
            row = None
            while time.monotonic() < deadline and first.poll() is None:
                if (home / "catalog.db").exists():
                    with open_catalog(f"sqlite:///{home / 'catalog.db'}") as store:
                        row = store.get_solution_row(fingerprint)
                if row is not None and row.job_id is not None:
                    break
                time.sleep(0.5)
            assert row is not None, (tmp_path / "first.log").read_text()[-3000:]
            assert row.status == "processing"
            assert row.job_id is not None
        finally:
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
        assert len(double.uploads) == 1

        double.solving_polls = 0  # the job ends while nobody waits for it
        second = index(home, library, double.api_url, tmp_path / "second.log")
        second.wait(timeout=300)
        assert second.returncode == 0, (tmp_path / "second.log").read_text()[-3000:]
        assert len(double.uploads) == 1, "the frame was uploaded again"

    with open_catalog(f"sqlite:///{home / 'catalog.db'}") as store:
        row = store.get_solution_row(fingerprint)
    assert row.status == "solved"
    assert row.solver == "nova"
    assert row.job_id is not None
