"""Every keyword the catalog stores from a FITS header equals what astropy reads.

A seeded generator writes thousands of real FITS files (2880-byte blocks, an END card) whose
headers mix what capture and processing software write and what the standard allows: CONTINUE
long strings, HIERARCH keywords, quotes inside strings, blank, COMMENT and HISTORY cards,
booleans, complex values, numbers with odd spacing and ``D`` exponents, undefined values,
repeated keywords and non-ASCII bytes. Each file is read through the pipeline's one way in
(``read_header``) and by astropy (``Header[keyword]``), and the two are compared key by key and
on the normalized metadata. A few headers carry cards the fast parser leaves to astropy (values
astropy cannot parse, record-valued cards, cards without a value indicator); those files must be
read by astropy and still agree.
"""

from __future__ import annotations

import dataclasses
import gzip
import random
import warnings
from pathlib import Path
from typing import Any

import pytest
from astropy.io import fits
from astropy.io.fits.card import Undefined

from astrocat_pipeline.core.loading import read_header
from astrocat_pipeline.core.metadata import normalize_metadata
from astrocat_pipeline.core.readers.base import HeaderTextWarning, plain_value
from astrocat_pipeline.core.readers.fits_reader import _fast_primary
from astrocat_pipeline_tests.samples import needs_samples, sample

HEADERS = 3000
SEED = 20261207

# Keywords normalize_metadata reads, so the metadata comparison covers what the catalog uses.
STRING_KEYS = ["OBJECT", "FILTER", "IMAGETYP", "INSTRUME", "TELESCOP", "OBJCTRA", "OBJCTDEC"]
NUMBER_KEYS = ["EXPTIME", "GAIN", "OFFSET", "CCD-TEMP", "XPIXSZ", "FOCALLEN", "XBINNING", "RA"]
OTHER_KEYS = ["SWCREATE", "PIERSIDE", "SITENAME", "OBSERVER", "ROWORDER", "FOCUSPOS", "DEC"]
WORDS = [
    "NGC 7000",
    "North America Nebula",
    "IC 5070",
    "Pelican",
    "mosaic panel 3 of 4",
    "OIII",
    "Ha",
    "Light Frame",
    "ZWO ASI2600MM Pro",
    "Barnard's Loop",
    "it's",
    "a/b",
    "  lead",
    "x & y",
    "''",
    "M 31",
    "Panel: 2 of 4",  # ': ' in a string that is not a record-valued card
    "",
]
HIERARCH_NAMES = ["ESO DET DIT", "eso det dit", "NINA FOCUSER POS", "Camera  Sensor Temp", "GAIN"]


def card(text: str) -> str:
    """One 80-column card image (the generator never writes longer text into one card)."""
    assert len(text) <= 80, text
    return text.ljust(80)


def fixed(key: str, value: str, comment: str | None = None) -> str:
    """A value card with the value right-justified in columns 11-30 when it fits."""
    text = f"{key:<8}= {value:>20}"
    return card(text if comment is None else f"{text} / {comment}"[:80])


def quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def string_value(rng: random.Random) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))
    return text[:60]


def number_text(rng: random.Random) -> str:
    kind = rng.randrange(9)
    number = rng.uniform(-1000, 1000)
    if kind == 0:
        return str(rng.randint(-5000, 5000))
    if kind == 1:
        return f"{'-' if rng.random() < 0.5 else '+'}  {rng.randint(0, 999):04d}"  # odd spacing
    if kind == 2:
        return f"{number:.6E}".replace("E", "D")  # Fortran double exponent
    if kind == 3:
        return f"{number:.3e}".replace("e", rng.choice(["d ", "e", "E ", "D"]))
    if kind == 4:
        return f"{abs(number):.0f}."  # trailing point
    if kind == 5:
        return f".{rng.randint(0, 99999)}"
    if kind == 6:
        return f"{number:.10g}"
    if kind == 7:
        return f"{rng.randint(0, 9)}E{rng.randint(-5, 5)}"  # astropy reads '1E5' as a float
    return f"{number:.2f}".rjust(rng.randint(5, 30))


