"""Which files are images, and of which format, decided from the file name alone.

The format decides the reader; readers are never chosen by trial (LibRaw, for one, accepts a
plain TIFF as a camera raw and returns a bogus image).
"""

from __future__ import annotations

from pathlib import PurePath

# Longest suffixes first so ".fits.gz" wins over ".gz".
_EXTENSIONS: dict[str, str] = {
    ".fits.gz": "fits",
    ".fit.gz": "fits",
    ".fts.gz": "fits",
    ".fits.fz": "fits",
    ".fits": "fits",
    ".fit": "fits",
    ".fts": "fits",
    ".fz": "fits",
    ".xisf": "xisf",
    ".cr2": "raw",
    ".cr3": "raw",
    ".nef": "raw",
    ".arw": "raw",
    ".dng": "raw",
    ".raf": "raw",
    ".orf": "raw",
    ".rw2": "raw",
    ".pef": "raw",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".png": "png",
}


def image_format(path: str | PurePath) -> str | None:
    """The image format of a file from its name (``"fits"``, ``"raw"``, ...), or None."""
    name = PurePath(path).name.lower()
    if name.startswith("."):  # hidden files, macOS "._" resource forks
        return None
    for suffix, fmt in _EXTENSIONS.items():
        if name.endswith(suffix) and len(name) > len(suffix):
            return fmt
    return None


def strip_image_suffix(name: str) -> str:
    """The file name without its image extension(s): ``M31_0001.fits.gz`` -> ``M31_0001``."""
    lower = name.lower()
    for suffix in _EXTENSIONS:
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name
