"""FITS header cards to keyword values, exactly as astropy reads them, without astropy.

The fast FITS path (:mod:`~astrocat_pipeline.core.readers.fits_reader`) parses a plain file's
primary header here because astropy's card-by-card parse costs several times more, which matters
when thousands of frames are indexed. Every value it returns must equal what astropy's
``Header[keyword]`` gives, so the grammar below is astropy's own lenient ("NFSC") value grammar
(``astropy.io.fits.card.Card._value_NFSC_RE``, astropy 6 to 8), and the CONTINUE long-string
rules follow ``Card._split``. What this parser cannot read with certainty it does not guess:
:func:`parse_cards` returns None and the caller reads the file with astropy.

Declined (left to astropy): record-valued keyword cards (``DP1 = 'AXIS.1: 1'``), values astropy
cannot parse, cards with neither a value indicator nor a commentary keyword, CONTINUE cards that
do not follow a string-valued card, and END cards that are not the standard one. These rules
assume astropy's default configuration (``enable_record_valued_keyword_cards`` and
``strip_header_whitespace`` both on).
"""

from __future__ import annotations

import re
from typing import Any

from astrocat_pipeline.core.readers.base import plain_value

CARD_LENGTH = 80
END_CARD = "END" + " " * 77
COMMENTARY = ("COMMENT", "HISTORY")

# astropy's lenient number and value grammar (card.py: _digits_NFSC, _numr_NFSC, _strg,
# _comm_field, _value_NFSC_RE). A string ends at the first quote followed by the end, a slash or a
# space for which the rest still parses, which is how astropy reads unescaped quotes.
_DIGITS = r"(\.\d+|\d+(\.\d*)?) *([deDE] *[+-]? *\d+)?"
_NUMBER = r"[+-]? *" + _DIGITS
_STRING = r"\'(?P<strg>([ -~]+?|\'\'|) *?)\'(?=$|/| )"
_COMMENT = r"(?P<comm_field>(?P<sepr>/ *)(?P<comm>(.|\n)*))"
_VALUE = re.compile(
    r"(?P<value_field> *(?P<value>"
    rf"{_STRING}|"
    r"(?P<bool>[FT])|"
    rf"(?P<numr>{_NUMBER})|"
    rf"(?P<cplx>\( *(?P<real>{_NUMBER}) *, *(?P<imag>{_NUMBER}) *\))"
    rf")? *){_COMMENT}?$"
)
_STRING_AND_COMMENT = re.compile(rf"({_STRING})? *{_COMMENT}?$")
_NUMBER_PARTS = re.compile(rf"(?P<sign>[+-])? *0*?(?P<digt>{_DIGITS})")
_EXPONENT = str.maketrans("dD", "eE")
# An undefined value (an empty value field) reads as None, as astropy's Header[...] gives it.
_UNDEFINED = None


class _UnsureError(ValueError):
    """This card is one astropy may read differently from this parser: leave the file to it."""


def _number(text: str) -> int | float:
    parts = _NUMBER_PARTS.match(text)
    if parts is None:  # cannot happen for text the value grammar matched
        raise _UnsureError(text)
    digits = parts.group("digt").translate(_EXPONENT).replace(" ", "")
    number = (parts.group("sign") or "") + digits
    try:
        return int(number)
    except ValueError:
        return float(number)


def _value(value_field: str, *, comment: bool = True) -> Any:
    """The value of a value field (the text after the value indicator), as astropy reads it;
    without ``comment``, a field that holds a comment is refused."""
    match = _VALUE.match(value_field.strip())
    if match is None or (not comment and match.group("comm_field") is not None):
        raise _UnsureError(value_field)  # astropy raises VerifyError on such a card
    if match.group("bool") is not None:
        return match.group("bool") == "T"
    if match.group("strg") is not None:
        return re.sub("''", "'", match.group("strg")).rstrip()
    if match.group("numr") is not None:
        return _number(match.group("numr"))
    if match.group("cplx") is not None:
        return _number(match.group("real")) + _number(match.group("imag")) * 1j
    return _UNDEFINED


def field_value(text: str) -> Any:
    """A FITS value without its comment (``'M 31'``, ``3.0D2``, ``T``) as astropy reads it,
    for values kept outside a header (XISF FITSKeyword attributes, whose comment is another
    attribute). Undefined (blank) is None.

    Raises
    ------
    ValueError
        The text is not a FITS value astropy can read (an unquoted string, ``NaN``) or holds a
        '/' after the value (``1/250`` is not the number 1 with a comment here).
    """
    return plain_value(_value(text, comment=False))


def _long_string(first_field: str, continuations: list[str]) -> str:
    """A string continued over CONTINUE cards, joined as astropy joins it: each piece loses its
    trailing spaces and then one trailing '&', and the joined text is read as one string."""
    pieces, comments = [], []
    for field in [first_field] + [card[9:] for card in continuations]:
        # Each card on its own must hold a string, or astropy refuses the whole card.
        if not isinstance(_value(field), str):
            raise _UnsureError(field)
        match = _STRING_AND_COMMENT.match(field.strip())
        if match is None:
            raise _UnsureError(field)
        piece = (match.group("strg") or "").rstrip()
        pieces.append(piece[:-1] if piece.endswith("&") else piece)
        if match.group("comm"):
            comments.append(match.group("comm").rstrip())
    value = _value(f"'{''.join(pieces)}' / {' '.join(comments)}")
    if not isinstance(value, str):
        raise _UnsureError(first_field)
    return value


