import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.wcs import WCS, Sip

from astrocat_pipeline.core.records import CatalogObject, FieldGeometry
from astrocat_pipeline.core.sky_catalog import (
    ObjectCatalog,
    match_field,
    minimum_object_size_arcmin,
)
from astrocat_pipeline.core.tuning import MATCH_ALL_OBJECTS_MAX_FIELD_DEG
from astrocat_pipeline.core.wcs_geometry import field_geometry


def tan_wcs(ra, dec, scale_arcsec, width, height, rotation_deg=0.0):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [(width + 1) / 2, (height + 1) / 2]
    s = scale_arcsec / 3600.0
    t = np.radians(rotation_deg)
    wcs.wcs.cd = [[-s * np.cos(t), s * np.sin(t)], [s * np.sin(t), s * np.cos(t)]]
    return wcs


def geometry(ra, dec, scale, width, height):
    half_w = width * scale / 3600 / 2
    half_h = height * scale / 3600 / 2
    return FieldGeometry(
        ra_deg=ra,
        dec_deg=dec,
        pixel_scale_arcsec=scale,
        rotation_deg=0.0,
        parity="normal",
        width_deg=2 * half_w,
        height_deg=2 * half_h,
        radius_deg=float(np.hypot(half_w, half_h)),
        corners_deg=(),
    )


def obj(designation, ra, dec, major=None, messier=None, name=None):
    return CatalogObject("NGC", designation, name, "G", ra, dec, major, messier=messier)


CATALOG = ObjectCatalog(
    [
        obj("NGC 1", 0.5, 30.0, messier=None),
        obj("NGC 2", 359.6, 30.2, major=2.0, messier=99, name="Across the seam"),
        obj("NGC 3", 2.5, 30.0),  # beyond the frame edge
        obj("NGC 4", 1.9, 30.0, major=60.0),  # centre outside, extent overlaps
        obj("NGC 5", 180.0, -30.0),  # other side of the sky
    ]
)


def test_match_across_ra_zero_and_by_extent():
    width, height, scale = 1000, 600, 10.8  # 3.0 x 1.8 deg
    wcs = tan_wcs(0.0, 30.0, scale, width, height)
    found = match_field(CATALOG, wcs, width, height, geometry(0.0, 30.0, scale, width, height))
    names = [m.designation for m in found]
    assert set(names) == {"NGC 1", "NGC 2", "NGC 4"}
    assert names[0] == "NGC 2"  # Messier objects first
    m2 = found[0]
    x, y = wcs.all_world2pix([[359.6, 30.2]], 0)[0]
    assert m2.x_px == pytest.approx(x)
    assert m2.y_px == pytest.approx(y)
    assert 0 <= m2.x_px < width  # east is left: RA 359.6 is right of centre
    assert m2.x_px > width / 2


def test_match_around_the_pole():
    catalog = ObjectCatalog(
        [obj("NGC 10", 120.0, 89.5), obj("NGC 11", 300.0, 89.4), obj("NGC 12", 0.0, 85.0)]
    )
    width, height, scale = 1000, 1000, 10.8
    wcs = tan_wcs(0.0, 90.0, scale, width, height)
    found = match_field(catalog, wcs, width, height, geometry(0.0, 90.0, scale, width, height))
    assert {m.designation for m in found} == {"NGC 10", "NGC 11"}


def test_resolve_by_any_name():
    catalog = ObjectCatalog([obj("NGC 224", 10.68, 41.27, 177.8, 31, "Andromeda Galaxy")])
    for text in ["M31", "m 31", "Messier 31", "NGC224", "ngc 0224", "andromeda galaxy"]:
        assert catalog.resolve(text).designation == "NGC 224", text
    assert catalog.resolve("M32") is None


# --- issue 6: ellipses through the WCS, field-size selection, relevance, names ---------------


def ellipse_obj(designation, ra, dec, major, minor, pa, **fields):
    return CatalogObject(
        "NGC", designation, None, "G", ra, dec, major, minor, pa, aliases=(), **fields
    )


