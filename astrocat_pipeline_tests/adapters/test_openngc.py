import pytest

from astrocat_pipeline.adapters.openngc import load_openngc


@pytest.fixture(scope="module")
def catalog():
    return load_openngc()


def test_openngc_loads_real_objects(catalog):
    assert len(catalog) > 13000
    m31 = catalog.resolve("Andromeda Galaxy")
    assert m31.designation == "NGC 224"
    assert m31.messier == 31
    assert m31.ra_deg == pytest.approx(10.6847, abs=1e-3)
    assert m31.dec_deg == pytest.approx(41.2687, abs=1e-3)
    assert m31.major_axis_arcmin > 100


@pytest.mark.parametrize(
    ("name", "designation"),
    [("M45", "Mel 22"), ("Pleiades", "Mel 22"), ("M42", "NGC 1976"), ("NGC 7789", "NGC 7789")],
)
def test_openngc_resolves_names(catalog, name, designation):
    assert catalog.resolve(name).designation == designation


def test_duplicates_are_not_objects(catalog):
    # IC 11 is an OpenNGC duplicate record of NGC 281.
    assert catalog.resolve("IC 11") is None
