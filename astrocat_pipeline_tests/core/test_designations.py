import pytest

from astrocat_pipeline.core.designations import normalize_designation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("M31", "M 31"),
        ("M 31", "M 31"),
        ("m031", "M 31"),
        ("Messier 31", "M 31"),
        ("NGC224", "NGC 224"),
        ("NGC 0224", "NGC 224"),
        ("ngc 224", "NGC 224"),
        ("IC434", "IC 434"),
        ("NGC 5195A", "NGC 5195A"),
        ("Mel022", "Mel 22"),
        ("Andromeda Galaxy", None),
        ("M31 mosaic panel 2", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_designation(text, expected):
    assert normalize_designation(text) == expected