def _value_card(rng: random.Random, key: str) -> list[str]:
    """One keyword's card(s), of any value type."""
    kind = rng.randrange(12)
    comment = rng.choice([None, None, "a comment", "it's/odd", "x = 'y'", "[s] exposure: 300"])
    if kind <= 3:
        return [fixed(key, number_text(rng), comment)]
    if kind == 4:
        return [fixed(key, rng.choice("TF"), comment)]
    if kind == 5:
        real, imag = number_text(rng).strip(), number_text(rng).strip()
        return [fixed(key, f"({real},{' ' * rng.randint(0, 2)}{imag})", comment)]
    if kind == 6:
        return [card(f"{key:<8}=" + rng.choice(["", " ", "   / undefined value"]))]
    if kind == 7:
        # A long string as astropy and N.I.N.A. write it: '&'-continued CONTINUE cards.
        text = rng.choice(WORDS)
        while len(text) < rng.randint(75, 200):
            text += " " + rng.choice(WORDS)
        image = fits.Card(key, text, comment or "").image
        return [image[i : i + 80] for i in range(0, len(image), 80)]
    if kind == 8:
        return _hand_made_continue(rng, key)
    value = quoted(string_value(rng))
    spaces = " " * rng.randint(0, 3)
    text = f"{key:<8}= {spaces}{value}"
    if len(text) > 80:
        text = f"{key:<8}= 'overflow'"
    if comment and len(text) + len(comment) + 3 <= 80:
        text += f" / {comment}"
    return [card(text)]


def _hand_made_continue(rng: random.Random, key: str) -> list[str]:
    """CONTINUE cards as other writers make them: '&' or not, spaces before '&', doubled quotes
    across pieces, comments on the continuation cards, an empty last piece."""
    pieces = [rng.choice(WORDS).replace("'", "''") for _ in range(rng.randint(2, 4))]
    cards = []
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        amp = "" if last else rng.choice(["&", "&", " &", ""])
        body = f"'{piece}{amp}'"
        if rng.random() < 0.3:
            body += " / part"
        prefix = f"{key:<8}= " if index == 0 else "CONTINUE  "
        cards.append(card(prefix + body))
    if rng.random() < 0.2:
        cards.append(card("CONTINUE  '' / end"))
    return cards


def _hierarch_cards(rng: random.Random) -> list[str]:
    name = rng.choice(HIERARCH_NAMES)
    if rng.random() < 0.2:
        # A long string under a HIERARCH name, continued as astropy writes it.
        text = " ".join(rng.choice(WORDS) for _ in range(12))
        image = fits.Card(f"HIERARCH {name}", text).image
        return [image[i : i + 80] for i in range(0, len(image), 80)]
    value = rng.choice([number_text(rng).strip(), rng.choice("TF"), quoted(string_value(rng)[:30])])
    spaces = " " * rng.randint(0, 2)
    return [card(f"HIERARCH {name}{spaces}= {value}"[:80])]


def _commentary_card(rng: random.Random) -> str:
    text = rng.choice(["", " ", "Calibrated with master dark", "  indented", "a = 'b'", "CONTINUE"])
    return card(f"{rng.choice(['COMMENT ', 'HISTORY ', '        '])}{text}")


NON_ASCII_CARDS = [
    "OBSERVER= 'Ren\xe9e'",  # a latin-1 byte
    "SITENAME= 'M\xc3\xbcnchen' / UTF-8 bytes",
    "COMMENT   Temperature in \xb0C",
    "FOCTEMP =                  8.5 / \xb0C",
]


# Cards the fast parser leaves to astropy: it cannot read them with certainty.
DECLINED_CARDS = [
    ["CCD-TEMP= NaN"],  # astropy cannot parse these values
    ["GAIN    = 5 junk"],
    ["SIMPLEX = TRUE"],
    ["FILTER  = 'Position: 3'"],  # astropy reads it as a record-valued card
    ["NOTE    free text without a value indicator"],
    ["EXPTIME = 300", "CONTINUE  'more'"],  # astropy cannot read a number continued
    ["COMMENT   note", "CONTINUE  'orphan'"],  # astropy makes one long comment of these
    ["FOCUSPOS=12345"],  # no space after '=': not a value indicator
]


