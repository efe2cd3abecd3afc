"""The gallery's pages and images. Every handler validates its parameters first
(:mod:`.params`), reads the catalog through the store, and serves images only from the
thumbnail cache, by image id.

Handlers are plain functions: Starlette runs them in its thread pool, so a slow database read
does not hold the event loop.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from PIL import Image
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from astrocat_pipeline.adapters.catalog import CatalogStore, ImageRow
from astrocat_pipeline.adapters.catalog.search_query import GRID
from astrocat_pipeline.adapters.thumbnail_store import ThumbnailStore
from astrocat_pipeline.cataloging.annotations import (
    annotated_frame,
    annotations_for,
    cached_thumbnail,
    is_bottom_up,
)
from astrocat_pipeline.cataloging.search import FRAME_TYPES, search_store
from astrocat_pipeline.core.annotate import match_label
from astrocat_pipeline.core.links import dagster_partition_url
from astrocat_pipeline.core.records import ImageStatus
from astrocat_pipeline.core.thumbnail import encode_image, reduced_copy, render_placeholder
from astrocat_pipeline.gallery.params import (
    PAGE_SIZES,
    BadRequestError,
    parse_image_id,
    parse_none,
    parse_page,
    parse_partition,
    parse_search,
)

# The five per-file assets, in the order of the graph (the frame page links to each).
IMAGE_ASSETS = (
    "image_file",
    "image_metadata",
    "image_thumbnail",
    "plate_solution",
    "catalog_matches",
)
# Browsers may reuse an image this long before asking again (then with its validators).
IMAGE_MAX_AGE_S = 60
PROBLEMS_SHOWN = 500
# Rows of the targets page: a library of 100,000 frames can have tens of thousands of target and
# filter pairs; a page shows the longest integrations first, this many at a time.
TARGETS_PER_PAGE = 200
MEDIA_TYPES = {".jpg": "image/jpeg", ".webp": "image/webp"}


# --- helpers ---------------------------------------------------------------------------------


def _params(request: Request) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        params.setdefault(name, []).append(value)
    return params


def _store(request: Request) -> CatalogStore:
    return request.app.state.store


def _thumbnails(request: Request) -> ThumbnailStore:
    return request.app.state.thumbnails


def _render(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> Response:
    return request.app.state.templates.TemplateResponse(
        request, template, context, status_code=status
    )


def error_page(request: Request, status: int, message: str) -> Response:
    titles = {400: "Bad request", 404: "Not found", 405: "Method not allowed"}
    return _render(
        request,
        "error.html",
        {"status": status, "title": titles.get(status, "Error"), "message": message},
        status,
    )


def _no_params(request: Request) -> Response | None:
    """The 400 page for a page that takes no query parameters and got some, else None."""
    try:
        parse_none(_params(request))
    except BadRequestError as exc:
        return error_page(request, 400, str(exc))
    return None


def _image(request: Request) -> ImageRow | Response:
    """The image the path names (its pages take no query parameters), or the 404 or 400
    page."""
    if (bad := _no_params(request)) is not None:
        return bad
    text = str(request.path_params["image_id"])
    try:
        image_id = parse_image_id(text)
    except LookupError:
        return error_page(request, 404, f"no image {text[:30]} in the catalog")
    image = _store(request).get_image_by_id(image_id)
    if image is None:
        return error_page(request, 404, f"no image {image_id} in the catalog")
    return image


def _not_modified(request: Request, etag: str, mtime_s: float) -> bool:
    match = request.headers.get("if-none-match")
    if match is not None:
        return etag in {tag.strip() for tag in match.split(",")} or match.strip() == "*"
    since = request.headers.get("if-modified-since")
    if since:
        try:
            return math.floor(mtime_s) <= parsedate_to_datetime(since).timestamp()
        except (TypeError, ValueError):
            return False
    return False


def _file_response(request: Request, path: Path) -> Response:
    """A cached image with its validators (ETag from size and modification time, and
    Last-Modified); 304 when the browser's copy is current."""
    stat = path.stat()
    etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
    headers = {
        "ETag": etag,
        "Last-Modified": formatdate(stat.st_mtime, usegmt=True),
        "Cache-Control": f"private, max-age={IMAGE_MAX_AGE_S}",
    }
    if _not_modified(request, etag, stat.st_mtime):
        return Response(status_code=304, headers=headers)
    media_type = MEDIA_TYPES.get(path.suffix, "application/octet-stream")
    return Response(path.read_bytes(), media_type=media_type, headers=headers)


def _bytes_response(request: Request, data: bytes, media_type: str) -> Response:
    """A picture made on the fly (a placeholder), validated by its content's hash."""
    etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": f"private, max-age={IMAGE_MAX_AGE_S}"}
    match = request.headers.get("if-none-match")
    if match is not None and etag in {tag.strip() for tag in match.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=media_type, headers=headers)