def test_object_straddling_the_edge_counts_by_its_ellipse_and_orientation():
    width, height, scale = 1000, 600, 3.6  # 1.0° x 0.6°, north up, east left
    wcs = tan_wcs(50.0, 20.0, scale, width, height)
    geom = geometry(50.0, 20.0, scale, width, height)
    # Centred 0.4° north of the frame centre (0.1° beyond the top edge), 20' x 2'.
    north_ra, north_dec = 50.0, 20.4
    along = ellipse_obj("NGC 1", north_ra, north_dec, 20.0, 2.0, 0.0)  # major axis north-south
    across = ellipse_obj("NGC 2", north_ra, north_dec, 20.0, 2.0, 90.0)  # east-west
    unknown_pa = CatalogObject("NGC", "NGC 3", None, "G", north_ra, north_dec, 20.0, 2.0, None)
    found = match_field(ObjectCatalog([along, across, unknown_pa]), wcs, width, height, geom)
    by_name = {m.designation: m for m in found}
    # The north-south ellipse reaches 10' south of its centre, into the frame; the east-west
    # one only 1'. Without a position angle, any orientation is possible: it counts.
    assert set(by_name) == {"NGC 1", "NGC 3"}
    m = by_name["NGC 1"]
    x, y = wcs.all_world2pix([[north_ra, north_dec]], 0)[0]
    assert (m.x_px, m.y_px) == (pytest.approx(x), pytest.approx(y))
    assert m.y_px > height - 0.5  # the centre is outside the frame, stored as such
    assert (m.minor_axis_arcmin, m.position_angle_deg) == (2.0, 0.0)


def sip_wcs(width, height, scale_arcsec, a20):
    """A TAN-SIP WCS whose distortion moves the frame's edges by tens of pixels."""
    wcs = tan_wcs(120.0, -35.0, scale_arcsec, width, height)
    wcs.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    a = np.zeros((3, 3))
    a[2, 0] = a20
    b = np.zeros((3, 3))
    wcs.sip = Sip(a, b, None, None, wcs.wcs.crpix)
    return wcs


def test_in_frame_test_uses_the_sip_distortion():
    width, height, scale = 800, 800, 9.0  # 2° x 2°
    # x' = x + a20 * u^2: at the left and right edges (u = +-400 px) that is +60 px.
    wcs = sip_wcs(width, height, scale, 60.0 / 400.0**2)
    geom = field_geometry(wcs, width, height)
    # Stars at the pixel positions just inside the right edge and just outside the left one, as
    # the distorted WCS maps them; the linear part alone would put both elsewhere.
    (ra_in, dec_in), (ra_out, dec_out) = wcs.all_pix2world([[790.0, 400.0], [-20.0, 400.0]], 0)
    stars = [
        CatalogObject("HIP", "HIP 1", "Inside", "*", float(ra_in), float(dec_in)),
        CatalogObject("HIP", "HIP 2", "Outside", "*", float(ra_out), float(dec_out)),
    ]
    linear_x = wcs.wcs_world2pix([[ra_in, dec_in], [ra_out, dec_out]], 0)[:, 0]
    assert linear_x[0] > width
    assert 0 < linear_x[1] < width
    found = match_field(ObjectCatalog(stars), wcs, width, height, geom)
    assert [m.designation for m in found] == ["HIP 1"]
    assert found[0].x_px == pytest.approx(790.0, abs=0.01)


def test_frame_containing_the_pole_matches_objects_all_around_it():
    width, height, scale = 1200, 800, 9.0  # 3° x 2°
    wcs = tan_wcs(200.0, 89.6, scale, width, height, rotation_deg=40.0)
    geom = field_geometry(wcs, width, height)
    objects = [obj("NGC 20", ra, 89.3) for ra in (0.0, 90.0, 180.0, 270.0, 359.9)] + [
        obj("NGC 21", 20.0, 87.0, major=300.0),
        obj("NGC 22", 20.0, 86.0, major=10.0),
    ]
    catalog = ObjectCatalog(
        [
            CatalogObject(
                o.catalog,
                f"{o.designation}.{i}",
                None,
                "G",
                o.ra_deg,
                o.dec_deg,
                o.major_axis_arcmin,
            )
            for i, o in enumerate(objects)
        ]
    )
    found = match_field(catalog, wcs, width, height, geom)
    pixels = wcs.all_world2pix([[o.ra_deg, o.dec_deg] for o in catalog.objects], 0)
    expected = {
        o.designation
        for o, (x, y) in zip(catalog.objects, pixels, strict=True)
        if -0.5 <= x <= width - 0.5 and -0.5 <= y <= height - 0.5
    }
    expected.add("NGC 21.5")  # 5° across, centred 2.6° from the pole: reaches into the frame
    assert {m.designation for m in found} == expected
    assert "NGC 22.6" not in expected


