"""A column of a FITS binary table read straight from the file: the engine's match file.

astrometry-engine writes its best match as a one-row binary table of 36 columns (``job.match``)
whose ``LOGODDS`` the solution is checked against. astropy builds every column's definition and
the whole table to give one value: 27-30 ms a file, as much as a hinted search takes on a small
frame. A binary table is a header of 80-character cards in 2,880-byte blocks and then rows of
fixed width, big-endian (the FITS standard 4.0, section 7.3), so one column is a strided view
of the rows once the header has said where it is.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import BinaryIO

import numpy as np

_BLOCK = 2880
_CARD = 80
# Bytes per element of each TFORM type code (section 7.3.3.1); X is bits, P and Q descriptors.
_ELEMENT_BYTES = {
    "L": 1,
    "B": 1,
    "I": 2,
    "J": 4,
    "K": 8,
    "A": 1,
    "E": 4,
    "D": 8,
    "C": 8,
    "M": 16,
    "P": 8,
    "Q": 16,
}
_NUMERIC = {"B": "u1", "I": ">i2", "J": ">i4", "K": ">i8", "E": ">f4", "D": ">f8"}
_TFORM = re.compile(r"^\s*(\d*)([LXBIJKAEDCMPQ])")
_MAX_HEADER_BYTES = 100 * _BLOCK  # a header this long is not the engine's


class FitsTableError(ValueError):
    """The file is not a FITS file with a binary table of the expected shape."""


def read_column(path: Path, name: str, extension: int = 1) -> np.ndarray:
    """The values of column ``name`` of the binary table in HDU ``extension`` (0 is the
    primary), one per row; a column with a repeat count gives the rows' first elements.

    Only numeric columns (``B``, ``I``, ``J``, ``K``, ``E``, ``D``) can be read. Raises
    :class:`FitsTableError` when the file, the HDU or the column is not what is asked for,
    and OSError when the file cannot be read."""
    with path.open("rb") as stream:
        cards = _header(stream, path)
        for _ in range(extension):
            stream.seek(_padded(_data_bytes(cards, path)), 1)
            cards = _header(stream, path)
        if cards.get("XTENSION") != "BINTABLE":
            raise FitsTableError(f"{path}: HDU {extension} is not a binary table")
        row_bytes, rows = _int(cards, "NAXIS1", path), _int(cards, "NAXIS2", path)
        offset = 0
        for number in range(1, _int(cards, "TFIELDS", path) + 1):
            repeat, code = _tform(cards, number, path)
            if cards.get(f"TTYPE{number}") == name:
                if code not in _NUMERIC:
                    raise FitsTableError(f"{path}: column {name} of type {code} is not numeric")
                if repeat < 1 or offset + np.dtype(_NUMERIC[code]).itemsize > row_bytes:
                    raise FitsTableError(f"{path}: column {name} lies outside its rows")
                data = stream.read(row_bytes * rows)
                if len(data) < row_bytes * rows:
                    raise FitsTableError(f"{path}: the table ends before its {rows} rows")
                dtype = np.dtype(
                    {
                        "names": ["v"],
                        "formats": [_NUMERIC[code]],
                        "offsets": [offset],
                        "itemsize": row_bytes,
                    }
                )
                values = np.frombuffer(data, dtype=dtype, count=rows)["v"]
                return values.astype(values.dtype.newbyteorder("="))
            offset += (repeat + 7) // 8 if code == "X" else repeat * _ELEMENT_BYTES[code]
    raise FitsTableError(f"{path}: HDU {extension} has no column {name}")


def _header(stream: BinaryIO, path: Path) -> dict[str, str | int | bool]:
    """The keyword values of the header at the stream's position, which is left after it."""
    cards: dict[str, str | int | bool] = {}
    read = 0
    while read < _MAX_HEADER_BYTES:
        block = stream.read(_BLOCK)
        read += len(block)
        if len(block) < _BLOCK:
            raise FitsTableError(f"{path}: the file ends inside a header")
        for start in range(0, _BLOCK, _CARD):
            card = block[start : start + _CARD].decode("ascii", errors="replace")
            keyword = card[:8].rstrip()
            if keyword == "END":
                return cards
            if card[8:10] == "= ":
                cards[keyword] = _value(card[10:])
    raise FitsTableError(f"{path}: no END card in the first {_MAX_HEADER_BYTES} bytes")


def _value(text: str) -> str | int | bool:
    """A card's value: a string (quotes and trailing blanks taken off), a logical, an integer,
    or the raw text for anything else (reals and complex values are not needed here)."""
    text = text.strip()
    if text.startswith("'"):
        # '' inside a string is one quote; the string ends at the first lone quote.
        chars: list[str] = []
        index = 1
        while index < len(text):
            if text[index] == "'":
                if text[index + 1 : index + 2] == "'":
                    chars.append("'")
                    index += 2
                    continue
                break
            chars.append(text[index])
            index += 1
        return "".join(chars).rstrip()
    value = text.split("/", 1)[0].strip()
    if value in ("T", "F"):
        return value == "T"
    try:
        return int(value)
    except ValueError:
        return value


def _int(cards: dict[str, str | int | bool], keyword: str, path: Path) -> int:
    value = cards.get(keyword)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise FitsTableError(f"{path}: {keyword} is {value!r}, not a count")
    return value


def _tform(cards: dict[str, str | int | bool], number: int, path: Path) -> tuple[int, str]:
    match = _TFORM.match(str(cards.get(f"TFORM{number}", "")))
    if match is None:
        raise FitsTableError(f"{path}: TFORM{number} is {cards.get(f'TFORM{number}')!r}")
    return int(match.group(1) or 1), match.group(2)


def _data_bytes(cards: dict[str, str | int | bool], path: Path) -> int:
    """Bytes of the data after a header, before padding (section 4.4.1)."""
    axes = _int(cards, "NAXIS", path)
    if axes == 0:
        return 0
    bitpix = cards.get("BITPIX")
    if not isinstance(bitpix, int) or isinstance(bitpix, bool) or bitpix == 0:
        raise FitsTableError(f"{path}: BITPIX is {bitpix!r}")
    elements = 1
    for axis in range(1, axes + 1):
        elements *= _int(cards, f"NAXIS{axis}", path)
    extra = cards.get("PCOUNT", 0)
    groups = cards.get("GCOUNT", 1)
    extra = extra if isinstance(extra, int) and not isinstance(extra, bool) else 0
    groups = groups if isinstance(groups, int) and not isinstance(groups, bool) else 1
    return abs(bitpix) // 8 * groups * (extra + elements)


def _padded(size: int) -> int:
    return -(-size // _BLOCK) * _BLOCK