def generate(rng: random.Random) -> tuple[list[str], bool, bool]:
    """Card images (text, one character per byte) of one header, whether it holds a card the
    fast parser declines, and whether it holds non-ASCII bytes."""
    groups = []  # a card with its CONTINUE cards stays one group
    keys = rng.sample(STRING_KEYS + NUMBER_KEYS + OTHER_KEYS, rng.randint(4, 14))
    for key in keys:
        groups.append(_value_card(rng, key))
        if rng.random() < 0.1:
            groups.append(_value_card(rng, key))  # a repeated keyword
    for _ in range(rng.randint(0, 4)):
        groups.insert(rng.randrange(len(groups) + 1), _hierarch_cards(rng))
    for _ in range(rng.randint(0, 5)):
        groups.insert(rng.randrange(len(groups) + 1), [_commentary_card(rng)])
    declined = rng.random() < 0.05
    if declined:
        extra = [card(text) for text in rng.choice(DECLINED_CARDS)]
        groups.insert(rng.randrange(len(groups) + 1), extra)
    non_ascii = rng.random() < 0.05
    if non_ascii:
        groups.insert(rng.randrange(len(groups) + 1), [card(rng.choice(NON_ASCII_CARDS))])
    cards = [
        fixed("SIMPLE", "T"),
        fixed("BITPIX", "16"),
        fixed("NAXIS", "2"),
        fixed("NAXIS1", "2"),
        fixed("NAXIS2", "2"),
    ]
    return cards + [image for group in groups for image in group], declined, non_ascii


def write(path: Path, cards: list[str]) -> None:
    text = "".join(cards) + card("END")
    text += " " * (-len(text) % 2880)
    data = b"\0" * 8 + b"\0" * (2880 - 8)  # 2x2 int16 pixels, padded to a block
    path.write_bytes(text.encode("latin-1") + data)


def astropy_keywords(header: fits.Header) -> dict[str, Any]:
    """Every keyword of a header as astropy's ``Header[keyword]`` returns it: the reference."""
    out: dict[str, Any] = {}
    seen: set[str] = set()
    for image in header.cards:
        # A record-valued card is also looked up by its own keyword (header['FILTER']).
        key = image.rawkeyword if image.field_specifier else image.keyword
        if not key or fits.Card.normalize_keyword(key) in seen:
            continue
        seen.add(fits.Card.normalize_keyword(key))
        if key in ("COMMENT", "HISTORY"):
            out[key] = "\n".join(str(line) for line in header[key])
            continue
        try:
            value = header[key]
        except fits.VerifyError:
            value = None  # astropy cannot read a value from the card
        out[key] = None if isinstance(value, Undefined) else plain_value(value)
    return out


