"""Object designations in one spelling, and names folded for lookups.

"M31", "m 031", "Messier 31" -> "M 31"; "NGC224", "NGC 0224", "ngc 224" -> "NGC 224";
"Caldwell 14" -> "C 14"; "HIP91262" -> "HIP 91262". Common names ("Andromeda Galaxy", "Vega")
are not designations: the object catalog resolves those, compared with :func:`fold_name`.
"""

from __future__ import annotations

import re
import unicodedata

# Catalog names spelled out in full, and the prefix they stand for.
_CATALOG_WORDS = {
    "MESSIER": "M",
    "CALDWELL": "C",
    "MELOTTE": "Mel",
    "COLLINDER": "Cr",
    "BARNARD": "B",
}
_CATALOG_WORD = re.compile(
    r"^\s*(" + "|".join(_CATALOG_WORDS) + r")(?=[\s\d_-])\s*[-_]?\s*", re.IGNORECASE
)
_CATALOG_NUMBER = re.compile(r"^\s*([A-Za-z]+)\s*[-_ ]?\s*0*(\d+)\s*(.*?)\s*$")

# Preferred spellings of catalog prefixes; others are upper-cased.
_PREFIXES = {"MEL": "Mel", "CR": "Cr", "B": "B", "C": "C"}


def normalize_designation(text: str | None) -> str | None:
    """The canonical spelling of a catalog designation, or None for text that is not one.

    A designation is a catalog prefix and a number ("NGC 224", "M 31", "IC 434", "HIP 91262"),
    optionally followed by a component letter ("NGC 5195A") or a second number ("Sh 2-155").
    Leading zeros go, the prefix is upper-cased ("Mel", "Cr" keep their usual spelling) and
    catalog names spelled out ("Messier", "Caldwell", "Melotte", "Collinder", "Barnard") become
    their prefix. Common names ("Andromeda Galaxy") are not designations: resolve those through
    the object catalog.
    """
    if not text:
        return None
    cleaned = _CATALOG_WORD.sub(lambda m: _CATALOG_WORDS[m.group(1).upper()] + " ", text.strip())
    match = _CATALOG_NUMBER.match(cleaned)
    if not match:
        return None
    prefix, number, rest = match.groups()
    upper = prefix.upper()
    spelled = _PREFIXES.get(upper, upper)
    rest = rest.upper().replace(" ", "")
    if rest and not re.fullmatch(r"[A-Z]|-\d+|NED\d+", rest):
        return None  # "M31 mosaic panel 2" is not a designation
    return f"{spelled} {int(number)}{rest}"


def messier_designation(number: int) -> str:
    return f"M {number}"


def fold_name(text: str) -> str:
    """A name folded for comparison: case, accents and spacing ignored.

    "Andromeda  galaxy" and "ANDROMEDA GALAXY" fold alike, and so do "Bélénos" and "Belenos"
    (the IAU spells some star names with diacritics that users do not type).
    """
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())
