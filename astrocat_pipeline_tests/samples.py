"""Where the real sample files are (``../shared/samples`` beside the project), and a marker
that skips, with the reason, on a machine that does not have them."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SAMPLES = PROJECT_ROOT.parent / "shared" / "samples"

needs_samples = pytest.mark.skipif(
    not SAMPLES.is_dir(),
    reason=f"real sample files not found at {SAMPLES} (they sit beside the project in CI)",
)


def sample(relative: str) -> Path:
    return SAMPLES / relative