def _read_both(path: Path) -> tuple[Any, dict[str, Any], list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        header = read_header(path)
        reference = astropy_keywords(fits.getheader(path))
    return header, reference, list(caught)


def _differences(got: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    lines = []
    for key in sorted(set(got) | set(expected)):
        if got.get(key, "<missing>") != expected.get(key, "<missing>"):
            read, reference = got.get(key, "<missing>"), expected.get(key, "<missing>")
            lines.append(f"{key!r}: read {read!r}, astropy {reference!r}")
    return lines


def test_generated_headers_agree_with_astropy_key_by_key(tmp_path):
    rng = random.Random(SEED)
    disagreements: list[str] = []
    fast_files = declined_files = 0
    for number in range(HEADERS):
        cards, declined, non_ascii = generate(rng)
        path = tmp_path / f"h{number:04d}.fits"
        write(path, cards)
        header, reference, caught = _read_both(path)
        differences = _differences(header.keywords, reference)
        if differences:
            disagreements.append(f"{path.name}: " + "; ".join(differences[:3]))
            if len(disagreements) == 1:
                disagreements.append("\n".join(cards))
        as_astropy = dataclasses.replace(header, keywords=reference)
        if normalize_metadata(str(path), header) != normalize_metadata(str(path), as_astropy):
            disagreements.append(f"{path.name}: normalized metadata differs")
        # The fast path makes no astropy Header for a header without a WCS (none here has one).
        took_fast = header.fits_header is None
        fast_files += took_fast
        declined_files += declined
        if not declined and not took_fast:
            disagreements.append(f"{path.name}: left to astropy without a declined card")
        warned = any(issubclass(w.category, HeaderTextWarning) for w in caught)
        if warned != non_ascii:
            disagreements.append(f"{path.name}: non-ASCII warning {warned}, expected {non_ascii}")
        path.unlink()
    assert not disagreements, "\n".join(disagreements[:20])
    assert declined_files > 50  # the astropy path was exercised
    assert fast_files >= HEADERS - declined_files


NORTH_AMERICA = "NGC 7000 North America Nebula and IC 5070 Pelican Nebula mosaic panel 3 of 4 OIII"


def test_long_object_name_is_kept_whole(tmp_path):
    """The issue's example: N.I.N.A. writes a long OBJECT over CONTINUE cards."""
    image = fits.Card("OBJECT", NORTH_AMERICA).image
    cards = [fixed("SIMPLE", "T"), fixed("BITPIX", "16"), fixed("NAXIS", "2")]
    cards += [fixed("NAXIS1", "2"), fixed("NAXIS2", "2")]
    cards += [image[i : i + 80] for i in range(0, len(image), 80)]
    path = tmp_path / "long.fits"
    write(path, cards)
    assert _fast_primary(path) is not None
    assert read_header(path).keywords["OBJECT"] == NORTH_AMERICA
    assert normalize_metadata(str(path), read_header(path)).object == NORTH_AMERICA


@pytest.mark.parametrize("declined", DECLINED_CARDS, ids=lambda cards: cards[0][:10])
def test_cards_the_fast_parser_declines_go_to_astropy(tmp_path, declined):
    cards = [fixed("SIMPLE", "T"), fixed("BITPIX", "16"), fixed("NAXIS", "2")]
    cards += [fixed("NAXIS1", "2"), fixed("NAXIS2", "2"), fixed("OBJECT", "'M 42'")]
    cards += [card(text) for text in declined]
    path = tmp_path / "declined.fits"
    write(path, cards)
    assert _fast_primary(path) is None
    header, reference, _ = _read_both(path)
    assert header.keywords == reference
    assert header.keywords["OBJECT"] == "M 42"


def test_record_valued_text_is_kept_under_its_own_keyword(tmp_path):
    """astropy files ``FILTER = 'Position: 3'`` under ``FILTER.Position`` = 3.0 but its
    ``header['FILTER']`` gives the text; the catalog keeps the filter's name."""
    cards = [fixed("SIMPLE", "T"), fixed("BITPIX", "16"), fixed("NAXIS", "2")]
    cards += [fixed("NAXIS1", "2"), fixed("NAXIS2", "2"), card("FILTER  = 'Position: 3'")]
    path = tmp_path / "rvkc.fits"
    write(path, cards)
    assert fits.getheader(path)["FILTER"] == "Position: 3"
    assert normalize_metadata(str(path), read_header(path)).filter == "Position: 3"


@pytest.mark.parametrize("gzipped", [False, True], ids=["fast", "astropy"])
def test_non_ascii_bytes_are_replaced_with_a_warning_naming_the_file(tmp_path, gzipped):
    cards = [fixed("SIMPLE", "T"), fixed("BITPIX", "16"), fixed("NAXIS", "2")]
    cards += [fixed("NAXIS1", "2"), fixed("NAXIS2", "2"), card("OBSERVER= 'Ren\xe9e'")]
    plain = tmp_path / "obs.fits"
    write(plain, cards)
    path = plain
    if gzipped:
        path = tmp_path / "obs.fits.gz"
        path.write_bytes(gzip.compress(plain.read_bytes()))
    with pytest.warns(HeaderTextWarning, match=rf"{path.name}: the FITS header holds"):
        header = read_header(path)
    assert header.keywords["OBSERVER"] == "Ren?e"  # as astropy replaces it


@needs_samples
@pytest.mark.parametrize(
    "relative",
    [
        "fits/HorseHead.fits",
        "fits/M6707HH.fits",
        "fits/gc_2mass_k.fits",
        "fits/M13_blue_0001.fits",
        "fits/simple.fits",
        "fits/STAR_FOCUS_1.fits",
        "fits/multi.fits",
        "synthetic/m31_3deg.fits.gz",
    ],
)
def test_real_fits_headers_agree_with_astropy(relative):
    path = sample(relative)
    header, _, _ = _read_both(path)
    with fits.open(path) as hdul:
        reference = astropy_keywords(hdul[header.hdu_index].header)
        if header.hdu_index:
            # An extension's frame inherits the primary header's keywords it lacks.
            for key, value in astropy_keywords(hdul[0].header).items():
                reference.setdefault(key, value)
    assert not _differences(header.keywords, reference)


def test_a_non_standard_end_card_leaves_the_file_to_astropy(tmp_path):
    cards = [fixed("SIMPLE", "T"), fixed("BITPIX", "16"), fixed("NAXIS", "2")]
    cards += [fixed("NAXIS1", "2"), fixed("NAXIS2", "2"), fixed("OBJECT", "'M 42'")]
    path = tmp_path / "end.fits"
    text = "".join(cards) + card("END     trailing text")
    text += " " * (-len(text) % 2880)
    path.write_bytes(text.encode("ascii") + b"\0" * 2880)
    assert _fast_primary(path) is None
    header, reference, _ = _read_both(path)
    assert header.keywords == reference
