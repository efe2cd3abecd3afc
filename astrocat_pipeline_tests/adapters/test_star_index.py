"""list_index_stars against the real query-starkd and the installed Tycho-2 index files."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
from astropy.coordinates import SkyCoord

from astrocat_pipeline.adapters.star_index import list_index_stars
from astrocat_pipeline.core.errors import CatalogDataError

INDEX_DIR = Path("/usr/share/astrometry")
HAVE_QUERY_STARKD = shutil.which("query-starkd") is not None
HAVE_INDEXES = any(INDEX_DIR.glob("index-*.fits"))

needs_query_starkd = pytest.mark.skipif(
    not HAVE_QUERY_STARKD,
    reason="query-starkd is not on PATH (install the Debian package astrometry.net)",
)
needs_indexes = pytest.mark.skipif(
    not HAVE_INDEXES,
    reason=f"no index-*.fits in {INDEX_DIR} (install astrometry-data-tycho2-10-19-littleendian)",
)


def real_query(test):
    """The real query-starkd on the installed index files."""
    return pytest.mark.solver(needs_query_starkd(needs_indexes(test)))


def _min_pair_separation_arcsec(ra: np.ndarray, dec: np.ndarray) -> float:
    coords = SkyCoord(ra, dec, unit="deg")
    sep = coords[:, np.newaxis].separation(coords[np.newaxis, :]).arcsec
    np.fill_diagonal(sep, np.inf)
    return float(sep.min())


@real_query
def test_stars_around_m31_are_within_the_radius_sorted_and_unique(tmp_path):
    # The 10-19 package alone (its stars stop near V_T 12.5); 07-09, when installed beside
    # them (scripts/setup with ASTROCAT_NARROW_INDEXES=1), list fainter ones.
    for index_file in INDEX_DIR.glob("index-tycho2-1[0-9]*.fits"):
        (tmp_path / index_file.name).symlink_to(index_file)
    ra, dec, mag = list_index_stars(10.68, 41.27, 1.5, tmp_path)
    assert 20 < ra.size < 500
    assert ra.dtype == dec.dtype == mag.dtype == np.float64
    centre = SkyCoord(10.68, 41.27, unit="deg")
    assert centre.separation(SkyCoord(ra, dec, unit="deg")).deg.max() <= 1.5 + 1e-6
    assert np.all(np.diff(mag) >= 0)
    assert mag.min() > 2.0
    assert mag.max() < 13.0
    assert _min_pair_separation_arcsec(ra, dec) > 1.0


@real_query
def test_a_known_bright_star_is_listed_once():
    # Mirach (beta And), V_T about 2.2 in Tycho-2; it is in several of the index files.
    ra, dec, mag = list_index_stars(17.433, 35.6206, 0.2, INDEX_DIR)
    near = SkyCoord(ra, dec, unit="deg").separation(SkyCoord(17.433, 35.6206, unit="deg"))
    hits = near.arcsec < 5
    assert hits.sum() == 1
    assert mag[hits][0] == pytest.approx(2.24, abs=0.1)


@real_query
def test_merging_index_files_drops_the_duplicates(tmp_path: Path):
    per_file = []
    for number, index_file in enumerate(sorted(INDEX_DIR.glob("index-*.fits"))):
        single = tmp_path / f"only{number}"
        single.mkdir()
        (single / index_file.name).symlink_to(index_file)
        per_file.append(list_index_stars(83.82, -5.39, 2.0, single)[0].size)
    merged = list_index_stars(83.82, -5.39, 2.0, INDEX_DIR)[0].size
    assert len(per_file) > 1
    assert max(per_file) <= merged < sum(per_file)


@real_query
def test_a_field_across_ra_zero_lists_both_sides():
    ra, dec, _ = list_index_stars(0.2, 56.7, 2.0, INDEX_DIR)
    assert ra.min() >= 0.0
    assert ra.max() < 360.0
    assert (ra > 358).any()
    assert (ra < 2).any()
    assert (np.abs(dec - 56.7) <= 2.0).all()


@real_query
def test_an_empty_patch_gives_empty_arrays():
    ra, dec, mag = list_index_stars(10.68, 41.27, 0.01, INDEX_DIR)
    assert ra.size == dec.size == mag.size == 0


@pytest.mark.solver
@needs_query_starkd
def test_a_folder_without_index_files_is_a_catalog_error(tmp_path: Path):
    with pytest.raises(CatalogDataError, match=r"no astrometry\.net index files"):
        list_index_stars(10.68, 41.27, 1.0, tmp_path)


@pytest.mark.solver
@needs_query_starkd
def test_a_broken_index_file_is_a_catalog_error(tmp_path: Path):
    (tmp_path / "index-9999.fits").write_bytes(b"not a FITS file at all")
    with pytest.raises(CatalogDataError, match=r"index-9999\.fits"):
        list_index_stars(10.68, 41.27, 1.0, tmp_path)


# --- Without query-starkd: the failure modes a user would meet ------------------------------


def test_a_missing_query_starkd_is_a_catalog_error(tmp_path: Path):
    (tmp_path / "index-4110.fits").write_bytes(b"")
    with pytest.raises(CatalogDataError, match="not found on PATH"):
        list_index_stars(10.68, 41.27, 1.0, tmp_path, query_starkd="no-such-query-starkd-here")


def test_a_hung_query_is_stopped_and_reported(tmp_path: Path):
    (tmp_path / "index-4110.fits").write_bytes(b"")
    fake = tmp_path / "fake-query-starkd"
    fake.write_text("#!/bin/sh\nsleep 30\nexit 0\n")  # sleep runs as a child of sh
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(CatalogDataError, match=r"did not finish within 0\.5 s"):
        list_index_stars(10.68, 41.27, 1.0, tmp_path, query_starkd=str(fake), timeout_s=0.5)


def test_a_bad_radius_is_rejected_before_running_anything(tmp_path: Path):
    with pytest.raises(ValueError, match="radius_deg"):
        list_index_stars(10.68, 41.27, 0.0, tmp_path)
