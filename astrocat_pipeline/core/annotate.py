"""Catalog objects drawn on a frame's thumbnail: where each lies on the picture and its outline.

Each object's ellipse (major and minor axes at its position angle, east of north) is sampled
on the sky and projected through the frame's own WCS, then onto the thumbnail, so its size,
shape and orientation on the picture are the true ones (rotation, parity and distortion
included). Stars and objects without a size are markers. Pixel positions of the frame are
0-based array positions (:class:`~astrocat_pipeline.core.records.CatalogMatch`); a frame stored
bottom-up (FITS) is shown top-down on its thumbnail, so rows are flipped on the way.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from astropy.wcs import WCS
from PIL import Image, ImageDraw, ImageFont

from astrocat_pipeline.core.records import CatalogMatch, object_label
from astrocat_pipeline.core.wcs_geometry import offset_by

# Points on each ellipse's outline: smooth at thumbnail sizes.
ELLIPSE_SAMPLES = 72
# Outlines smaller than this on the thumbnail (pixels across) are drawn as markers instead.
MIN_OUTLINE_PX = 6.0
MARKER_RADIUS_PX = 6
# Objects labelled at most: the most relevant first (matches come ordered that way).
MAX_LABELS = 40
OBJECT_COLOUR = (255, 214, 64)  # galaxies, nebulae, clusters: amber
STAR_COLOUR = (96, 200, 255)  # named stars: light blue
ANNOTATED_JPEG_QUALITY = 88


@dataclass(frozen=True)
class Annotation:
    """One object as drawn on a thumbnail (thumbnail pixels, x right, y down)."""

    label: str
    designation: str
    object_type: str
    x_px: float
    y_px: float
    outline: tuple[tuple[float, float], ...]  # empty: drawn as a marker
    is_star: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "label": self.label,
            "designation": self.designation,
            "object_type": self.object_type,
            "x_px": round(self.x_px, 1),
            "y_px": round(self.y_px, 1),
            "outline": [[round(x, 1), round(y, 1)] for x, y in self.outline],
            "is_star": self.is_star,
        }


def match_label(match: CatalogMatch) -> str:
    """How an object is named on the picture (``records.object_label``)."""
    return object_label(match.messier, match.name, match.designation)


def _to_thumbnail(
    x: np.ndarray,
    y: np.ndarray,
    frame_size: tuple[int, int],
    thumb_size: tuple[int, int],
    bottom_up: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Frame array positions (0-based pixel centres) to thumbnail picture positions."""
    width, height = frame_size
    thumb_w, thumb_h = thumb_size
    if bottom_up:
        y = (height - 1) - y
    return (x + 0.5) * thumb_w / width - 0.5, (y + 0.5) * thumb_h / height - 0.5


def frame_annotations(
    wcs: WCS,
    frame_size: tuple[int, int],
    thumb_size: tuple[int, int],
    matches: Sequence[CatalogMatch],
    *,
    bottom_up: bool,
) -> list[Annotation]:
    """The annotations of ``matches`` on a thumbnail of ``thumb_size`` (width, height) of a
    frame of ``frame_size`` whose plate solution is ``wcs`` (array pixels, 0-based)."""
    celestial = wcs.celestial
    out = []
    t = np.linspace(0.0, 2.0 * np.pi, ELLIPSE_SAMPLES, endpoint=False)
    for match in matches:
        cx, cy = _to_thumbnail(
            np.array([match.x_px]), np.array([match.y_px]), frame_size, thumb_size, bottom_up
        )
        outline: tuple[tuple[float, float], ...] = ()
        is_star = match.object_type == "*"
        if match.major_axis_arcmin and not is_star:
            major = match.major_axis_arcmin / 120.0  # semi-axis, degrees
            minor = (
                (match.minor_axis_arcmin or match.major_axis_arcmin) / 120.0
                if match.position_angle_deg is not None
                else major
            )
            pa = math.radians(match.position_angle_deg or 0.0)
            east = major * np.cos(t) * math.sin(pa) + minor * np.sin(t) * math.cos(pa)
            north = major * np.cos(t) * math.cos(pa) - minor * np.sin(t) * math.sin(pa)
            ra, dec = offset_by(
                np.full(t.shape, match.ra_deg),
                np.full(t.shape, match.dec_deg),
                np.hypot(east, north),
                np.degrees(np.arctan2(east, north)),
            )
            with np.errstate(invalid="ignore"):
                px, py = celestial.all_world2pix(ra, dec, 0, quiet=True)
            tx, ty = _to_thumbnail(
                np.asarray(px), np.asarray(py), frame_size, thumb_size, bottom_up
            )
            finite = np.isfinite(tx) & np.isfinite(ty)
            if finite.all() and max(np.ptp(tx), np.ptp(ty)) >= MIN_OUTLINE_PX:
                outline = tuple(zip(tx.tolist(), ty.tolist(), strict=True))
        out.append(
            Annotation(
                label=match_label(match),
                designation=match.designation,
                object_type=match.object_type,
                x_px=float(cx[0]),
                y_px=float(cy[0]),
                outline=outline,
                is_star=is_star,
            )
        )
    return out


def _font(size_px: int) -> ImageFont.FreeTypeFont:
    font = ImageFont.load_default(size=size_px)
    if not isinstance(font, ImageFont.FreeTypeFont):  # Pillow without FreeType: fixed size
        raise RuntimeError("Pillow was built without FreeType; annotations need its fonts")
    return font


def draw_annotations(thumbnail: Image.Image, annotations: Sequence[Annotation]) -> Image.Image:
    """A copy of ``thumbnail`` (RGB) with each annotation's outline or marker and label drawn.

    Line widths and the font scale with the picture, so a small grid thumbnail and the frame
    page's picture both stay legible.
    """
    image = thumbnail.convert("RGB")
    draw = ImageDraw.Draw(image)
    scale = max(image.width, image.height) / 800.0
    line = max(1, round(2 * scale))
    font = _font(max(10, round(14 * scale)))
    for index, note in enumerate(annotations):
        colour = STAR_COLOUR if note.is_star else OBJECT_COLOUR
        if note.outline:
            draw.polygon(note.outline, outline=colour, width=line)
            top = min(y for _, y in note.outline)
            bottom = max(y for _, y in note.outline)
            gap = 4 * scale
            # Above the outline when it fits, else below it, else at its centre.
            if top - gap - font.size >= 0:
                label_at, anchor = (note.x_px, top - gap), "mb"
            elif bottom + gap + font.size <= image.height:
                label_at, anchor = (note.x_px, bottom + gap), "mt"
            else:
                label_at, anchor = (note.x_px, note.y_px), "mm"
        else:
            r = MARKER_RADIUS_PX * scale
            x, y = note.x_px, note.y_px
            # A ring with a gap at the centre, so the star itself stays visible.
            draw.ellipse((x - r, y - r, x + r, y + r), outline=colour, width=line)
            label_at = (x + r + 3 * scale, y)
            anchor = "lm"
        if index < MAX_LABELS:
            draw.text(
                label_at,
                note.label,
                fill=colour,
                font=font,
                anchor=anchor,
                stroke_width=max(1, round(scale)),
                stroke_fill=(0, 0, 0),
            )
    return image


def encode_annotated(image: Image.Image, quality: int = ANNOTATED_JPEG_QUALITY) -> bytes:
    """The annotated picture as JPEG bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