def test_wide_fields_list_named_messier_stars_and_large_objects_only():
    assert minimum_object_size_arcmin(1.0) is None
    assert minimum_object_size_arcmin(MATCH_ALL_OBJECTS_MAX_FIELD_DEG) is None
    assert minimum_object_size_arcmin(40.0) == pytest.approx(40 * 0.5)
    catalog = ObjectCatalog(
        [
            CatalogObject("NGC", "NGC 100", None, "G", 10.0, 0.0, 2.0),  # small, unnamed
            CatalogObject("NGC", "NGC 101", None, "Neb", 10.5, 0.5, 60.0),  # large
            CatalogObject("NGC", "NGC 102", "Named", "G", 9.5, -0.5, 1.0),
            CatalogObject("NGC", "NGC 103", None, "G", 9.0, 1.0, 1.0, messier=120),
            CatalogObject("HIP", "HIP 9", "Star", "*", 11.0, -1.0, magnitude=2.0),
        ]
    )
    narrow = tan_wcs(10.0, 0.0, 3.6, 4000, 4000)  # 4° x 4°
    found = match_field(catalog, narrow, 4000, 4000, field_geometry(narrow, 4000, 4000))
    assert len(found) == 5
    wide = tan_wcs(10.0, 0.0, 36.0, 4000, 2700)  # 40° x 27°
    found = match_field(catalog, wide, 4000, 2700, field_geometry(wide, 4000, 2700))
    assert [m.designation for m in found] == ["NGC 103", "NGC 102", "HIP 9", "NGC 101"]


def test_relevance_messier_then_named_then_size_then_brightness_without_a_cap():
    rng = np.random.default_rng(4)
    n = 400  # far more than any listing would show: all of them come back
    objects = [
        CatalogObject(
            "NGC",
            f"NGC {1000 + i}",
            None,
            "G",
            10 + rng.uniform(-1, 1),
            rng.uniform(-1, 1),
            rng.uniform(0.5, 5),
        )
        for i in range(n)
    ] + [
        CatalogObject("HIP", "HIP 1", "Bright", "*", 10.2, 0.2, magnitude=1.0),
        CatalogObject("HIP", "HIP 2", "Faint", "*", 10.3, 0.3, magnitude=5.0),
        CatalogObject("NGC", "NGC 1", "Big nebula", "Neb", 10.1, 0.1, 30.0),
        CatalogObject("NGC", "NGC 2", None, "G", 10.0, 0.0, 8.0, messier=33),
        CatalogObject("NGC", "NGC 3", None, "G", 10.4, 0.4, 1.0, messier=32),
    ]
    wcs = tan_wcs(10.0, 0.0, 3.6, 3000, 3000)  # 3° x 3°
    found = match_field(ObjectCatalog(objects), wcs, 3000, 3000, field_geometry(wcs, 3000, 3000))
    assert len(found) == n + 5
    assert [m.designation for m in found[:5]] == ["NGC 2", "NGC 3", "NGC 1", "HIP 1", "HIP 2"]
    sizes = [m.major_axis_arcmin for m in found[5:]]
    assert sizes == sorted(sizes, reverse=True)


def test_galactic_wcs_is_read_in_its_own_frame():
    width, height, scale = 1000, 1000, 7.2  # 2° x 2°
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["GLON-TAN", "GLAT-TAN"]
    wcs.wcs.crval = [0.0, 0.0]  # the Galactic Centre
    wcs.wcs.crpix = [(width + 1) / 2, (height + 1) / 2]
    wcs.wcs.cdelt = [-scale / 3600, scale / 3600]
    geom = field_geometry(wcs, width, height)
    sgr_a = CatalogObject("X", "X 1", "Sgr A*", "*", 266.41683, -29.00781)  # ICRS
    far = CatalogObject("X", "X 2", "Elsewhere", "*", 266.41683 + 3, -29.00781)
    found = match_field(ObjectCatalog([sgr_a, far]), wcs, width, height, geom)
    assert [m.designation for m in found] == ["X 1"]
    galactic = SkyCoord(266.41683, -29.00781, unit="deg").galactic  # l 359.94°, b -0.05°
    x, y = wcs.all_world2pix([[galactic.l.deg, galactic.b.deg]], 0)[0]
    assert (found[0].x_px, found[0].y_px) == (pytest.approx(x), pytest.approx(y))
    assert x == pytest.approx(527.4, abs=0.5)  # not at the centre, where RA/Dec read as l/b would


def test_resolve_star_names_designations_and_accents():
    catalog = ObjectCatalog.merge(
        [
            ObjectCatalog([obj("NGC 224", 10.68, 41.27, 177.8, 31, "Andromeda Galaxy")]),
            ObjectCatalog(
                [
                    CatalogObject("HIP", "HIP 91262", "Vega", "*", 279.23, 38.78),
                    CatalogObject("HIP", "HIP 6643", "Bélénos", "*", 21.3, 28.6),
                ]
            ),
        ]
    )
    assert len(catalog) == 3
    for text in ["Vega", "VEGA", " vega ", "HIP 91262", "hip91262"]:
        assert catalog.resolve(text).designation == "HIP 91262", text
    for text in ["Bélénos", "Belenos", "BELENOS"]:
        assert catalog.resolve(text).designation == "HIP 6643", text
    for text in ["Andromeda  Galaxy", "Messier31", "M-31"]:
        assert catalog.resolve(text).designation == "NGC 224", text
    assert catalog.resolve("Altair") is None