def no_thumbnail_reason(image: ImageRow) -> list[str]:
    """Why a file has no thumbnail to show, as the placeholder says it."""
    if image.status == ImageStatus.ERROR:
        stage = image.error_stage or "processing"
        return [f"{stage} failed", image.error or "no message recorded"]
    if image.thumbnail_path is None:
        return ["no thumbnail yet", f"status: {image.status.value}"]
    return ["thumbnail missing from the cache", "regenerate_thumbnails makes it again"]


def _placeholder(request: Request, image: ImageRow, size_px: tuple[int, int]) -> Response:
    picture = render_placeholder(no_thumbnail_reason(image), size_px)
    return _bytes_response(request, encode_image(picture, "jpeg"), "image/jpeg")


# --- images ----------------------------------------------------------------------------------


def thumbnail(request: Request) -> Response:
    """The frame's thumbnail from the cache, or a placeholder saying why there is none."""
    image = _image(request)
    if isinstance(image, Response):
        return image
    path = cached_thumbnail(_thumbnails(request), image)
    if path is None:
        return _placeholder(request, image, (800, 600))
    return _file_response(request, path)


def grid_thumbnail(request: Request) -> Response:
    """The grid's smaller copy of the thumbnail (size and format from the gallery's options),
    made from the cached thumbnail on first request and kept beside it."""
    image = _image(request)
    if isinstance(image, Response):
        return image
    thumbnails = _thumbnails(request)
    source = cached_thumbnail(thumbnails, image)
    size_px, image_format = request.app.state.grid_size_px, request.app.state.grid_format
    if source is None:
        return _placeholder(request, image, (size_px, size_px * 3 // 4))
    target = thumbnails.grid_path(image.image_id, size_px, image_format)
    try:
        current = target.stat().st_mtime_ns >= source.stat().st_mtime_ns
    except FileNotFoundError:
        current = False
    if not current:
        with Image.open(source) as opened:
            data = encode_image(reduced_copy(opened, size_px), image_format)
        target = thumbnails.write_grid(image.image_id, size_px, image_format, data)
    return _file_response(request, target)


def annotated(request: Request) -> Response:
    """The frame's annotated copy (objects drawn on it), made on first view if missing."""
    image = _image(request)
    if isinstance(image, Response):
        return image
    path = annotated_frame(_store(request), _thumbnails(request), image)
    if path is None:
        return error_page(request, 404, f"image {image.image_id} has no annotated copy")
    return _file_response(request, path)


# --- pages -----------------------------------------------------------------------------------


def _page_link(values: Mapping[str, str], page: int, per_page: int) -> str:
    return "/?" + urlencode({**values, "page": page, "per_page": per_page})


def search_page(request: Request) -> Response:
    """The search form and one page of results as a grid of thumbnails."""
    try:
        wanted = parse_search(_params(request))
        found = search_store(
            _store(request),
            wanted.query,
            limit=wanted.per_page,
            offset=wanted.offset,
            projection=GRID,
        )
    except BadRequestError as exc:
        return error_page(request, 400, str(exc))
    pages = max(1, math.ceil(found.total / wanted.per_page))
    if wanted.page > pages:
        return error_page(
            request,
            400,
            f"page {wanted.page}: this search has {pages} page{'s' if pages > 1 else ''}",
        )
    return _render(
        request,
        "search.html",
        {
            "results": found.results,
            "total": found.total,
            "first": wanted.offset + 1,
            "last": wanted.offset + len(found.results),
            "page": wanted.page,
            "pages": pages,
            "per_page": wanted.per_page,
            "page_sizes": PAGE_SIZES,
            "values": wanted.values,
            "frame_types": FRAME_TYPES,
            "previous": _page_link(wanted.values, wanted.page - 1, wanted.per_page)
            if wanted.page > 1
            else None,
            "next": _page_link(wanted.values, wanted.page + 1, wanted.per_page)
            if wanted.page < pages
            else None,
            "searched": bool(wanted.values),
        },
    )


def frame_by_partition(request: Request) -> Response:
    """The frame of a partition key (how Dagster's materializations link here)."""
    try:
        key = parse_partition(_params(request))
    except BadRequestError as exc:
        return error_page(request, 400, str(exc))
    image = _store(request).get_image(key)
    if image is None:
        return error_page(request, 404, "no image with that partition key in the catalog")
    return RedirectResponse(f"/frames/{image.image_id}", status_code=303)


def _sexagesimal(value_deg: float, hours: bool) -> str:
    value = value_deg / 15.0 if hours else value_deg
    sign = "-" if value < 0 else ("" if hours else "+")
    value = abs(value)
    whole = int(value)
    minutes = (value - whole) * 60
    seconds = (minutes - int(minutes)) * 60
    unit = ("h", "m", "s") if hours else ("°", "′", "″")
    return f"{sign}{whole:02d}{unit[0]}{int(minutes):02d}{unit[1]}{seconds:04.1f}{unit[2]}"


def frame_page(request: Request) -> Response:
    """One frame: the annotated picture, its objects, metadata, plate solution, path, and links
    to its partition in the Dagster UI."""
    image = _image(request)
    if isinstance(image, Response):
        return image
    store, thumbnails = _store(request), _thumbnails(request)
    solution = store.get_solution(image.fingerprint) if image.fingerprint else None
    matches = store.get_matches(image.partition_key)
    thumb = cached_thumbnail(thumbnails, image)
    notes = None
    annotated_path = None
    if thumb is not None:
        annotated_path = annotated_frame(store, thumbnails, image)
        if annotated_path is not None:
            with Image.open(thumb) as opened:
                size = opened.size
            notes = annotations_for(image, solution, matches, size, is_bottom_up(store, image))
    geometry = solution.geometry if solution is not None else None
    settings = request.app.state.settings
    metadata = [
        (name, getattr(image, name))
        for name in (
            "format", "width", "height", "channels", "bit_depth", "frame_type", "object",
            "exposure_s", "date_obs", "camera", "telescope", "filter", "gain", "offset", "iso",
            "ccd_temp_c", "focal_length_mm", "pixel_size_um", "binning", "bayer_pattern",
            "ra_deg", "dec_deg", "has_wcs", "size_bytes", "fingerprint",
        )
        if getattr(image, name) is not None
    ]  # fmt: skip
    return _render(
        request,
        "frame.html",
        {
            "image": image,
            "solution": solution,
            "geometry": geometry,
            "centre": (
                f"{_sexagesimal(geometry.ra_deg, True)} {_sexagesimal(geometry.dec_deg, False)}"
                if geometry is not None
                else None
            ),
            "matches": matches,
            "notes": notes,
            "annotated": annotated_path is not None,
            "has_thumbnail": thumb is not None,
            "metadata": metadata,
            "match_label": match_label,
            "dagster_links": [
                (asset, dagster_partition_url(settings.dagster_url, asset, image.partition_key))
                for asset in IMAGE_ASSETS
            ],
            "placeholder_reason": None if thumb is not None else no_thumbnail_reason(image),
        },
    )


def targets_page(request: Request) -> Response:
    """Integration time per target and filter (as ``astrocat stats`` counts it), longest first,
    ``TARGETS_PER_PAGE`` to a page, each with a representative thumbnail (its longest exposure
    with one) and a link to its frames."""
    from astrocat_pipeline.cataloging.summary import library_tables

    try:
        page = parse_page(_params(request))
    except BadRequestError as exc:
        return error_page(request, 400, str(exc))
    store = _store(request)
    table = library_tables(store)["integration"]
    pages = max(1, math.ceil(len(table) / TARGETS_PER_PAGE))
    if page > pages:
        return error_page(
            request, 400, f"page {page}: the targets take {pages} page{'s' if pages > 1 else ''}"
        )
    first = (page - 1) * TARGETS_PER_PAGE
    shown = table.iloc[first : first + TARGETS_PER_PAGE].to_dict("records")
    representatives = store.target_representatives({str(r["target"]) for r in shown})
    rows = []
    for record in shown:
        target, filter_name = str(record["target"]), str(record["filter"])
        search = {"object": target} if target != "unknown" else {}
        if filter_name not in ("none", "unknown", ""):
            search["filter"] = filter_name
        rows.append(
            {
                "target": target,
                "filter": filter_name,
                "frames": int(record["frames"]),
                "exposure_h": float(record["exposure_h"]),
                "image_id": representatives.get((target, filter_name)),
                "link": "/?" + urlencode(search),
            }
        )
    return _render(
        request,
        "targets.html",
        {
            "rows": rows,
            "images": store.count_images(),
            "groups": len(table),
            "first": first + 1,
            "last": first + len(rows),
            "page": page,
            "pages": pages,
            "previous": f"/targets?page={page - 1}" if page > 1 else None,
            "next": f"/targets?page={page + 1}" if page < pages else None,
        },
    )


def problems_page(request: Request) -> Response:
    """Files whose work failed and frames that did not solve, with the reason, each linking to
    its frame here and to its partition in the Dagster UI, where it is retried."""
    if (bad := _no_params(request)) is not None:
        return bad
    store = _store(request)
    settings = request.app.state.settings
    failures = store.latest_failures(PROBLEMS_SHOWN)
    rows = [
        {
            "failure": failure,
            "frame": "/frame?" + urlencode({"partition": failure.partition_key}),
            "dagster": dagster_partition_url(
                settings.dagster_url, failure.stage or "image_file", failure.partition_key
            ),
            "kind": "unsolved" if failure.stage == "plate_solution" else "error",
        }
        for failure in failures
    ]
    return _render(
        request,
        "problems.html",
        {
            "rows": rows,
            "errors": sum(1 for r in rows if r["kind"] == "error"),
            "unsolved": sum(1 for r in rows if r["kind"] == "unsolved"),
            "limit": PROBLEMS_SHOWN,
        },
    )
