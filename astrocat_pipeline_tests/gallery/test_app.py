"""The gallery's pages through Starlette's test client, on a small synthetic catalog: what it
shows, and how it refuses what it must (bad parameters, unknown ids, paths, writes)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image
from starlette.testclient import TestClient

from astrocat_pipeline.adapters.catalog import CatalogStore, open_catalog
from astrocat_pipeline.adapters.thumbnail_store import ThumbnailStore
from astrocat_pipeline.cataloging.objects import object_key
from astrocat_pipeline.cataloging.search import build_query, search_catalog
from astrocat_pipeline.core.records import ImageMetadata, InventoryEntry
from astrocat_pipeline.gallery.app import create_app
from astrocat_pipeline.settings import Settings

ROOT = "/library"


def _add(store: CatalogStore, rel_path: str, **metadata: object) -> str:
    key = f"lib/{rel_path}"
    store.upsert_inventory([InventoryEntry(ROOT, rel_path, 100, 1, "fits", key)])
    store.record_file(key, fingerprint=f"fp-{rel_path}", size_bytes=100, mtime_ns=1)
    fields = {"path": f"{ROOT}/{rel_path}", "format": "fits", **metadata}
    # The OBJECT's designation as the metadata step records it (without the whole catalog).
    name = metadata.get("object")
    store.record_metadata(
        key,
        ImageMetadata(**fields),  # type: ignore[arg-type]
        {},
        object_key=object_key(None, str(name)) if name else None,
    )
    return key


@pytest.fixture
def gallery(tmp_path: Path) -> Iterator[tuple[TestClient, CatalogStore, ThumbnailStore]]:
    home = tmp_path / "home"
    settings = Settings.from_env(
        environ={"ASTROCAT_HOME": str(home), "ASTROCAT_DAGSTER_URL": "http://dagster.example:3000"}
    )
    store = open_catalog(settings.database_url)
    thumbnails = ThumbnailStore(settings.thumbnail_cache_path)
    for night in range(1, 4):
        _add(
            store,
            f"M31/M31_Ha_{night}.fits",
            frame_type="light",
            object="M31",
            filter="Ha",
            exposure_s=300.0,
            camera="ASI2600MM Pro",
            date_obs=datetime(2024, 10, night, 22, tzinfo=UTC),
        )
    _add(store, "calibration/dark_1.fits", frame_type="dark", exposure_s=300.0)
    key = _add(store, "M42/M42_L.fits", frame_type="light", object="M42", filter="L")
    # A thumbnail in the cache for M42, and an error for a dark.
    picture = Image.new("RGB", (80, 60), (40, 40, 90))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG")
    path = thumbnails.write(f"{ROOT}/M42/M42_L.fits", buffer.getvalue())
    store.record_thumbnail(key, str(path))
    store.record_error("lib/calibration/dark_1.fits", "image_thumbnail", "dark_1.fits: truncated")
    # A file outside the cache that no request may reach.
    (tmp_path / "secret.txt").write_text("secret")
    with TestClient(create_app(settings, store=store)) as client:
        yield client, store, thumbnails
    store.close()


def _id(store: CatalogStore, rel_path: str) -> int:
    image = store.get_image(f"lib/{rel_path}")
    assert image is not None
    return image.image_id


def test_the_search_page_shows_the_cli_search_with_counts_and_paging(gallery):
    client, _, _ = gallery
    page = client.get("/", params={"object": "M31", "filter": "ha", "per_page": "50"})
    assert page.status_code == 200
    assert page.text.count('class="card') == 3
    assert "1–3 of 3 images" in page.text
    assert client.get("/", params={"frame_type": "dark"}).text.count('class="card') == 1
    dated = client.get("/", params={"date_from": "2024-10-02", "date_to": "2024-10-02"})
    assert dated.text.count('class="card') == 1
    exposures = client.get("/", params={"min_exposure": "301"})
    assert "no images found" in exposures.text
    everything = client.get("/")
    assert everything.text.count('class="card') == 5


def test_a_search_of_many_pages_links_the_next_one(gallery):
    client, store, _ = gallery
    for i in range(60):
        _add(store, f"many/f{i:03d}.fits", frame_type="light", object="NGC 7000")
    first = client.get("/", params={"object": "NGC 7000", "per_page": "50"})
    assert "1–50 of 60 images" in first.text
    assert 'id="next"' in first.text
    assert 'id="previous"' not in first.text
    second = client.get("/", params={"object": "NGC 7000", "per_page": "50", "page": "2"})
    assert "51–60 of 60 images" in second.text
    assert second.text.count('class="card') == 10
    past = client.get("/", params={"object": "NGC 7000", "per_page": "50", "page": "3"})
    assert past.status_code == 400
    assert "this search has 2 pages" in past.text


def test_the_grid_shows_the_cli_search_in_its_order(gallery):
    """The page reads the search's grid projection; its cards are the command's results, in the
    command's order (the command reads the full results through its own quick path)."""
    client, store, _ = gallery
    for i in range(30):
        _add(
            store,
            f"many/f{i:03d}.fits",
            frame_type="light",
            object="M31" if i % 3 else "NGC 7000",
            filter="Ha" if i % 2 else "OIII",
            date_obs=datetime(2024, 9, 1 + i % 7, tzinfo=UTC) if i % 5 else None,
        )
    url = store.engine.url.render_as_string(hide_password=False)
    for criteria in ({}, {"object": "M31"}, {"filter": "ha"}, {"date_to": "2024-09-04"}):
        page = client.get("/", params={**criteria, "per_page": "1000"})
        shown = [int(i) for i in re.findall(r'data-image-id="(\d+)"', page.text)]
        expected = [r.image.image_id for r in search_catalog(url, build_query(**criteria))]
        assert shown == expected
        assert len(shown) > 3


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"ra": "abc", "dec": "1", "radius": "1"}, "expected a number"),
        ({"ra": "nan", "dec": "1", "radius": "1"}, "finite"),
        ({"ra": "10", "dec": "95", "radius": "1"}, "outside [-90, 90]"),
        ({"ra": "10", "dec": "40"}, "go together"),
        ({"radius": "0", "ra": "10", "dec": "40"}, "(0, 180]"),
        ({"date_from": "yesterday"}, "ISO date"),
        ({"frame_type": "selfie"}, "expected one of"),
        ({"page": "0"}, "page 0"),
        ({"page": "-1"}, "page"),
        ({"page": "99999999999"}, "page"),
        ({"per_page": "7"}, "per_page"),
        ({"object": "M" * 201}, "longer than 200"),
        ({"object": "M31\x00"}, "NUL"),
        ({"colour": "red"}, "unknown parameter"),
        ({"min_exposure": "-5"}, "min_exposure"),
    ],
)
def test_a_bad_parameter_gets_a_400_page_saying_why(gallery, params, reason):
    client, _, _ = gallery
    page = client.get("/", params=params)
    assert page.status_code == 400
    assert reason in page.text
    assert "Bad request" in page.text


