"""Camera raw (CR2, CR3, NEF, ARW, DNG, RAF, ORF, RW2, PEF) through rawpy/LibRaw, with EXIF.

Metadata comes from the EXIF (camera, lens, exposure, ISO, date, focal length) and from LibRaw's
parse of the file (sizes, CFA pattern, black and white levels), which reads no pixel data.
A file whose EXIF can be read but whose pixel data LibRaw cannot decode (a camera newer than
LibRaw, a cut file) still gets its metadata; decoding it reports LibRaw's reason.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import rawpy

from astrocat_pipeline.core.errors import ImageReadError
from astrocat_pipeline.core.readers.base import (
    ImageHeader,
    byte_size,
    check_declared_size,
    check_file,
    too_large,
)
from astrocat_pipeline.core.readers.exif import read_exif
from astrocat_pipeline.core.tuning import MAX_IMAGE_BYTES

_COLOURS = "RGBG"


def _libraw_layout(path: Path) -> tuple[dict[str, Any], str | None]:
    """LibRaw's view of the file (sizes, CFA, levels) or, when it cannot parse it, why."""
    try:
        with rawpy.imread(str(path)) as raw:
            sizes = raw.sizes
            width, height = int(sizes.width), int(sizes.height)
            if sizes.flip in (5, 6):  # shown rotated by 90 degrees
                width, height = height, width
            pattern = None
            if raw.raw_pattern is not None and raw.num_colors == 3:
                desc = raw.color_desc.decode("ascii", errors="replace")
                pattern = "".join(desc[int(i)] for i in np.asarray(raw.raw_pattern).ravel()[:4])
            info: dict[str, Any] = {
                "RAW:Width": width,
                "RAW:Height": height,
                # The sensor area LibRaw unpacks, margins included (its raw buffer's size).
                "RAW:RawWidth": int(sizes.raw_width),
                "RAW:RawHeight": int(sizes.raw_height),
                "RAW:SamplesPerPixel": 1 if raw.raw_type == rawpy.RawType.Flat else 4,
                "RAW:WhiteLevel": int(raw.white_level),
                "RAW:BlackLevel": [int(v) for v in raw.black_level_per_channel],
            }
            if pattern and set(pattern) <= set(_COLOURS):
                info["RAW:CFAPattern"] = pattern
            return info, None
    except (rawpy.LibRawError, OSError, ValueError) as exc:
        return {}, f"LibRaw cannot read it ({exc})"


def _check_sensor_size(path: Path, layout: dict[str, Any], max_bytes: int) -> None:
    """LibRaw's raw buffer (the whole sensor as :func:`_libraw_layout` reports it, margins
    included, 16 bits per sample) within ``max_bytes``: ImageTooLargeError otherwise."""
    if "RAW:RawWidth" not in layout:
        return
    raw_width, raw_height = layout["RAW:RawWidth"], layout["RAW:RawHeight"]
    samples = layout["RAW:SamplesPerPixel"]
    declared = raw_width * raw_height * samples * 2
    if declared > max_bytes:
        raise too_large(
            path,
            f"its sensor data declare {raw_width}x{raw_height}x{samples} samples of 2 bytes "
            f"({byte_size(declared)})",
            max_bytes,
        )


def _exif_int(keywords: dict[str, Any], *names: str) -> int | None:
    for name in names:
        value = keywords.get(name)
        if isinstance(value, int) and value > 0:
            return value
    return None


def read_header(path: Path, fmt: str, max_bytes: int = MAX_IMAGE_BYTES) -> ImageHeader:
    check_file(path)
    try:
        keywords = read_exif(path)
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read file ({exc})") from exc
    layout, problem = _libraw_layout(path)
    if problem and not keywords:
        raise ImageReadError(f"{path}: not a readable camera raw file: {problem}, and no EXIF")
    keywords.update(layout)
    if problem:
        keywords["RAW:DecodeError"] = problem
    # Without LibRaw, the size the camera wrote in the EXIF is the best there is.
    width = layout.get("RAW:Width") or _exif_int(keywords, "ExifImageWidth", "PixelXDimension")
    height = layout.get("RAW:Height") or _exif_int(keywords, "ExifImageLength", "PixelYDimension")
    if width is not None and height is not None:
        # load() returns 16-bit RGB. LibRaw's raw buffer holds the whole sensor, margins
        # included, which a file may declare far larger than the picture: it is checked too,
        # before LibRaw unpacks it (LibRaw's own cap is 2048 MB, docs/metadata.md).
        check_declared_size(path, width, height, 3, 2, max_bytes)
        _check_sensor_size(path, layout, max_bytes)
    white = int(layout.get("RAW:WhiteLevel") or 0)
    bit_depth = min(16, max(8, math.ceil(math.log2(white + 1)))) if white > 0 else 16
    return ImageHeader(
        format=fmt,
        width=width,
        height=height,
        channels=3,  # decoded to colour
        bit_depth=bit_depth,
        sample_kind="uint",
        keywords=keywords,
        bottom_up=False,
        bayer_pattern=None,  # load() returns colour, already demosaiced
    )


def load(path: Path, header: ImageHeader, draft: bool) -> np.ndarray:
    """Linear 16-bit RGB (H, W, 3): camera white balance, no auto-brightening, no gamma.

    ``draft`` asks LibRaw for its half-size decode (each 2x2 CFA cell becomes one RGB pixel),
    several times faster and all a thumbnail needs.
    """
    try:
        with rawpy.imread(str(path)) as raw:
            return np.asarray(
                raw.postprocess(
                    half_size=draft,
                    use_camera_wb=True,
                    no_auto_bright=True,
                    output_bps=16,
                    gamma=(1, 1),
                    demosaic_algorithm=rawpy.DemosaicAlgorithm.LINEAR,
                )
            )
    except (rawpy.LibRawError, OSError, ValueError, MemoryError) as exc:
        raise ImageReadError(f"{path}: LibRaw cannot decode the pixel data ({exc})") from exc
