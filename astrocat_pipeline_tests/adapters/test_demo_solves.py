"""Every frame of the demo library that shows the sky plate-solves with the real solve-field.

The FITS lights go to solve-field directly (the project's solver adapter has its own tests): it
checks the demo data, not the adapter. Hints come from the frame's header as a user's frame
would give them. The other formats (XISF, DNG, TIFF, JPEG) need the project's conversion to a
FITS solve-field reads, so they go through ``steps.solve_file`` with a ``LocalSolver``, with the
hints the pipeline derives from their metadata.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS

from astrocat_pipeline.adapters.solvers.local import LocalSolver
from astrocat_pipeline.adapters.star_index import list_index_stars
from astrocat_pipeline.cataloging.steps import solve_file
from astrocat_pipeline.core.wcs_geometry import wcs_from_header_text
from astrocat_pipeline.demo.library import DEMO_FIELDS, true_wcs, write_demo_library

INDEX_DIR = Path("/usr/share/astrometry")
WALL_TIMEOUT_S = 120

pytestmark = [
    pytest.mark.solver,
    pytest.mark.skipif(
        shutil.which("solve-field") is None or shutil.which("query-starkd") is None,
        reason="solve-field/query-starkd not on PATH (install the Debian package astrometry.net)",
    ),
    pytest.mark.skipif(
        not any(INDEX_DIR.glob("index-*.fits")),
        reason=f"no index files in {INDEX_DIR} (astrometry-data-tycho2-10-19-littleendian)",
    ),
]


def _solve(image: Path, out: Path, header: fits.Header) -> Path | None:
    """Run solve-field with scale (FOCALLEN/XPIXSZ ±20 %) and position (RA/DEC, 2°) hints."""
    scale = 206.265 * header["XPIXSZ"] / header["FOCALLEN"]
    (out / "tmp").mkdir(parents=True)
    args = [
        "solve-field",
        "--dir", str(out), "--out", "job", "--temp-dir", str(out / "tmp"),
        "--no-plots", "--overwrite", "--new-fits", "none", "--no-tweak", "--crpix-center",
        "--cpulimit", "30", "--downsample", "2",
        "--temp-axy", "--index-xyls", "none", "--match", "none", "--rdls", "none", "--corr", "none",
        "--scale-units", "arcsecperpix",
        "--scale-low", f"{scale * 0.8:.4f}", "--scale-high", f"{scale * 1.2:.4f}",
        "--ra", f"{header['RA']:.6f}", "--dec", f"{header['DEC']:.6f}", "--radius", "2",
        str(image),
    ]  # fmt: skip
    # --cpulimit overshoots: keep a wall-clock limit and stop the whole process group.
    with subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    ) as proc:
        try:
            proc.communicate(timeout=WALL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return None
    # solve-field exits 0 even when it fails: the .solved file is the verdict.
    return out / "job.wcs" if (out / "job.solved").exists() else None


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "library"
    write_demo_library(root, lambda ra, dec, r: list_index_stars(ra, dec, r, INDEX_DIR))
    return root


def test_every_fits_light_frame_solves_within_an_arcminute(tmp_path: Path, library: Path):
    lights = [f for f in DEMO_FIELDS if f.frame_type == "light" and f.file_format == "fits"]
    assert len(lights) >= 7
    failures = []
    for field in lights:
        image = library / field.rel_path
        wcs_path = _solve(image, tmp_path / "solve" / image.stem, fits.getheader(image))
        if wcs_path is None:
            failures.append(f"{field.rel_path}: not solved")
            continue
        header = fits.getheader(wcs_path)
        # The .wcs file is header-only (NAXIS = 0); give astropy the image size it describes.
        header["NAXIS"] = 2
        header["NAXIS1"] = header["IMAGEW"]
        header["NAXIS2"] = header["IMAGEH"]
        wcs = WCS(header)
        ra, dec = wcs.all_pix2world([(field.width_px - 1) / 2], [(field.height_px - 1) / 2], 0)
        error = SkyCoord(ra[0], dec[0], unit="deg").separation(
            SkyCoord(*field.centre_deg, unit="deg")
        )
        scale = np.sqrt(abs(np.linalg.det(wcs.pixel_scale_matrix))) * 3600
        flipped = np.linalg.det(wcs.pixel_scale_matrix) > 0
        if error.arcmin >= 1.0:
            failures.append(f"{field.rel_path}: centre off by {error.arcmin:.2f}'")
        if abs(scale / field.pixel_scale_arcsec - 1) > 0.005:
            failures.append(f'{field.rel_path}: scale {scale:.3f}"/px')
        if flipped != field.flipped:
            failures.append(f"{field.rel_path}: parity flipped={flipped}")
    assert not failures, failures


def test_every_other_format_solves_through_the_pipeline_within_an_arcminute(library: Path):
    fields = [f for f in DEMO_FIELDS if f.shows_sky and f.file_format != "fits"]
    assert {f.file_format for f in fields} == {"xisf", "raw", "tiff", "jpeg"}
    solver = LocalSolver(index_dir=INDEX_DIR, timeout_s=WALL_TIMEOUT_S)
    failures = []
    for field in fields:
        solution, _ = solve_file(library / field.rel_path, solver)
        if solution.status != "solved" or solution.geometry is None or not solution.wcs_header:
            failures.append(f"{field.rel_path}: {solution.status} ({solution.error})")
            continue
        geometry = solution.geometry
        error = SkyCoord(geometry.ra_deg, geometry.dec_deg, unit="deg").separation(
            SkyCoord(*field.centre_deg, unit="deg")
        )
        if error.arcmin >= 1.0:
            failures.append(f"{field.rel_path}: centre off by {error.arcmin:.2f}'")
        if abs(geometry.pixel_scale_arcsec / field.pixel_scale_arcsec - 1) > 0.005:
            failures.append(f'{field.rel_path}: scale {geometry.pixel_scale_arcsec:.3f}"/px')
        # The solved WCS is in the loader's array coordinates, as true_wcs is: same handedness
        # (for a top-down format the opposite of what the picture's parity is in FITS terms).
        solved = wcs_from_header_text(solution.wcs_header)
        expected = true_wcs(field)
        for x_px, y_px in ((100.0, 100.0), (field.width_px - 100.0, field.height_px - 100.0)):
            ra, dec = solved.all_pix2world([x_px], [y_px], 0)
            ra_true, dec_true = expected.all_pix2world([x_px], [y_px], 0)
            off = SkyCoord(ra[0], dec[0], unit="deg").separation(
                SkyCoord(ra_true[0], dec_true[0], unit="deg")
            )
            if off.arcmin >= 1.0:
                failures.append(f"{field.rel_path}: ({x_px}, {y_px}) off by {off.arcmin:.2f}'")
    assert not failures, failures
