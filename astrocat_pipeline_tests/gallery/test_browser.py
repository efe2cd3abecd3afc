"""The gallery in a real browser: Debian's headless Chromium driven by Selenium through Debian's
chromium-driver (nothing is downloaded), over the demo library indexed by ``astrocat index``,
beside a running ``dagster dev`` on the same instance, both ways linked.

It also takes the README's screenshots (docs/gallery-*.png, rewritten with
ASTROCAT_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from astrocat_pipeline_tests.defs.conftest import needs_solver
from astrocat_pipeline_tests.defs.test_end_to_end import free_port, running_dagster_dev
from astrocat_pipeline_tests.samples import PROJECT_ROOT

pytestmark = [pytest.mark.e2e, needs_solver]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
DOCS = PROJECT_ROOT / "docs"
UPDATE_SCREENSHOTS = "ASTROCAT_UPDATE_SCREENSHOTS"
VIEWPORT = (1000, 700)
SCREENSHOT_COLOURS = 32  # a palette PNG keeps each screenshot small (under 150 kB)


def _require_browser() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        reason = f"{', '.join(missing)} missing (scripts/test installs chromium, chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true, and {reason}")
        pytest.skip(reason)


def _astrocat(*args: str, env: dict[str, str], check: bool = True) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "astrocat_pipeline.cli", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done.stdout


def _wait_for(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@contextlib.contextmanager
def _serving(env: dict[str, str], port: int, log: Path) -> Iterator[str]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "astrocat_pipeline.cli", "serve", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_for(url + "/static/gallery.css")
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


@contextlib.contextmanager
def _chromium() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}")
    # The driver's path is given, so Selenium Manager never looks for (or downloads) one.
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _screenshot(driver, name: str, folder: Path) -> Path:
    from PIL import Image

    picture = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    path = folder / f"gallery-{name}.png"
    picture.quantize(SCREENSHOT_COLOURS).save(path, optimize=True)
    return path


def test_search_a_target_open_a_frame_and_follow_it_into_dagster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    _require_browser()
    # The README's screenshots are rewritten only when asked (they show a time, so every run
    # would change them); otherwise they are taken into the test's own folder.
    shots = DOCS if os.environ.get(UPDATE_SCREENSHOTS) else tmp_path
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    library = tmp_path / "library"
    home = tmp_path / "home"
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    # The project's dagster.yaml names the instance's folder as $DAGSTER_HOME, as the
    # webserver and the daemon have it; this process opens the same instance.
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    gallery_port = free_port()
    env = {
        **os.environ,
        "ASTROCAT_HOME": str(home),
        "ASTROCAT_LIBRARY_ROOTS": str(library),
        "DAGSTER_HOME": str(dagster_home),
        "ASTROCAT_GALLERY_URL": f"http://127.0.0.1:{gallery_port}",
    }
    env.pop("ASTROCAT_DATABASE_URL", None)
    env.pop("THUMBNAIL_CACHE_PATH", None)
    _astrocat("demo-library", str(library), env=env)
    # A damaged file: an error on the problems page, a placeholder in the grid.
    broken = library / "M31" / "LIGHT" / "M31_L_300s_0099.fits"
    broken.write_bytes(b"SIMPLE  =                    T" + b"\0" * 50)
    _astrocat("index", env=env, check=False)  # exits 1: the damaged file's run failed

    (tmp_path / "dev").mkdir()
    with running_dagster_dev(
        tmp_path / "dev",
        library,
        DAGSTER_HOME=str(dagster_home),
        ASTROCAT_HOME=str(home),
        ASTROCAT_GALLERY_URL=env["ASTROCAT_GALLERY_URL"],
    ) as dev:
        env["ASTROCAT_DAGSTER_URL"] = f"http://127.0.0.1:{dev.port}"
        with _serving(env, gallery_port, tmp_path / "gallery.log") as gallery, _chromium() as d:
            driver: object = d
            wait = WebDriverWait(driver, 60)

            # Search by a common name, as the command does.
            driver.get(gallery + "/")
            box = driver.find_element(By.NAME, "object")
            box.send_keys("Andromeda Galaxy", Keys.ENTER)
            wait.until(ec.text_to_be_present_in_element((By.ID, "count"), "of 2 images"))
            cards = driver.find_elements(By.CSS_SELECTOR, "#grid .card")
            alts = sorted(c.find_element(By.TAG_NAME, "img").get_attribute("alt") for c in cards)
            assert alts == ["M31", "M31"]
            wait.until(
                lambda d: all(
                    d.execute_script("return arguments[0].naturalWidth", img) > 0
                    for img in d.find_elements(By.CSS_SELECTOR, "#grid img")
                )
            )
            # The slider resizes the grid, and the browser remembers it.
            before = cards[0].size["width"]
            slider = driver.find_element(By.ID, "size-slider")
            for _ in range(8):
                slider.send_keys(Keys.ARROW_RIGHT)
            after = driver.find_element(By.CSS_SELECTOR, "#grid .card").size["width"]
            assert after > before
            remembered = driver.execute_script(
                "return localStorage.getItem('astrocat.thumbnailSize')"
            )
            assert remembered == slider.get_attribute("value")
            driver.refresh()
            assert driver.find_element(By.ID, "size-slider").get_attribute("value") == remembered
            _screenshot(driver, "search", shots)

            # The L frame: M31 with M32 and M110 drawn on it.
            frame_card = next(
                c
                for c in driver.find_elements(By.CSS_SELECTOR, "#grid .card")
                if " L " in f" {c.text} "
            )
            image_id = frame_card.get_attribute("data-image-id")
            frame_card.click()
            picture = wait.until(ec.presence_of_element_located((By.ID, "annotated")))
            wait.until(lambda d: d.execute_script("return arguments[0].naturalWidth", picture) > 0)
            drawn = picture.get_attribute("alt")
            labels = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#objects td.label")]
            for name in ("M 31", "M 32", "M 110"):
                assert name in drawn
                assert name in labels
            assert (home / "thumbnails" / f"annotated_{image_id}.jpg").is_file()
            assert "M31_L_300s_0001.fits" in driver.find_element(By.ID, "path").text
            _screenshot(driver, "frame", shots)

            # Into the Dagster UI, at this file's partition.
            link = driver.find_element(By.CSS_SELECTOR, "a.dagster-link[data-asset=image_file]")
            href = link.get_attribute("href")
            assert href.startswith(f"http://127.0.0.1:{dev.port}/assets/image_file?")
            partition = driver.find_element(By.CSS_SELECTOR, "#path").text  # shown path
            _wait_for(f"http://127.0.0.1:{dev.port}/server_info", timeout_s=180)  # started
            link.click()
            wait.until(lambda d: d.current_url.startswith(f"http://127.0.0.1:{dev.port}/"))
            dagster_page = _wait_for_text(driver, "M31_L_300s_0001.fits", tmp_path / "dagster.png")
            assert "image_file" in dagster_page
            assert partition

            # And back: the materialization's gallery link opens the same frame.
            gallery_link = _materialization_gallery_link(dagster_home, "M31_L_300s_0001.fits")
            assert gallery_link.startswith(gallery + "/frame?partition=")
            driver.get(gallery_link)
            wait.until(lambda d: d.current_url == f"{gallery}/frames/{image_id}")

            # Targets and problems.
            driver.get(gallery + "/targets")
            assert "M 31" in driver.find_element(By.TAG_NAME, "main").text
            _screenshot(driver, "targets", shots)
            driver.get(gallery + "/problems")
            problems = driver.find_element(By.TAG_NAME, "main").text
            assert "M31_L_300s_0099.fits" in problems
            assert "1 file with errors" in problems
            _screenshot(driver, "problems", shots)
            for name in ("search", "frame", "targets", "problems"):
                assert (shots / f"gallery-{name}.png").stat().st_size < 150_000, name


def _wait_for_text(driver, text: str, screenshot: Path, timeout_s: float = 120) -> str:
    """The page's text once it shows ``text``; on time-out, fails with what it shows."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout_s
    while True:
        body = driver.find_element(By.TAG_NAME, "body").text
        if text in body:
            return body
        if time.monotonic() > deadline:
            driver.save_screenshot(str(screenshot))
            pytest.fail(f"{driver.current_url} never showed {text!r}; it shows:\n{body[:3000]}")
        time.sleep(1)


def _materialization_gallery_link(dagster_home: Path, file_name: str) -> str:
    """The gallery link of the latest image_file materialization of ``file_name``."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        keys = instance.get_dynamic_partitions("images")
        key = next(k for k in keys if k.endswith("/" + file_name))
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("image_file"), asset_partitions=[key]),
            limit=1,
        ).records
        materialization = records[0].asset_materialization
        assert materialization is not None
        return str(materialization.metadata["gallery"].value)