# astropy's record-valued keyword card (card.py: _rvkc_keyword_val_comm_RE): a string value
# 'field.specifier: number', which astropy files under KEYWORD.field.specifier.
_RECORD_FIELD = r"[a-zA-Z_]\w*(\.\d+)?"
_RECORD_VALUE = re.compile(
    rf" *\'({_RECORD_FIELD}(\.{_RECORD_FIELD})*): +[+-]?(\.\d+|\d+(\.\d*)?)([DE][+-]?\d+)?\'"
    r" *(/ *[ -~]*)?$"
)


def _is_record_valued(value_field: str) -> bool:
    """Whether astropy reads this value field (all of it, CONTINUE cards included) as a
    record-valued keyword card (``DP1 = 'AXIS.1: 1'`` is ``DP1.AXIS.1`` = 1.0 to it)."""
    text = value_field.lstrip()
    # astropy's own quick test first: most values are not strings or hold no ': '.
    return text.startswith("'") and text.find(": ") >= 2 and bool(_RECORD_VALUE.match(text))


_RECORD_NAME = re.compile(r"([a-zA-Z_]\w*)\.([a-zA-Z_]\w*(\.\d+)?(\.[a-zA-Z_]\w*(\.\d+)?)*)$")


def lookup_name(key: str) -> str:
    """The name astropy looks a keyword up by (``Card.normalize_keyword``): upper case, except
    that a dotted name keeps the case of what follows its first dot. Two cards whose keywords
    share it are one repeated keyword."""
    match = _RECORD_NAME.match(key)
    return f"{match.group(1).upper()}.{match.group(2)}" if match else key.upper()


def _parse(cards: list[str]) -> dict[str, Any]:
    keywords: dict[str, Any] = {}
    seen: set[str] = set()
    index = 0
    while index < len(cards):
        card = cards[index]
        index += 1
        # astropy glues every following card that starts with "CONTINUE" to this one.
        continuations = []
        while index < len(cards) and cards[index][:8] == "CONTINUE":
            continuations.append(cards[index])
            index += 1
        name = card[:8].strip().upper()
        if name in COMMENTARY or not name:
            if continuations:
                raise _UnsureError(card)  # astropy makes one long commentary card of them
            if name:
                line = card[8:].rstrip()
                keywords[name] = f"{keywords[name]}\n{line}" if name in keywords else line
            continue  # blank-keyword cards carry no value the catalog keeps
        if name in ("CONTINUE", "END"):
            raise _UnsureError(card)  # a CONTINUE with nothing to continue, a non-standard END
        if name == "HIERARCH" and card[8] == " " and "=" in card:
            key, _, field = card.partition("=")
            key = key[9:].strip()
            if not key:
                raise _UnsureError(card)
        elif card.find("= ") == 8:
            key, field = name, card[10:]
            if _is_record_valued(field + "".join(continuations)):
                raise _UnsureError(card)
        else:
            raise _UnsureError(card)  # no value indicator in column 9: astropy's "invalid card"
        for continuation in continuations:
            if continuation[8] != " " or continuation[9] == "=":
                raise _UnsureError(continuation)
        value = _long_string(field, continuations) if continuations else _value(field)
        # The first card of a repeated keyword is the one astropy's Header[keyword] returns;
        # HIERARCH names are compared as astropy compares them.
        lookup = key if key is name else lookup_name(key)
        if lookup not in seen:
            seen.add(lookup)
            keywords[key] = plain_value(value)
    return keywords


def parse_cards(cards: list[str]) -> dict[str, Any] | None:
    """Keyword values of a header's cards (80-character ASCII strings, without the END card).

    Returns the keywords as astropy's ``Header[keyword]`` reads them, made JSON-friendly by
    :func:`~astrocat_pipeline.core.readers.base.plain_value`: the first card of a repeated
    keyword wins; HIERARCH keywords are named without ``HIERARCH`` and keep their case and
    inner spacing; COMMENT and HISTORY lines are joined with newlines; blank-keyword cards are
    skipped; an undefined value is None. Returns None when any card is one this parser cannot
    read with certainty (see the module docstring): the caller then reads the file with astropy.
    """
    try:
        return _parse(cards)
    except _UnsureError:
        return None


def split_header(text: str) -> tuple[list[str], bool] | None:
    """The cards before the END card of header text (a whole number of 2880-byte blocks), and
    whether the END card was found; None when a card looks like END but is not the standard
    one (astropy has its own rules for those)."""
    cards: list[str] = []
    for start in range(0, len(text) - CARD_LENGTH + 1, CARD_LENGTH):
        card = text[start : start + CARD_LENGTH]
        if card == END_CARD:
            return cards, True
        if card.startswith("END") and not card[3:8].strip():
            return None
        cards.append(card)
    return cards, False
