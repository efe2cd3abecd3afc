"""Normalized metadata (docs/metadata.md) from the keywords capture software writes."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Any

from astrocat_pipeline.core.frame_types import FrameType
from astrocat_pipeline.core.loading import ImageHeader
from astrocat_pipeline.core.records import ImageMetadata

# Folder and file-name tokens, checked when the header says nothing.
_PATH_TOKENS: dict[str, FrameType] = {
    "LIGHT": FrameType.LIGHT,
    "LIGHTS": FrameType.LIGHT,
    "DARK": FrameType.DARK,
    "DARKS": FrameType.DARK,
    "FLAT": FrameType.FLAT,
    "FLATS": FrameType.FLAT,
    "BIAS": FrameType.BIAS,
    "BIASES": FrameType.BIAS,
    "OFFSET": FrameType.BIAS,
    "OFFSETS": FrameType.BIAS,
    "DARKFLAT": FrameType.DARK_FLAT,
    "DARKFLATS": FrameType.DARK_FLAT,
    "FLATDARK": FrameType.DARK_FLAT,
    "FLATDARKS": FrameType.DARK_FLAT,
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
    if isinstance(value, list | tuple) and len(value) == 1:
        value = value[0]  # EXIF values are arrays, usually of one
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (ValueError, TypeError):
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


def frame_type_from_text(text: Any) -> FrameType | None:
    """The contract's frame type for a header value such as ``'Light Frame'``, or None."""
    words = _as_text(text)
    if words is None:
        return None
    return FrameType.from_imagetyp(words)


def frame_type_from_path(path: str) -> FrameType | None:
    """Frame type from folder and file names (``.../FLAT/...``, ``master_dark.fits``)."""
    parts = PurePath(path).parts
    tokens_by_part = [[t.upper() for t in _TOKEN_SPLIT.split(part) if t] for part in parts]
    is_master = any("MASTER" in tokens for tokens in tokens_by_part)
    # The nearest folder (or the file name itself) that names a type wins.
    for tokens in reversed(tokens_by_part):
        for token in tokens:
            frame_type = _PATH_TOKENS.get(token)
            if frame_type:
                if is_master and frame_type.master is not None:
                    return frame_type.master
                return frame_type
    return None


# Keyword variants per field, in order of preference: FITS keywords as N.I.N.A., SGP, APT,
# MaxIm DL, SharpCap, ASIAIR, Ekos and Siril write them; PixInsight's XISF properties; EXIF tags.
_FRAME_TYPE_KEYS = ("IMAGETYP", "FRAMETYP", "FRAMETYPE", "FRAME", "Observation:Image:Type")
_OBJECT_KEYS = ("OBJECT", "OBJNAME", "Observation:Object:Name")
_EXPOSURE_KEYS = ("EXPTIME", "EXPOSURE", "Instrument:ExposureTime", "ExposureTime")
_DATE_KEYS = ("DATE-OBS", "DATE_OBS", "Observation:Time:Start")
_CAMERA_KEYS = ("INSTRUME", "CAMERA", "Instrument:Camera:Name")
_TELESCOPE_KEYS = ("TELESCOP", "Instrument:Telescope:Name", "LensModel")
_FILTER_KEYS = ("FILTER", "FILTNAME", "FILTER1", "Instrument:Filter:Name")
_GAIN_KEYS = ("GAIN", "Instrument:Camera:GainSetting")
_OFFSET_KEYS = ("OFFSET", "BLKLEVEL")
_ISO_KEYS = (
    "ISOSPEED",
    "ISO",
    "Instrument:Camera:ISOSpeed",
    "ISOSpeedRatings",
    "PhotographicSensitivity",
)
_TEMP_KEYS = ("CCD-TEMP", "CCD_TEMP", "CCDTEMP", "TEMPERAT", "Instrument:Sensor:Temperature")
_SET_TEMP_KEYS = ("SET-TEMP", "SET_TEMP", "Instrument:Sensor:TargetTemperature")
_FOCAL_MM_KEYS = ("FOCALLEN", "FOCAL", "FocalLength")
_FOCAL_M_KEYS = ("Instrument:Telescope:FocalLength",)  # XISF gives metres
_PIXEL_KEYS = ("XPIXSZ", "PIXSIZE1", "PIXSIZE", "Instrument:Sensor:XPixelSize")
_BINNING_KEYS = ("XBINNING", "BINNING", "Instrument:Camera:XBinning")
_RA_DEG_KEYS = ("RA", "RA_OBJ", "Observation:Center:RA", "Observation:Object:RA")
_DEC_DEG_KEYS = ("DEC", "DEC_OBJ", "Observation:Center:Dec", "Observation:Object:Dec")
# Focal-plane resolution units of EXIF (2 inch, 3 cm, 4 mm, 5 um) in micrometres.
_FOCAL_PLANE_UNIT_UM = {2: 25400.0, 3: 10000.0, 4: 1000.0, 5: 1.0}
_EXIF_DATE = re.compile(r"^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}:\d{2}:\d{2})$")


