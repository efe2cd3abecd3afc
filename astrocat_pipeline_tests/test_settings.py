"""Settings refuse the project's own folders inside a library root (issue 15)."""

from __future__ import annotations

import os

import pytest

from astrocat_pipeline.core.errors import ConfigError
from astrocat_pipeline.settings import Settings


def test_home_inside_a_root_is_refused_naming_both(tmp_path):
    library = tmp_path / "library"
    home = library / ".astrocat"
    environ = {"ASTROCAT_LIBRARY_ROOTS": str(library), "ASTROCAT_HOME": str(home)}
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(environ=environ, cwd=tmp_path)
    message = str(caught.value)
    assert f"ASTROCAT_HOME={home}" in message
    assert f"inside the library root {library}" in message


def test_home_that_is_a_root_is_refused(tmp_path):
    environ = {"ASTROCAT_LIBRARY_ROOTS": str(tmp_path), "ASTROCAT_HOME": str(tmp_path)}
    with pytest.raises(ConfigError, match="ASTROCAT_HOME="):
        Settings.from_env(environ=environ, cwd=tmp_path)


def test_thumbnail_cache_inside_a_second_root_through_a_symlink_is_refused(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    second.mkdir()
    (tmp_path / "cache-link").symlink_to(second)
    thumbs = tmp_path / "cache-link" / "thumbs"
    environ = {
        "ASTROCAT_LIBRARY_ROOTS": os.pathsep.join([str(first), str(second)]),
        "ASTROCAT_HOME": str(tmp_path / "home"),
        "THUMBNAIL_CACHE_PATH": str(thumbs),
    }
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(environ=environ, cwd=tmp_path)
    assert f"THUMBNAIL_CACHE_PATH={thumbs} is inside the library root {second}" in str(caught.value)


def test_roots_beside_the_home_work(tmp_path):
    library = tmp_path / "library"
    environ = {
        "ASTROCAT_LIBRARY_ROOTS": str(library),
        "ASTROCAT_HOME": str(tmp_path / "library-home"),  # a name that starts like the root
    }
    settings = Settings.from_env(environ=environ, cwd=tmp_path)
    assert settings.library_roots == (str(library),)
    assert settings.thumbnail_cache_path == tmp_path / "library-home" / "thumbnails"


def test_the_demo_library_inside_the_home_is_a_root(tmp_path):
    home = tmp_path / "home"
    settings = Settings.from_env(environ={"ASTROCAT_HOME": str(home)}, cwd=tmp_path)
    assert settings.uses_demo_library
    assert settings.library_roots == (str(home / "demo-library"),)
