"""celestial_wcs, field_geometry and the WCS <-> text round trip, on synthetic WCSs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord, angular_separation
from astropy.io import fits
from astropy.wcs import WCS, Sip

from astrocat_pipeline.core.records import FieldGeometry
from astrocat_pipeline.core.wcs_geometry import (
    celestial_wcs,
    field_geometry,
    offset_by,
    wcs_from_header_text,
    wcs_to_header_text,
)
from astrocat_pipeline_tests.samples import SAMPLES

ARCSEC = 1.0 / 3600.0


def make_header(
    ra_deg: float,
    dec_deg: float,
    scale_arcsec: float,
    rotation_deg: float,
    *,
    flipped: bool = False,
    width_px: int = 1500,
    height_px: int = 1000,
) -> fits.Header:
    """A TAN header centred on the frame, whose +y axis points ``rotation_deg`` east of north.

    Columns of the CD matrix are the (east, north) directions of +x and +y; without a flip +x is
    +y turned 90° towards the west (det < 0).
    """
    theta = math.radians(rotation_deg)
    up = np.array([math.sin(theta), math.cos(theta)])
    right = np.array([math.cos(theta), -math.sin(theta)]) * (1 if flipped else -1)
    cd = np.column_stack([right, up]) * scale_arcsec * ARCSEC
    header = fits.Header()
    header["CTYPE1"] = "RA---TAN"
    header["CTYPE2"] = "DEC--TAN"
    header["CRVAL1"] = ra_deg
    header["CRVAL2"] = dec_deg
    header["CRPIX1"] = (width_px + 1) / 2.0  # FITS 1-based: the centre of the frame
    header["CRPIX2"] = (height_px + 1) / 2.0
    for i in range(2):
        for j in range(2):
            header[f"CD{i + 1}_{j + 1}"] = cd[i, j]
    header["RADESYS"] = "ICRS"
    return header


def assert_same_geometry(a: FieldGeometry, b: FieldGeometry) -> None:
    """Equal up to the last digits lost when a WCS goes through header text."""
    assert a.parity == b.parity
    assert sep_deg(a.ra_deg, a.dec_deg, b.ra_deg, b.dec_deg) < 1e-9
    for name in ("pixel_scale_arcsec", "width_deg", "height_deg", "radius_deg"):
        assert getattr(a, name) == pytest.approx(getattr(b, name), rel=1e-9), name
    assert angle_diff_deg(a.rotation_deg, b.rotation_deg) < 1e-9
    for corner_a, corner_b in zip(a.corners_deg, b.corners_deg, strict=True):
        assert sep_deg(*corner_a, *corner_b) < 1e-9


def angle_diff_deg(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def sep_deg(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    return math.degrees(float(angular_separation(*np.radians([ra1, dec1, ra2, dec2]))))


def tan_extent_deg(pixels: float, scale_arcsec: float) -> float:
    """Angle from the tangent point of a TAN projection to a point ``pixels`` away from it."""
    return math.degrees(math.atan(math.radians(pixels * scale_arcsec * ARCSEC)))


# --- celestial_wcs ------------------------------------------------------------------------


def test_header_with_cd_matrix_gives_two_axis_wcs():
    wcs = celestial_wcs(make_header(10.68, 41.27, 7.2, 20.0))
    assert wcs is not None
    assert wcs.naxis == 2
    assert list(wcs.wcs.ctype) == ["RA---TAN", "DEC--TAN"]


def test_header_with_cdelt_and_crota_gives_wcs():
    header = fits.Header()
    header.update(
        CTYPE1="RA---TAN", CTYPE2="DEC--TAN", CRVAL1=83.8, CRVAL2=-5.4, CRPIX1=100.5,
        CRPIX2=100.5, CDELT1=-2 * ARCSEC, CDELT2=2 * ARCSEC, CROTA2=30.0,
    )  # fmt: skip
    wcs = celestial_wcs(header)
    assert wcs is not None
    geometry = field_geometry(wcs, 200, 200)
    assert geometry.pixel_scale_arcsec == pytest.approx(2.0, rel=1e-9)
    assert geometry.parity == "normal"


def test_header_with_pc_and_cdelt_gives_wcs():
    header = fits.Header()
    header.update(
        CTYPE1="RA---SIN", CTYPE2="DEC--SIN", CRVAL1=200.0, CRVAL2=10.0, CRPIX1=50.5,
        CRPIX2=50.5, CDELT1=-1.5 * ARCSEC, CDELT2=1.5 * ARCSEC,
        PC1_1=1.0, PC1_2=0.0, PC2_1=0.0, PC2_2=1.0,
    )  # fmt: skip
    wcs = celestial_wcs(header)
    assert wcs is not None
    assert field_geometry(wcs, 100, 100).pixel_scale_arcsec == pytest.approx(1.5, rel=1e-6)


def test_header_without_wcs_is_none():
    header = fits.Header()
    header.update(SIMPLE=True, BITPIX=16, NAXIS=2, NAXIS1=100, NAXIS2=100, EXPTIME=300.0)
    assert celestial_wcs(header) is None


def test_pointing_only_header_is_none():
    header = fits.Header()
    header.update(
        NAXIS=2, NAXIS1=4144, NAXIS2=2822, RA=10.68, DEC=41.27, OBJCTRA="00 42 44",
        OBJCTDEC="+41 16 08", EQUINOX=2000.0, FOCALLEN=530.0, XPIXSZ=3.76,
    )  # fmt: skip
    assert celestial_wcs(header) is None


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"CRVAL1": None}, id="no CRVAL1"),
        pytest.param({"CD1_1": None, "CD1_2": None, "CD2_1": None, "CD2_2": None}, id="no scale"),
        pytest.param({"CD1_1": 0.0, "CD1_2": 0.0, "CD2_1": 0.0, "CD2_2": 0.0}, id="zero CD"),
        pytest.param({"CD1_1": 1e-3, "CD1_2": 1e-3, "CD2_1": 1e-3, "CD2_2": 1e-3}, id="singular"),
        pytest.param({"CRVAL1": "ten"}, id="text CRVAL"),
        pytest.param({"CRVAL2": 95.0}, id="Dec beyond the pole"),
        pytest.param({"CTYPE1": "RA---XYZ", "CTYPE2": "DEC--XYZ"}, id="unknown projection"),
        pytest.param({"CTYPE1": "RA---TAN", "CTYPE2": "RA---TAN"}, id="two RA axes"),
        pytest.param({"CTYPE1": "PIXEL", "CTYPE2": "PIXEL"}, id="linear axes"),
    ],
)
def test_broken_header_is_none_without_warning(change):
    header = make_header(10.0, 20.0, 5.0, 0.0)
    for key, value in change.items():
        if value is None:
            del header[key]
        else:
            header[key] = value
    assert celestial_wcs(header) is None  # pytest turns any warning into an error


def test_header_that_astropy_repairs_raises_no_warning():
    header = make_header(10.0, 20.0, 5.0, 0.0)
    del header["RADESYS"]
    header["RADECSYS"] = "FK5"  # deprecated spelling
    header["DATE-OBS"] = "05/04/87"  # old dd/mm/yy format
    header["EQUINOX"] = 2000.0
    assert celestial_wcs(header) is not None


def test_extra_axes_are_dropped():
    header = make_header(10.0, 20.0, 5.0, 0.0)
    header.update(NAXIS=3, CTYPE3="FREQ", CRVAL3=1.4e9, CDELT3=1e6, CRPIX3=1.0)
    wcs = celestial_wcs(header)
    assert wcs is not None
    assert wcs.naxis == 2


def test_swapped_axes_give_the_same_sky():
    header = make_header(150.0, -30.0, 4.0, 0.0)
    swapped = fits.Header()
    swapped.update(
        CTYPE1="DEC--TAN", CTYPE2="RA---TAN", CRVAL1=-30.0, CRVAL2=150.0,
        CRPIX1=header["CRPIX1"], CRPIX2=header["CRPIX2"],
        CD1_1=header["CD2_1"], CD1_2=header["CD2_2"], CD2_1=header["CD1_1"], CD2_2=header["CD1_2"],
    )  # fmt: skip
    plain = field_geometry(celestial_wcs(header), 1500, 1000)
    other = field_geometry(celestial_wcs(swapped), 1500, 1000)
    assert other.ra_deg == pytest.approx(plain.ra_deg)
    assert other.dec_deg == pytest.approx(plain.dec_deg)
    assert other.rotation_deg == pytest.approx(plain.rotation_deg)
    assert other.parity == plain.parity


def test_galactic_wcs_geometry_is_in_icrs():
    header = fits.Header()
    header.update(
        CTYPE1="GLON-TAN", CTYPE2="GLAT-TAN", CRVAL1=0.0, CRVAL2=0.0, CRPIX1=360.5,
        CRPIX2=360.5, CDELT1=-5 * ARCSEC, CDELT2=5 * ARCSEC,
    )  # fmt: skip
    geometry = field_geometry(celestial_wcs(header), 720, 720)
    # The Galactic Centre (l=0, b=0) in ICRS: 17h45m37.2s -28°56'10".
    assert sep_deg(geometry.ra_deg, geometry.dec_deg, 266.40500, -28.93617) < 1 * ARCSEC


# --- field_geometry -----------------------------------------------------------------------


@pytest.mark.parametrize("flipped", [False, True], ids=["normal", "flipped"])
@pytest.mark.parametrize("rotation_deg", [0.0, 20.0, 135.0, 270.0, 359.5])
def test_scale_rotation_and_parity(rotation_deg, flipped):
    header = make_header(83.82, -5.39, 3.5, rotation_deg, flipped=flipped)
    geometry = field_geometry(celestial_wcs(header), 1500, 1000)
    assert geometry.pixel_scale_arcsec == pytest.approx(3.5, rel=1e-6)
    assert angle_diff_deg(geometry.rotation_deg, rotation_deg) < 1e-6
    assert 0.0 <= geometry.rotation_deg < 360.0
    assert geometry.parity == ("flipped" if flipped else "normal")
    assert sep_deg(geometry.ra_deg, geometry.dec_deg, 83.82, -5.39) < 1e-9


def test_north_up_east_left_is_normal_with_zero_rotation():
    header = fits.Header()
    header.update(
        CTYPE1="RA---TAN", CTYPE2="DEC--TAN", CRVAL1=30.0, CRVAL2=0.0, CRPIX1=50.5,
        CRPIX2=50.5, CD1_1=-ARCSEC, CD1_2=0.0, CD2_1=0.0, CD2_2=ARCSEC,
    )  # fmt: skip
    wcs = celestial_wcs(header)
    geometry = field_geometry(wcs, 100, 100)
    assert geometry.parity == "normal"
    assert angle_diff_deg(geometry.rotation_deg, 0.0) < 1e-9
    # Row index up = north (higher Dec), column index right = west (lower RA).
    _, dec_up = wcs.pixel_to_world_values(49.5, 99.0)
    ra_right, _ = wcs.pixel_to_world_values(99.0, 49.5)
    assert dec_up > geometry.dec_deg
    assert ra_right < geometry.ra_deg


def test_centre_is_the_middle_pixel_not_crpix():
    header = make_header(100.0, 20.0, 2.0, 0.0)
    header["CRPIX1"] = 1.0  # reference point at the first pixel
    header["CRPIX2"] = 1.0
    wcs = celestial_wcs(header)
    geometry = field_geometry(wcs, 1001, 801)
    ra, dec = wcs.pixel_to_world_values(500.0, 400.0)
    assert sep_deg(geometry.ra_deg, geometry.dec_deg, float(ra), float(dec)) < 1e-9
    assert sep_deg(geometry.ra_deg, geometry.dec_deg, 100.0, 20.0) > 0.3


def test_extent_radius_and_corners_of_a_tan_field():
    scale, width, height = 7.2, 1500, 1000
    geometry = field_geometry(celestial_wcs(make_header(10.68, 41.27, scale, 20.0)), width, height)
    assert geometry.width_deg == pytest.approx(2 * tan_extent_deg(width / 2, scale), rel=1e-9)
    assert geometry.height_deg == pytest.approx(2 * tan_extent_deg(height / 2, scale), rel=1e-9)
    corner_angle = tan_extent_deg(math.hypot(width / 2, height / 2), scale)
    assert geometry.radius_deg == pytest.approx(corner_angle, rel=1e-9)
    assert len(geometry.corners_deg) == 4
    for ra, dec in geometry.corners_deg:
        assert sep_deg(ra, dec, geometry.ra_deg, geometry.dec_deg) == pytest.approx(corner_angle)
    # First corner (-0.5, -0.5) and third (width - 0.5, height - 0.5) are diagonally opposite.
    (ra0, dec0), _, (ra2, dec2), _ = geometry.corners_deg
    assert sep_deg(ra0, dec0, ra2, dec2) == pytest.approx(2 * corner_angle, rel=1e-9)


def test_field_across_ra_zero():
    scale, width, height = 7.2, 1500, 1000
    geometry = field_geometry(celestial_wcs(make_header(0.2, 30.0, scale, 0.0)), width, height)
    assert geometry.ra_deg == pytest.approx(0.2)
    ras = [ra for ra, _ in geometry.corners_deg]
    assert all(0.0 <= ra < 360.0 for ra in ras)
    assert sum(ra > 350.0 for ra in ras) == 2  # two corners west of 0h ...
    assert sum(ra < 10.0 for ra in ras) == 2  # ... two east of it
    # A 3° field, not a 357° one: extents are spherical, not RA differences.
    assert geometry.width_deg == pytest.approx(2 * tan_extent_deg(width / 2, scale), rel=1e-9)
    assert geometry.radius_deg < 2.0
    assert geometry.pixel_scale_arcsec == pytest.approx(scale, rel=1e-6)


def test_field_containing_the_pole():
    scale, width, height = 7.2, 1500, 1000
    wcs = celestial_wcs(make_header(0.0, 89.5, scale, 10.0))
    geometry = field_geometry(wcs, width, height)
    pole_x, pole_y = wcs.world_to_pixel_values(0.0, 90.0)
    assert -0.5 < pole_x < width - 0.5
    assert -0.5 < pole_y < height - 0.5
    assert geometry.dec_deg == pytest.approx(89.5)
    assert geometry.pixel_scale_arcsec == pytest.approx(scale, rel=1e-6)
    assert angle_diff_deg(geometry.rotation_deg, 10.0) < 1e-6
    assert geometry.width_deg == pytest.approx(2 * tan_extent_deg(width / 2, scale), rel=1e-9)
    corner_angle = tan_extent_deg(math.hypot(width / 2, height / 2), scale)
    assert geometry.radius_deg == pytest.approx(corner_angle, rel=1e-9)
    # The corners go all the way round the pole.
    assert max(ra for ra, _ in geometry.corners_deg) - min(r for r, _ in geometry.corners_deg) > 180


def test_centre_exactly_on_the_pole_is_finite():
    geometry = field_geometry(celestial_wcs(make_header(0.0, 90.0, 7.2, 0.0)), 1500, 1000)
    assert geometry.dec_deg == pytest.approx(90.0)
    assert geometry.pixel_scale_arcsec == pytest.approx(7.2, rel=1e-6)
    assert math.isfinite(geometry.rotation_deg)
    assert geometry.parity == "normal"


def test_rotation_matches_solve_field_and_truth_files():
    """The samples' truth "rot" 20 is solve-field's "up is -20 degrees E of N", i.e. 340 here."""
    truth_cd = {"PC1_1": -0.0018793852415718, "PC1_2": -0.00068404028665134}
    truth_cd |= {"PC2_1": -0.00068404028665134, "PC2_2": 0.0018793852415718}
    header = make_header(10.68, 41.27, 7.2, 0.0)
    for i in (1, 2):
        for j in (1, 2):
            header[f"CD{i}_{j}"] = truth_cd[f"PC{i}_{j}"]
    geometry = field_geometry(celestial_wcs(header), 1500, 1000)
    assert angle_diff_deg(geometry.rotation_deg, 340.0) < 1e-6
    assert geometry.parity == "normal"


def test_rejects_empty_frame():
    with pytest.raises(ValueError, match="positive"):
        field_geometry(celestial_wcs(make_header(0.0, 0.0, 1.0, 0.0)), 0, 100)


# --- text round trip ----------------------------------------------------------------------


def sip_wcs() -> WCS:
    wcs = celestial_wcs(make_header(150.0, 2.2, 7.2, 30.0))
    a = np.zeros((4, 4))
    b = np.zeros((4, 4))
    a[2, 0], a[0, 2], a[3, 0] = 2e-6, -1e-6, 3e-9
    b[1, 1], b[0, 3] = 1.5e-6, -2e-9
    wcs.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    wcs.sip = Sip(a, b, None, None, wcs.wcs.crpix)
    return wcs


def test_sip_round_trip_through_text():
    wcs = sip_wcs()
    text = wcs_to_header_text(wcs)
    assert "A_ORDER" in text
    assert "-SIP" in text
    back = wcs_from_header_text(text)
    assert back.sip is not None
    xs = np.array([-0.5, 0.0, 749.5, 1499.5, 300.0])
    ys = np.array([-0.5, 999.5, 499.5, 999.5, 20.0])
    np.testing.assert_allclose(
        back.pixel_to_world_values(xs, ys), wcs.pixel_to_world_values(xs, ys), atol=1e-10
    )
    assert_same_geometry(field_geometry(back, 1500, 1000), field_geometry(wcs, 1500, 1000))


def test_sip_distortion_shows_in_the_geometry():
    with_sip = field_geometry(sip_wcs(), 1500, 1000)
    plain = field_geometry(celestial_wcs(make_header(150.0, 2.2, 7.2, 30.0)), 1500, 1000)
    corner_shift = max(
        sep_deg(*a, *b) for a, b in zip(with_sip.corners_deg, plain.corners_deg, strict=True)
    )
    assert corner_shift > 2 * 7.2 * ARCSEC  # the distortion moves the corners by pixels


def test_text_is_readable_cards():
    text = wcs_to_header_text(celestial_wcs(make_header(10.0, 20.0, 5.0, 0.0)))
    lines = text.splitlines()
    assert lines[-1].startswith("END")
    assert all(len(line) <= 80 for line in lines)
    assert any(line.startswith("CRVAL1") for line in lines)


def test_text_without_newlines_is_accepted():
    wcs = celestial_wcs(make_header(10.0, 20.0, 5.0, 45.0))
    fits_text = wcs.to_header(relax=True).tostring()  # 80-char cards back to back
    back = wcs_from_header_text(fits_text)
    assert_same_geometry(field_geometry(back, 800, 600), field_geometry(wcs, 800, 600))


@pytest.mark.parametrize("text", ["", "this is not a header", "SIMPLE  =                    T"])
def test_text_without_wcs_raises_value_error(text):
    with pytest.raises(ValueError, match=r"WCS|header"):
        wcs_from_header_text(text)


# --- real headers -------------------------------------------------------------------------


def sample_header(name: str) -> fits.Header:
    path = SAMPLES / "fits" / name
    if not path.is_file():
        pytest.skip(f"sample {path} is missing (see ../shared/samples/MANIFEST.md)")
    with fits.open(path) as hdul:
        return hdul[0].header.copy()


@pytest.mark.samples
def test_real_dss_header_has_a_wcs():
    wcs = celestial_wcs(sample_header("HorseHead.fits"))
    assert wcs is not None
    geometry = field_geometry(wcs, 891, 893)
    assert geometry.pixel_scale_arcsec == pytest.approx(1.008, rel=0.01)
    # MANIFEST: centre 05:41:06 -02:27:30.
    assert sep_deg(geometry.ra_deg, geometry.dec_deg, 85.275, -2.4583) < 1.0 / 60


@pytest.mark.samples
@pytest.mark.parametrize("name", ["simple.fits", "M13_blue_0001.fits", "STAR_FOCUS_1.fits"])
def test_real_headers_without_wcs_are_none(name):
    assert celestial_wcs(sample_header(name)) is None


def test_top_down_pictures_report_rotation_and_parity_as_shown():
    # A picture stored top-down whose array +y points 200° east of north shows "up" (−y) at 20°,
    # and a normal-parity array is a mirror image once row 0 is drawn at the top.
    wcs = celestial_wcs(make_header(10.0, 41.0, 7.0, 200.0))
    stored = field_geometry(wcs, 1500, 1000)
    shown = field_geometry(wcs, 1500, 1000, bottom_up=False)
    assert stored.parity == "normal"
    assert shown.parity == "flipped"
    assert angle_diff_deg(shown.rotation_deg, 20.0) < 1e-6
    assert shown.corners_deg == stored.corners_deg


def test_offset_by_agrees_with_astropy_across_ra_0h_and_the_poles():
    ra = np.array([359.5, 0.2, 10.0, 120.0, 200.0])
    dec = np.array([0.0, -30.0, 89.5, -89.9, 45.0])
    sep = np.array([1.0, 2.5, 1.0, 0.5, 30.0])
    pa = np.array([90.0, 270.0, 0.0, 180.0, 45.0])
    got_ra, got_dec = offset_by(ra, dec, sep, pa)
    expected = SkyCoord(ra, dec, unit="deg").directional_offset_by(pa * u.deg, sep * u.deg)
    got = SkyCoord(got_ra, got_dec, unit="deg")
    assert got.separation(expected).arcsec.max() < 1e-6
    assert ((got_ra >= 0) & (got_ra < 360)).all()
