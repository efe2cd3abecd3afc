"""Normalized metadata (DESIGN.md's contract) from the keywords capture software writes."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Any

from astrocat_pipeline.core.loading import ImageHeader
from astrocat_pipeline.core.records import ImageMetadata
from astrocat_pipeline.core.wcs_geometry import celestial_wcs

# Frame-type words as N.I.N.A., SGP, APT, MaxIm DL, SharpCap, ASIAIR, Ekos, PixInsight and Siril
# write them (upper-cased, separators collapsed to one space), mapped to the contract's types.
_FRAME_TYPE_WORDS: dict[str, str] = {
    "LIGHT": "light",
    "LIGHT FRAME": "light",
    "OBJECT": "light",
    "SCIENCE": "light",
    "DARK": "dark",
    "DARK FRAME": "dark",
    "FLAT": "flat",
    "FLAT FRAME": "flat",
    "FLAT FIELD": "flat",
    "SKYFLAT": "flat",
    "BIAS": "bias",
    "BIAS FRAME": "bias",
    "OFFSET": "bias",
    "ZERO": "bias",
    "DARKFLAT": "dark_flat",
    "DARK FLAT": "dark_flat",
    "FLATDARK": "dark_flat",
    "FLAT DARK": "dark_flat",
    "MASTER LIGHT": "master_light",
    "MASTERLIGHT": "master_light",
    "MASTER DARK": "master_dark",
    "MASTERDARK": "master_dark",
    "MASTER FLAT": "master_flat",
    "MASTERFLAT": "master_flat",
    "MASTER BIAS": "master_bias",
    "MASTERBIAS": "master_bias",
    "MASTER OFFSET": "master_bias",
}

# Folder and file-name tokens, checked when the header says nothing.
_PATH_TOKENS: dict[str, str] = {
    "LIGHT": "light",
    "LIGHTS": "light",
    "DARK": "dark",
    "DARKS": "dark",
    "FLAT": "flat",
    "FLATS": "flat",
    "BIAS": "bias",
    "BIASES": "bias",
    "OFFSET": "bias",
    "OFFSETS": "bias",
    "DARKFLAT": "dark_flat",
    "DARKFLATS": "dark_flat",
    "FLATDARK": "dark_flat",
    "FLATDARKS": "dark_flat",
}

_TOKEN_SPLIT = re.compile(r"[^A-Za-z]+")
_SEXAGESIMAL = re.compile(
    r"^\s*([+-]?)\s*(\d{1,3})[\s:hd°]+(\d{1,2})(?:[\s:m']+(\d{1,2}(?:\.\d*)?))?\s*[s\"]?\s*$"
)


def _first(keywords: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = keywords.get(name)
        if value is not None and not (isinstance(value, str) and not value.strip()):
            return value
    return None


def _as_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip()) if isinstance(value, str) else float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def parse_sexagesimal(text: str) -> float | None:
    """``'00 42 44.3'``, ``'+41:16:09'``, ``'-05d23m'`` -> decimal units, or None."""
    match = _SEXAGESIMAL.match(text)
    if not match:
        return None
    sign, whole, minutes, seconds = match.groups()
    value = float(whole) + float(minutes) / 60 + float(seconds or 0) / 3600
    return -value if sign == "-" else value


def parse_ra_deg(value: Any) -> float | None:
    """Right ascension in degrees from a number (degrees) or a sexagesimal string (hours)."""
    number = _as_float(value)
    if number is not None:
        return number % 360.0 if 0.0 <= number <= 360.0 else None
    if isinstance(value, str):
        hours = parse_sexagesimal(value)
        if hours is not None and 0.0 <= hours < 24.0:
            return hours * 15.0
    return None


def parse_dec_deg(value: Any) -> float | None:
    """Declination in degrees from a number or a sexagesimal string (degrees)."""
    number = _as_float(value)
    if number is None and isinstance(value, str):
        number = parse_sexagesimal(value)
    return number if number is not None and -90.0 <= number <= 90.0 else None


_OLD_FITS_DATE = re.compile(r"^\s*(\d{2})/(\d{2})/(\d{2})\s*$")


def parse_date_obs(date_value: Any, time_value: Any = None) -> datetime | None:
    """DATE-OBS as an aware UTC datetime.

    Accepts ISO 8601 with or without a zone (FITS DATE-OBS is UTC when no zone is given), a
    separate TIME-OBS, and the pre-1997 FITS ``dd/mm/yy`` form (years 19yy).
    """
    text = _as_text(date_value)
    if text is None:
        return None
    old = _OLD_FITS_DATE.match(text)
    if old:
        day, month, year = (int(part) for part in old.groups())
        text = f"{1900 + year:04d}-{month:02d}-{day:02d}"
    if "T" not in text and (time_text := _as_text(time_value)):
        text = f"{text}T{time_text}"
    text = text.replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def frame_type_from_text(text: Any) -> str | None:
    """The contract's frame type for a header value such as ``'Light Frame'``, or None."""
    words = _as_text(text)
    if words is None:
        return None
    normalized = " ".join(_TOKEN_SPLIT.split(words.upper())).strip()
    return _FRAME_TYPE_WORDS.get(normalized)