def test_a_parameter_given_twice_and_an_oversized_query_are_refused(gallery):
    client, _, _ = gallery
    assert client.get("/?object=M31&object=M42").status_code == 400
    page = client.get("/?object=" + "x" * 5000)
    assert page.status_code == 400
    assert "longer than 4096 bytes" in page.text


def test_unknown_ids_and_paths_are_404(gallery):
    client, _, _ = gallery
    for url in (
        "/frames/999999",
        "/frames/99999999999999999999999",
        "/thumbnails/424242",
        "/thumbnails/424242/grid",
        "/annotated/424242",
        "/frames/abc",
        "/nowhere",
        "/frame?partition=lib/not-there.fits",
    ):
        page = client.get(url)
        assert page.status_code == 404, url


@pytest.mark.parametrize(
    "url",
    [
        "/thumbnails/../../secret.txt",
        "/thumbnails/..%2F..%2Fsecret.txt",
        "/static/../app.py",
        "/static/..%2Fapp.py",
        "/static/%2e%2e/%2e%2e/settings.py",
        "/thumbnails/%2Fetc%2Fpasswd",
        "/annotated/1%2F..%2F..%2Fsecret.txt",
        "/frames/1/../../../secret.txt",
    ],
)
def test_no_path_from_a_request_reaches_a_file(gallery, url):
    client, _, _ = gallery
    page = client.get(url)
    assert page.status_code in (400, 404), url
    assert "secret" not in page.text
    assert "import" not in page.text  # no source file either


def test_the_gallery_is_read_only(gallery):
    client, _, _ = gallery
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        response = client.request(method, "/")
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, HEAD"


def test_thumbnails_are_served_by_id_with_validators_and_304(gallery):
    client, store, thumbnails = gallery
    image_id = _id(store, "M42/M42_L.fits")
    first = client.get(f"/thumbnails/{image_id}")
    assert first.status_code == 200
    assert first.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(first.content)).size == (80, 60)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert client.get(f"/thumbnails/{image_id}", headers={"If-None-Match": etag}).status_code == 304
    assert (
        client.get(f"/thumbnails/{image_id}", headers={"If-Modified-Since": modified}).status_code
        == 304
    )
    assert (
        client.get(f"/thumbnails/{image_id}", headers={"If-None-Match": '"x"'}).status_code == 200
    )
    grid = client.get(f"/thumbnails/{image_id}/grid")
    assert grid.status_code == 200
    assert "etag" in grid.headers
    assert thumbnails.stats().count == 2  # the thumbnail and its grid copy, both counted
    assert thumbnails.clear() == 2