def _camera(kw: Mapping[str, Any]) -> str | None:
    camera = _as_text(_first(kw, *_CAMERA_KEYS))
    if camera:
        return camera
    model = _as_text(kw.get("Model"))
    make = _as_text(kw.get("Make"))
    if model and make and not model.upper().startswith(make.split()[0].upper()):
        return f"{make.title() if make.isupper() else make} {model}"
    # DNG writes the model in UniqueCameraModel when Make/Model are absent.
    return model or make or _as_text(kw.get("UniqueCameraModel"))


def _exif_date(kw: Mapping[str, Any]) -> datetime | None:
    """EXIF DateTimeOriginal with its zone (OffsetTimeOriginal) and sub-seconds; a camera
    clock without a zone is taken as UTC (the camera does not say)."""
    text = _as_text(kw.get("DateTimeOriginal")) or _as_text(kw.get("DateTime"))
    match = _EXIF_DATE.match(text or "")
    if not match:
        return None
    year, month, day, clock = match.groups()
    # tifffile spells the tag SubsecTimeOriginal.
    subsec = _as_text(kw.get("SubSecTimeOriginal") or kw.get("SubsecTimeOriginal"))
    fraction = f".{subsec}" if subsec and subsec.isdigit() else ""
    zone = _as_text(kw.get("OffsetTimeOriginal")) or ""
    return parse_date_obs(f"{year}-{month}-{day}T{clock}{fraction}{zone}")


def _pixel_size_um(kw: Mapping[str, Any]) -> float | None:
    size = _as_float(_first(kw, *_PIXEL_KEYS))
    if size is not None:
        return size
    # Cameras write their sensor's focal-plane resolution: pixels per unit length.
    resolution = _as_float(kw.get("FocalPlaneXResolution"))
    unit = _FOCAL_PLANE_UNIT_UM.get(int(_as_float(kw.get("FocalPlaneResolutionUnit")) or 2))
    if resolution and resolution > 0 and unit:
        return round(unit / resolution, 3)
    return None


def _focal_length_mm(kw: Mapping[str, Any]) -> float | None:
    focal = _as_float(_first(kw, *_FOCAL_MM_KEYS))
    if focal is not None:
        return focal if focal > 0 else None
    metres = _as_float(_first(kw, *_FOCAL_M_KEYS))
    return metres * 1000.0 if metres and metres > 0 else None


def _date_obs(kw: Mapping[str, Any]) -> datetime | None:
    date = parse_date_obs(_first(kw, *_DATE_KEYS), kw.get("TIME-OBS"))
    if date is None:
        # DATE-LOC is the observer's local time; its zone is used when it has one, else it is
        # taken as UTC, which is all a file without DATE-OBS allows.
        date = parse_date_obs(kw.get("DATE-LOC")) or _exif_date(kw)
    return date