def frame_type_from_path(path: str) -> str | None:
    """Frame type from folder and file names (``.../FLAT/...``, ``master_dark.fits``)."""
    parts = PurePath(path).parts
    tokens_by_part = [[t.upper() for t in _TOKEN_SPLIT.split(part) if t] for part in parts]
    is_master = any("MASTER" in tokens for tokens in tokens_by_part)
    # The nearest folder (or the file name itself) that names a type wins.
    for tokens in reversed(tokens_by_part):
        for token in tokens:
            frame_type = _PATH_TOKENS.get(token)
            if frame_type:
                if is_master and frame_type in ("light", "dark", "flat", "bias"):
                    return f"master_{frame_type}"
                return frame_type
    return None


def normalize_metadata(path: str, header: ImageHeader) -> ImageMetadata:
    """The contract's metadata from one image's header (no pixel data needed)."""
    kw = header.keywords
    frame_type = (
        frame_type_from_text(_first(kw, "IMAGETYP", "FRAMETYP", "FRAMETYPE", "FRAME"))
        or frame_type_from_path(path)
        or "unknown"
    )
    wcs = celestial_wcs(header.fits_header) if header.fits_header is not None else None
    ra_deg = parse_ra_deg(_first(kw, "RA", "OBJCTRA", "RA_OBJ"))
    dec_deg = parse_dec_deg(_first(kw, "DEC", "OBJCTDEC", "DEC_OBJ"))
    if ra_deg is None or dec_deg is None:
        # Capture software writes RA as degrees, OBJCTRA as sexagesimal hours; try the other.
        ra_deg = parse_ra_deg(kw.get("OBJCTRA")) if ra_deg is None else ra_deg
        dec_deg = parse_dec_deg(kw.get("OBJCTDEC")) if dec_deg is None else dec_deg
    if (ra_deg is None or dec_deg is None) and wcs is not None:
        ra_deg, dec_deg = (float(v) for v in wcs.wcs.crval[:2])
    if ra_deg is None or dec_deg is None:
        ra_deg = dec_deg = None
    binning = _as_float(_first(kw, "XBINNING", "BINNING"))
    iso = _as_float(_first(kw, "ISOSPEED", "ISO"))
    return ImageMetadata(
        path=path,
        format=header.format,
        width=header.width,
        height=header.height,
        channels=header.channels,
        bit_depth=header.bit_depth,
        frame_type=frame_type,
        object=_as_text(_first(kw, "OBJECT", "OBJNAME")),
        exposure_s=_as_float(_first(kw, "EXPTIME", "EXPOSURE")),
        date_obs=parse_date_obs(_first(kw, "DATE-OBS", "DATE_OBS"), kw.get("TIME-OBS")),
        camera=_as_text(_first(kw, "INSTRUME", "CAMERA")),
        telescope=_as_text(_first(kw, "TELESCOP")),
        filter=_as_text(_first(kw, "FILTER", "FILTNAME")),
        gain=_as_float(_first(kw, "GAIN", "EGAIN")),
        offset=_as_float(_first(kw, "OFFSET", "BLKLEVEL")),
        iso=int(iso) if iso is not None else None,
        ccd_temp_c=_as_float(_first(kw, "CCD-TEMP", "CCD_TEMP", "CCDTEMP", "TEMPERAT")),
        focal_length_mm=_as_float(_first(kw, "FOCALLEN", "FOCAL")),
        pixel_size_um=_as_float(_first(kw, "XPIXSZ", "PIXSIZE1", "PIXSIZE")),
        binning=int(binning) if binning is not None else None,
        bayer_pattern=_as_text(_first(kw, "BAYERPAT", "COLORTYP")),
        ra_deg=ra_deg,
        dec_deg=dec_deg,
        has_wcs=wcs is not None,
    )
