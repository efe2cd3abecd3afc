"""The gallery's Starlette application: read-only pages over the catalog and the thumbnail
cache, built from a :class:`~astrocat_pipeline.settings.Settings`.

Only GET and HEAD are served. Images are served by image id from the thumbnail cache, never
from a path in a request and never from the library. Bad parameters get a 400 page saying
why; unknown ids and paths a 404 page.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from astrocat_pipeline.adapters.catalog import CatalogStore, open_catalog
from astrocat_pipeline.adapters.thumbnail_store import ThumbnailStore
from astrocat_pipeline.gallery import routes
from astrocat_pipeline.gallery.params import BadRequestError, check_query_string
from astrocat_pipeline.settings import Settings

HERE = Path(__file__).parent
# No script or style from anywhere but the gallery itself, no frames, no plug-ins.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


class SecurityHeaders(BaseHTTPMiddleware):
    """Read-only: anything but GET and HEAD is refused before routing; every response says
    what it is and where its parts may come from."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.method not in ("GET", "HEAD"):
            response: Response = Response(
                "the gallery is read-only: only GET and HEAD are served\n",
                status_code=405,
                headers={"Allow": "GET, HEAD"},
                media_type="text/plain",
            )
        else:
            try:
                check_query_string(request.scope.get("query_string", b""))
            except BadRequestError as exc:
                response = routes.error_page(request, 400, str(exc))
            else:
                response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return routes.error_page(request, exc.status_code, exc.detail)


# The grid's thumbnails: a second, smaller size made from the stored one (``--grid-size``).
GRID_SIZE_PX = 320
GRID_FORMATS = ("jpeg", "webp")


def create_app(
    settings: Settings,
    *,
    store: CatalogStore | None = None,
    grid_size_px: int = GRID_SIZE_PX,
    grid_format: str = "jpeg",
) -> Starlette:
    """The gallery over the catalog and thumbnail cache of ``settings``. The catalog is opened
    at start-up (migrated if needed, as every reader does) and closed at shutdown, unless a
    ``store`` is given, which stays its owner's. The grid shows copies of the thumbnails that
    fit ``grid_size_px`` square, in ``grid_format`` (``jpeg`` or ``webp``)."""
    if grid_format not in GRID_FORMATS:
        raise ValueError(f"grid format {grid_format!r}: expected one of {', '.join(GRID_FORMATS)}")
    if not 32 <= grid_size_px <= 800:
        raise ValueError(f"grid size {grid_size_px}: expected 32 to 800 pixels")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own = store is None
        app.state.store = open_catalog(settings.database_url) if own else store
        # What is loaded by now (the web stack, SQLAlchemy, the catalog's tables) lives as long
        # as the server: kept out of the garbage collector's full passes, which otherwise walk
        # it all every few pages and made one 1,000-card page in five take 75-105 ms longer
        # (bench/gallery_bench.py). Reference counting still frees what is dropped.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            if own:
                app.state.store.close()

    app = Starlette(
        routes=[
            Route("/", routes.search_page, name="search"),
            Route("/frames/{image_id:int}", routes.frame_page, name="frame"),
            Route("/frame", routes.frame_by_partition, name="frame_by_partition"),
            Route("/thumbnails/{image_id:int}", routes.thumbnail, name="thumbnail"),
            Route("/thumbnails/{image_id:int}/grid", routes.grid_thumbnail, name="grid"),
            Route("/annotated/{image_id:int}", routes.annotated, name="annotated"),
            Route("/targets", routes.targets_page, name="targets"),
            Route("/problems", routes.problems_page, name="problems"),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.thumbnails = ThumbnailStore(settings.thumbnail_cache_path)
    app.state.grid_size_px = grid_size_px
    app.state.grid_format = grid_format
    app.state.templates = Jinja2Templates(directory=HERE / "templates")
    app.state.templates.env.globals["dagster_url"] = settings.dagster_url
    return app
