"""Configuration flows one way: environment -> Settings -> the astrocat resource."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from astrocat_pipeline.core.errors import ConfigError
from astrocat_pipeline.defs.resources import AstrocatResource
from astrocat_pipeline.settings import SETTING_VARIABLES, Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_a_resource_field_and_back():
    assert set(AstrocatResource.model_fields) == set(SETTING_VARIABLES)


def test_a_resource_field_wins_over_its_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("ASTROCAT_HOME", str(tmp_path / "env-home"))
    monkeypatch.setenv("ASTROCAT_RUN_RETENTION_DAYS", "30")
    monkeypatch.setenv("ASTROCAT_SOLVER_BLIND_FALLBACK", "true")
    monkeypatch.setenv("ASTROCAT_SOLVER", "none")
    settings = AstrocatResource(
        home=str(tmp_path / "config-home"),
        run_retention_days=7,
        solver_blind_fallback=False,
        stale_solve_after_s=42.5,
    ).settings()
    assert settings.home == tmp_path / "config-home"
    assert settings.run_retention_days == 7
    assert settings.blind_fallback is False
    assert settings.stale_solve_after_s == 42.5
    assert settings.solver == "none"  # not set on the resource: the environment's


@pytest.mark.parametrize("demo", [True, False])
def test_resource_config_reproduces_the_settings_in_a_run(tmp_path, monkeypatch, demo):
    for variable in SETTING_VARIABLES.values():
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("ASTROMETRY_API_KEY", "secret-key")
    overrides = {"ASTROCAT_HOME": str(tmp_path / "home"), "ASTROCAT_SOLVER": "nova"}
    if not demo:
        overrides["ASTROCAT_LIBRARY_ROOTS"] = str(tmp_path / "library")
    settings = Settings.from_env(overrides=overrides)
    config = settings.resource_config()
    assert "secret-key" not in repr(config)  # the key stays in the environment
    assert AstrocatResource(**config).settings() == settings


def test_the_readme_says_which_variables_the_launchpad_sets():
    rows = {
        match[1]: match[2]
        for match in re.finditer(r"^\| `([A-Z_]+)`.*\| ([^|]+) \|$", README.read_text(), re.M)
    }
    for variable in SETTING_VARIABLES.values():
        assert rows.get(variable, "").strip() == "yes", variable
    assert rows["ASTROMETRY_API_KEY"].startswith("no")
    assert rows["DAGSTER_HOME"].startswith("no")


def test_tombstone_days_come_from_the_environment_or_the_launchpad(monkeypatch):
    monkeypatch.setenv("ASTROCAT_TOMBSTONE_DAYS", "7")
    assert Settings.from_env().tombstone_days == 7
    assert AstrocatResource(tombstone_days=3).settings().tombstone_days == 3
    monkeypatch.setenv("ASTROCAT_TOMBSTONE_DAYS", "a week")
    with pytest.raises(ConfigError, match="ASTROCAT_TOMBSTONE_DAYS"):
        Settings.from_env()
    monkeypatch.delenv("ASTROCAT_TOMBSTONE_DAYS")
    assert Settings.from_env().tombstone_days == 30


def test_the_gallery_and_dagster_urls_come_from_the_environment_or_the_launchpad(monkeypatch):
    assert Settings.from_env(environ={}).gallery_url == "http://127.0.0.1:3001"
    monkeypatch.setenv("ASTROCAT_DAGSTER_URL", "https://dagster.example.org/")
    assert Settings.from_env().dagster_url == "https://dagster.example.org"
    assert AstrocatResource(gallery_url="http://host:8080").settings().gallery_url == (
        "http://host:8080"
    )
    monkeypatch.setenv("ASTROCAT_GALLERY_URL", "javascript:alert(1)")
    with pytest.raises(ConfigError, match="ASTROCAT_GALLERY_URL"):
        Settings.from_env()
