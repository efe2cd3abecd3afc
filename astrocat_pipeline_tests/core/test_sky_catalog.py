import numpy as np
import pytest
from astropy.wcs import WCS

from astrocat_pipeline.core.records import CatalogObject, FieldGeometry
from astrocat_pipeline.core.sky_catalog import ObjectCatalog, match_field


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