def test_a_file_without_a_thumbnail_gets_a_placeholder_saying_why(gallery):
    client, store, _ = gallery
    image_id = _id(store, "calibration/dark_1.fits")
    response = client.get(f"/thumbnails/{image_id}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(response.content)).size == (800, 600)
    frame = client.get(f"/frames/{image_id}")
    assert "image_thumbnail failed" in frame.text
    assert "truncated" in frame.text


def test_the_frame_page_links_to_its_partition_in_the_dagster_ui(gallery):
    client, store, _ = gallery
    image_id = _id(store, "M42/M42_L.fits")
    redirect = client.get(
        "/frame", params={"partition": "lib/M42/M42_L.fits"}, follow_redirects=False
    )
    assert redirect.status_code == 303
    assert redirect.headers["location"] == f"/frames/{image_id}"
    page = client.get(f"/frames/{image_id}")
    assert (
        'href="http://dagster.example:3000/assets/image_file?view=partitions&amp;'
        'partition=lib%2FM42%2FM42_L.fits"'
    ) in page.text
    assert "/library/M42/M42_L.fits" in page.text


def test_the_problems_page_lists_errors_with_links_to_dagster(gallery):
    client, _, _ = gallery
    page = client.get("/problems")
    assert page.status_code == 200
    assert "1 file with errors" in page.text
    assert "dark_1.fits: truncated" in page.text
    assert "/assets/image_thumbnail?view=partitions&amp;partition=lib%2Fcalibration" in page.text


def test_the_targets_page_sums_integration_per_target_and_filter(gallery):
    client, _, _ = gallery
    page = client.get("/targets")
    assert page.status_code == 200
    assert "0.25 h in 3 frames" in page.text  # M31, Ha: 3 × 300 s
    assert 'href="/?object=M+31&amp;filter=Ha"' in page.text


def test_every_page_says_where_its_parts_may_come_from(gallery):
    client, _, _ = gallery
    page = client.get("/")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"


def test_the_targets_page_counts_as_the_stats_command_does(gallery):
    from astrocat_pipeline.cataloging.summary import library_tables
    from astrocat_pipeline.core.records import CatalogMatch
    from astrocat_pipeline.core.summary import library_summary

    client, store, _ = gallery
    match = CatalogMatch("OpenNGC", "NGC 224", "Andromeda Galaxy", "G", 10.7, 41.3, 5, 5, 190.0, 31)
    store.replace_matches("lib/M31/M31_Ha_1.fits", [match])
    store.replace_matches("lib/M42/M42_L.fits", [match])  # OBJECT M42, but M31 in the field
    fast = library_tables(store)
    full = library_summary([result.to_dict() for result in store.search(None)])
    assert fast.keys() == full.keys()
    assert fast["integration"].to_dict("records") == full["integration"].to_dict("records")
    page = client.get("/targets")
    for row in full["integration"].to_dict("records"):
        assert f"<b>{row['target']}</b> · {row['filter']}<br>" in page.text


def test_the_targets_page_pages_the_longest_integrations_first(gallery, monkeypatch):
    from astrocat_pipeline.gallery import routes

    client, store, _ = gallery
    monkeypatch.setattr(routes, "TARGETS_PER_PAGE", 1)
    first = client.get("/targets")
    assert first.status_code == 200
    assert "1–1 of 2 target and filter pairs" in first.text
    assert "<b>M 31</b> · Ha<br>" in first.text
    assert "M 42" not in first.text
    assert 'href="/targets?page=2"' in first.text
    second = client.get("/targets", params={"page": "2"})
    assert "<b>M 42</b> · L<br>" in second.text
    assert "<b>M 31</b>" not in second.text
    # The representative thumbnail: M 42's frame has one in the cache.
    assert f'src="/thumbnails/{_id(store, "M42/M42_L.fits")}/grid"' in second.text
    for bad in ({"page": "3"}, {"page": "0"}, {"page": "x"}, {"sort": "1"}):
        assert client.get("/targets", params=bad).status_code == 400, bad


def test_what_the_server_loads_at_start_is_kept_out_of_full_collections(tmp_path):
    import gc

    settings = Settings.from_env(environ={"ASTROCAT_HOME": str(tmp_path)})
    assert gc.get_freeze_count() == 0
    with TestClient(create_app(settings)) as client:
        assert gc.get_freeze_count() > 10_000  # the web stack and the catalog's tables
        assert client.get("/").status_code == 200
    assert gc.get_freeze_count() == 0  # given back at shutdown
