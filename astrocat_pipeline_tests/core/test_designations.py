import pytest

from astrocat_pipeline.core.designations import fold_name, normalize_designation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("M31", "M 31"),
        ("M 31", "M 31"),
        ("m031", "M 31"),
        ("M-31", "M 31"),
        ("Messier 31", "M 31"),
        ("messier31", "M 31"),
        ("NGC224", "NGC 224"),
        ("NGC 0224", "NGC 224"),
        ("ngc 224", "NGC 224"),
        ("IC434", "IC 434"),
        ("NGC 5195A", "NGC 5195A"),
        ("Mel022", "Mel 22"),
        ("Melotte 22", "Mel 22"),
        ("Collinder 399", "Cr 399"),
        ("Caldwell 14", "C 14"),
        ("Barnard 33", "B 33"),
        ("HIP91262", "HIP 91262"),
        ("Sh2-155", "SH 2-155"),
        ("Andromeda Galaxy", None),
        ("Barnard's Star", None),
        ("Messier", None),
        ("M31 mosaic panel 2", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_designation(text, expected):
    assert normalize_designation(text) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Andromeda Galaxy", "  andromeda   GALAXY "),
        ("Bélénos", "Belenos"),
        ("Tupã", "TUPA"),
        ("Mönch", "monch"),
    ],
)
def test_fold_name_ignores_case_accents_and_spacing(a, b):
    assert fold_name(a) == fold_name(b)


def test_fold_name_keeps_different_names_apart():
    assert fold_name("Alula Australis") != fold_name("Alula Borealis")
