from __future__ import annotations

from pathlib import Path

import pytest

from tests.prometheus.tools import ToolsMissing, bin_dir


@pytest.fixture(scope="session")
def prometheus_bin() -> Path:
    """Directory with prometheus, promtool, prometheus-alertmanager and amtool; fails if missing."""
    try:
        return bin_dir()
    except ToolsMissing as exc:
        pytest.fail(str(exc), pytrace=False)