def _pointing(kw: Mapping[str, Any], wcs: Any) -> tuple[float | None, float | None]:
    ra_deg = parse_ra_deg(_first(kw, *_RA_DEG_KEYS))
    dec_deg = parse_dec_deg(_first(kw, *_DEC_DEG_KEYS))
    if ra_deg is None or dec_deg is None:
        # Capture software writes RA as degrees, OBJCTRA as sexagesimal hours; try the other.
        ra_deg = parse_ra_deg(kw.get("OBJCTRA")) if ra_deg is None else ra_deg
        dec_deg = parse_dec_deg(kw.get("OBJCTDEC")) if dec_deg is None else dec_deg
    if (ra_deg is None or dec_deg is None) and wcs is not None:
        ra_deg, dec_deg = (float(v) for v in wcs.wcs.crval[:2])
    if ra_deg is None or dec_deg is None:
        return None, None
    return ra_deg, dec_deg


def _is_stack(path: str, kw: Mapping[str, Any]) -> bool:
    """A master: integration software records how many frames went in (Siril STACKCNT,
    PixInsight/IRAF NCOMBINE), or the user named it so."""
    count = _as_float(_first(kw, "STACKCNT", "NCOMBINE"))
    named = "MASTER" in (t.upper() for t in _TOKEN_SPLIT.split(PurePath(path).name))
    return (count is not None and count > 1) or named


def _frame_type(path: str, header: ImageHeader) -> FrameType:
    from_header = frame_type_from_text(_first(header.keywords, *_FRAME_TYPE_KEYS))
    if from_header:
        # Stacking software often keeps the subframes' IMAGETYP on the master it writes.
        if from_header.master is not None and _is_stack(path, header.keywords):
            return from_header.master
        return from_header
    from_path = frame_type_from_path(path)
    if from_path:
        return from_path
    # An 8-bit JPEG/PNG/TIFF is a finished picture, not a linear frame.
    if header.format in ("jpeg", "png", "tiff") and header.bit_depth == 8:
        return FrameType.PROCESSED
    return FrameType.UNKNOWN


def _has_wcs_keywords(kw: Mapping[str, Any]) -> bool:
    return any(key.startswith("CTYPE") for key in kw)


def normalize_metadata(path: str, header: ImageHeader) -> ImageMetadata:
    """The contract's metadata from one image's header (no pixel data needed)."""
    kw = header.keywords
    wcs = None
    if header.fits_header is not None and _has_wcs_keywords(kw):
        # astropy's WCS (and its coordinates) only for a header that describes one.
        from astrocat_pipeline.core.wcs_geometry import celestial_wcs

        wcs = celestial_wcs(header.fits_header)
    ra_deg, dec_deg = _pointing(kw, wcs)
    binning = _as_float(_first(kw, *_BINNING_KEYS))
    iso = _as_float(_first(kw, *_ISO_KEYS))
    ccd_temp = _as_float(_first(kw, *_TEMP_KEYS))
    return ImageMetadata(
        path=path,
        format=header.format,
        width=header.width,
        height=header.height,
        channels=header.channels,
        bit_depth=header.bit_depth,
        frame_type=_frame_type(path, header),
        object=_as_text(_first(kw, *_OBJECT_KEYS)),
        exposure_s=_as_float(_first(kw, *_EXPOSURE_KEYS)),
        date_obs=_date_obs(kw),
        camera=_camera(kw),
        telescope=_as_text(_first(kw, *_TELESCOPE_KEYS)),
        filter=_as_text(_first(kw, *_FILTER_KEYS)),
        gain=_as_float(_first(kw, *_GAIN_KEYS)),
        offset=_as_float(_first(kw, *_OFFSET_KEYS)),
        iso=int(iso) if iso is not None and iso > 0 else None,
        ccd_temp_c=ccd_temp if ccd_temp is not None else _as_float(_first(kw, *_SET_TEMP_KEYS)),
        focal_length_mm=_focal_length_mm(kw),
        pixel_size_um=_pixel_size_um(kw),
        binning=int(binning) if binning is not None and binning >= 1 else None,
        bayer_pattern=header.bayer_pattern or _as_text(kw.get("RAW:CFAPattern")),
        ra_deg=ra_deg,
        dec_deg=dec_deg,
        has_wcs=wcs is not None,
    )
