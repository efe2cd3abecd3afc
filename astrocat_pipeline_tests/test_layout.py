"""The dependency direction of STYLE.md: core and adapters never import dagster."""

from __future__ import annotations

import subprocess
import sys

import pytest

PURE_MODULES = [
    "astrocat_pipeline.core.loading",
    "astrocat_pipeline.core.metadata",
    "astrocat_pipeline.core.sky_catalog",
    "astrocat_pipeline.demo.library",
    "astrocat_pipeline.core.thumbnail",
    "astrocat_pipeline.core.wcs_geometry",
    "astrocat_pipeline.core.hints",
    "astrocat_pipeline.adapters.catalog",
    "astrocat_pipeline.adapters.solve_field",
    "astrocat_pipeline.adapters.openngc",
    "astrocat_pipeline.adapters.star_index",
    "astrocat_pipeline.adapters.thumbnail_store",
    "astrocat_pipeline.adapters.nova",
    "astrocat_pipeline.cataloging.steps",
    "astrocat_pipeline.cli",
]


@pytest.mark.parametrize("module", PURE_MODULES)
def test_module_does_not_import_dagster(module):
    code = f"import sys, {module}; sys.exit(1 if 'dagster' in sys.modules else 0)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{module} imports dagster\n{result.stderr}"
