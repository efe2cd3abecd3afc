"""What a test needs from the machine: skipped with the reason on a user's machine, a failure
under CI (``CI=true``), which has everything."""

from __future__ import annotations

import pytest


def test_a_missing_requirement_fails_under_ci_and_skips_elsewhere(request, monkeypatch):
    """Samples and the solver: skipped with the reason on a user's machine, failed under CI."""
    import astrocat_pipeline_tests.conftest as conftest

    request.node.add_marker("needs_samples")
    monkeypatch.setattr(conftest, "samples_missing", lambda: "no samples on this machine")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true, and no samples"):
        conftest.pytest_runtest_setup(request.node)
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="no samples on this machine"):
        conftest.pytest_runtest_setup(request.node)
