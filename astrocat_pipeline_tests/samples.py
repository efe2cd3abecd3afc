"""Where the real sample files are (``../shared/samples`` beside the project), and a marker
for the tests that read them: skipped with the reason on a machine that does not have them,
failed under CI (``CI=true``), which always has them (see ``conftest.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SAMPLES = PROJECT_ROOT.parent / "shared" / "samples"

needs_samples = pytest.mark.needs_samples


def samples_missing() -> str | None:
    """Why the samples cannot be read here, or None when they can."""
    if SAMPLES.is_dir():
        return None
    return f"real sample files not found at {SAMPLES} (they sit beside the project in CI)"


def sample(relative: str) -> Path:
    return SAMPLES / relative
