"""The frame-type vocabulary of the metadata (docs/metadata.md), and what each type implies.

One place says which frame types exist and what each one means for the pipeline: whether its
pixels are linear (the thumbnail stretch), whether it may show the sky (plate solving, catalog
matching), whether it is a calibration frame or a master. Members are strings (``StrEnum``), so
JSON, the catalog database and ``--json`` output carry the same words as before.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from types import MappingProxyType


class FrameType(enum.StrEnum):
    """What kind of frame an image is, as the contract's ``frame_type`` names it."""

    LIGHT = "light"
    DARK = "dark"
    FLAT = "flat"
    BIAS = "bias"
    DARK_FLAT = "dark_flat"
    MASTER_LIGHT = "master_light"
    MASTER_DARK = "master_dark"
    MASTER_FLAT = "master_flat"
    MASTER_BIAS = "master_bias"
    PROCESSED = "processed"
    UNKNOWN = "unknown"

    @classmethod
    def of(cls, value: str | None) -> FrameType:
        """The member ``value`` names, in any case (``'LIGHT'``); ``UNKNOWN`` for None or a word
        outside the vocabulary, which is what the contract calls a frame nobody labelled."""
        try:
            return cls((value or cls.UNKNOWN).lower())
        except ValueError:
            return cls.UNKNOWN

    @classmethod
    def from_imagetyp(cls, spelling: str) -> FrameType | None:
        """The member a capture program's frame-type keyword means (``IMAGETYP = 'Light
        Frame'``), or None for a spelling not in :data:`IMAGETYP_SPELLINGS`. Case, and any run
        of characters other than letters, do not matter (``'Flat_Field'`` is ``'FLAT FIELD'``).
        """
        normalized = " ".join(_NON_LETTERS.split(spelling.upper())).strip()
        return IMAGETYP_SPELLINGS.get(normalized)

    @property
    def is_linear(self) -> bool:
        """Its pixels are linear in the light received: captures and calibration frames, and the
        masters integrated from them. Processed images are stretched; unknown ones may be."""
        return self not in (FrameType.PROCESSED, FrameType.UNKNOWN)

    @property
    def shows_sky(self) -> bool:
        """It may show stars worth solving and matching: lights and their masters, processed
        images, and unlabelled frames (most of which are lights). Calibration frames do not."""
        return not self.is_calibration

    @property
    def is_calibration(self) -> bool:
        """A dark, flat, bias or dark flat, or a master of one: it calibrates lights and shows
        no sky."""
        return self in _CALIBRATION

    @property
    def is_master(self) -> bool:
        """Integrated from many frames of one type by stacking software."""
        return self in _MASTER_OF.values()

    @property
    def master(self) -> FrameType | None:
        """The master integrated from frames of this type (``light`` -> ``master_light``), or
        None when the vocabulary has none (dark flats, masters, processed and unknown)."""
        return _MASTER_OF.get(self)


_CALIBRATION = frozenset(
    {
        FrameType.DARK,
        FrameType.FLAT,
        FrameType.BIAS,
        FrameType.DARK_FLAT,
        FrameType.MASTER_DARK,
        FrameType.MASTER_FLAT,
        FrameType.MASTER_BIAS,
    }
)
_MASTER_OF: Mapping[FrameType, FrameType] = MappingProxyType(
    {
        FrameType.LIGHT: FrameType.MASTER_LIGHT,
        FrameType.DARK: FrameType.MASTER_DARK,
        FrameType.FLAT: FrameType.MASTER_FLAT,
        FrameType.BIAS: FrameType.MASTER_BIAS,
    }
)

_NON_LETTERS = re.compile(r"[^A-Za-z]+")

# Frame-type words as N.I.N.A., SGP, APT, MaxIm DL, SharpCap, ASIAIR, Ekos, PixInsight and Siril
# write them in IMAGETYP (or FRAMETYP, XISF's Observation:Image:Type), upper-cased with
# separators collapsed to one space, mapped to the contract's types.
IMAGETYP_SPELLINGS: Mapping[str, FrameType] = MappingProxyType(
    {
        "LIGHT": FrameType.LIGHT,
        "LIGHT FRAME": FrameType.LIGHT,
        "OBJECT": FrameType.LIGHT,
        "SCIENCE": FrameType.LIGHT,
        "DARK": FrameType.DARK,
        "DARK FRAME": FrameType.DARK,
        "FLAT": FrameType.FLAT,
        "FLAT FRAME": FrameType.FLAT,
        "FLAT FIELD": FrameType.FLAT,
        "SKYFLAT": FrameType.FLAT,
        "BIAS": FrameType.BIAS,
        "BIAS FRAME": FrameType.BIAS,
        "OFFSET": FrameType.BIAS,
        "ZERO": FrameType.BIAS,
        "DARKFLAT": FrameType.DARK_FLAT,
        "DARK FLAT": FrameType.DARK_FLAT,
        "FLATDARK": FrameType.DARK_FLAT,
        "FLAT DARK": FrameType.DARK_FLAT,
        "MASTER LIGHT": FrameType.MASTER_LIGHT,
        "MASTERLIGHT": FrameType.MASTER_LIGHT,
        "MASTER DARK": FrameType.MASTER_DARK,
        "MASTERDARK": FrameType.MASTER_DARK,
        "MASTER FLAT": FrameType.MASTER_FLAT,
        "MASTERFLAT": FrameType.MASTER_FLAT,
        "MASTER BIAS": FrameType.MASTER_BIAS,
        "MASTERBIAS": FrameType.MASTER_BIAS,
        "MASTER OFFSET": FrameType.MASTER_BIAS,
    }
)
