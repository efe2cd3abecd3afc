"""The `astrocat` command as a script would use it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from astrocat_pipeline.cli import main
from astrocat_pipeline_tests import image_files
from astrocat_pipeline_tests.defs.conftest import needs_solver, write_tiny_fits


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    astrocat = Path(sys.executable).with_name("astrocat")
    return subprocess.run(
        [str(astrocat), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
        check=False,
    )


def test_inspect_json(tmp_path, capsys):
    path = write_tiny_fits(tmp_path / "M 31, light.fits", OBJECT="M31", EXPTIME=120.0)
    assert main(["inspect", str(path), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["object"] == "M31"
    assert document["exposure_s"] == 120.0
    assert document["frame_type"] == "light"
    assert (document["width"], document["height"]) == (64, 48)
    assert document["path"] == str(path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["inspect", "/no/such/file.fits"], "no such file"),
        (["index", "/no/such/folder"], "not a directory"),
        (["serve", "--port", "70000"], "--port 70000"),
        (["serve", "--grid-size", "5000"], "--grid-size 5000"),
        (["search", "--near", "10", "95", "--radius", "1"], "outside [-90, 90]"),
        (["search", "--date-from", "yesterday"], "ISO date"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(args, message, capsys):
    code = main(args)
    err = capsys.readouterr().err
    assert code != 0
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_unreadable_file_names_the_file(tmp_path, capsys):
    path = tmp_path / "broken.fits"
    path.write_bytes(b"SIMPLE  = garbage")
    assert main(["inspect", str(path)]) != 0
    err = capsys.readouterr().err.strip()
    assert str(path) in err
    assert "Traceback" not in err


def test_thumbnail_writes_a_jpeg(tmp_path):
    path = write_tiny_fits(tmp_path / "a.fits")
    out = tmp_path / "out" / "a.jpg"
    assert main(["thumbnail", str(path), "-o", str(out)]) == 0
    assert out.read_bytes()[:2] == b"\xff\xd8"


@needs_solver
@pytest.mark.solver
def test_demo_index_search_round_trip(tmp_path):
    """The README's quick look: demo-library, index, search --object M31 --json."""
    env = {
        "ASTROCAT_HOME": str(tmp_path / "home"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    (tmp_path / "dagster_home").mkdir()
    demo = tmp_path / "demo"
    made = run_cli("demo-library", str(demo), env=env)
    assert made.returncode == 0, made.stderr
    indexed = run_cli("index", str(demo), "--json", env=env)
    assert indexed.returncode == 0, indexed.stderr[-2000:]
    summary = json.loads(indexed.stdout)
    assert summary["failed_runs"] == 0
    assert summary["files"] >= 10
    found = run_cli("search", "--object", "M31", "--json", env=env)
    assert found.returncode == 0, found.stderr
    images = json.loads(found.stdout)
    assert len(images) >= 2
    for image in images:
        assert image["plate_solution"]["status"] == "solved"
        assert "NGC 224" in {m["designation"] for m in image["matches"]}
        assert Path(image["path"]).is_relative_to(demo)
    # The runs are recorded in DAGSTER_HOME for the UI.
    assert any((tmp_path / "dagster_home").iterdir())
    again = run_cli("search", "--object", "Andromeda Galaxy", "--json", env=env)
    assert len(json.loads(again.stdout)) == len(images)

    def search(*args: str) -> list[dict]:
        done = run_cli("search", *args, "--json", env=env)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    near_m31 = search("--near", "10.68", "41.27", "--radius", "0.5")
    assert {Path(i["path"]).name for i in near_m31} == {
        "M31_L_300s_0001.fits",
        "M31_Ha_300s_0001.fits",
    }
    ha = search("--near", "10.68", "41.27", "--radius", "0.5", "--filter", "Ha")
    assert [Path(i["path"]).name for i in ha] == ["M31_Ha_300s_0001.fits"]
    # A cone on the other side of RA 0h from NGC 7789's centre still finds it.
    assert any("NGC7789" in i["path"] for i in search("--near", "359.9", "56.7", "--radius", "0.3"))
    assert search("--near", "180", "-60", "--radius", "1") == []
    darks = search("--frame-type", "dark")
    assert [i["frame_type"] for i in darks] == ["dark"]
    october = search(
        "--date-from", "2024-10-01", "--date-to", "2024-10-31", "--min-exposure", "300"
    )
    assert october
    assert all(i["date_obs"].startswith("2024-10") and i["exposure_s"] >= 300 for i in october)
    table = run_cli("search", "--object", "M31", env=env)
    assert "M31_L_300s_0001.fits" in table.stdout
    stats = run_cli("stats", "--json", env=env)
    assert stats.returncode == 0, stats.stderr
    tables = json.loads(stats.stdout)
    per_filter = {(r["target"], r["filter"]): r for r in tables["integration"]}
    assert per_filter[("M 31", "L")]["exposure_s"] == 300.0
    assert per_filter[("M 31", "Ha")]["exposure_s"] == 300.0
    assert {r["frame_type"] for r in tables["frame_types"]} >= {"light", "dark", "flat", "bias"}


INSPECT_FILES = {
    "fits": lambda p: write_tiny_fits(p / "a b.fits", OBJECT="M31"),
    "xisf": lambda p: image_files.write_xisf(
        p / "a.xisf", np.ones((20, 30), np.uint16), {"OBJECT": "M31"}
    ),
    "tiff": lambda p: image_files.write_tiff(p / "a.tif", np.ones((40, 60), np.uint16)),
    "jpeg": lambda p: image_files.write_pillow(
        p / "a.jpg", np.ones((20, 30, 3), np.uint8), image_files.camera_exif()
    ),
    "png": lambda p: image_files.write_pillow(p / "a.png", np.ones((20, 30), np.uint8)),
    "raw": lambda p: image_files.write_dng(p / "a.dng", np.ones((40, 60), np.uint16)),
}


@pytest.mark.parametrize("fmt", sorted(INSPECT_FILES))
def test_inspect_json_covers_every_format(tmp_path, capsys, fmt):
    path = INSPECT_FILES[fmt](tmp_path)
    assert main(["inspect", str(path), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["format"] == fmt
    assert document["width"] in (30, 60, 64)
    assert "frame_type" in document


def test_output_into_a_closed_pipe_ends_quietly(tmp_path):
    """``astrocat inspect ... | head -0``: the reader is gone before the command writes."""
    frame = write_tiny_fits(tmp_path / "a.fits")
    process = subprocess.Popen(
        [sys.executable, "-m", "astrocat_pipeline.cli", "inspect", str(frame)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdout.close()  # before the command has imported anything, let alone written
    with process.stderr:
        stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141
    assert stderr == ""


def test_search_by_name_on_a_current_sqlite_catalog_imports_no_sqlalchemy(tmp_path):
    """The quick read path: the same results without SQLAlchemy's ~0.4 s import."""
    from astrocat_pipeline.adapters.catalog import open_catalog

    home = tmp_path / "home"
    open_catalog(f"sqlite:///{home / 'catalog.db'}").close()
    code = (
        "import sys\n"
        "from astrocat_pipeline.cli import main\n"
        "code = main(['search', '--object', 'Andromeda Galaxy', '--json'])\n"
        "print('sqlalchemy' in sys.modules, 'numpy' in sys.modules, code, file=sys.stderr)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "ASTROCAT_HOME": str(home)},
        check=True,
    )
    assert json.loads(result.stdout) == []
    assert result.stderr.split() == ["False", "False", "0"]
