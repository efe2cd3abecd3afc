"""Object designations in one spelling: "M31", "m 031", "Messier 31" -> "M 31";
"NGC224", "NGC 0224", "ngc 224" -> "NGC 224"."""

from __future__ import annotations

import re

_MESSIER_WORD = re.compile(r"^\s*messier\s*", re.IGNORECASE)
_CATALOG_NUMBER = re.compile(r"^\s*([A-Za-z]+)\s*[-_ ]?\s*0*(\d+)\s*(.*?)\s*$")

# Preferred spellings of catalog prefixes; others are upper-cased.
_PREFIXES = {"MEL": "Mel", "CR": "Cr", "B": "B", "C": "C"}


def normalize_designation(text: str | None) -> str | None:
    """The canonical spelling of a catalog designation, or None for text that is not one.

    Common names ("Andromeda Galaxy") are not designations: resolve those through the object
    catalog.
    """
    if not text:
        return None
    cleaned = _MESSIER_WORD.sub("M ", text.strip())
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
