"""Find the real Prometheus tools (installed by scripts/prometheus-tools) and run them.

The binaries come from `scripts/prometheus-tools bin`, or from the directory named by
AMBER_PROMETHEUS_BIN. Missing binaries are a test failure that names the fix, never a skip."""

from __future__ import annotations

import os
import subprocess
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "prometheus"
TOOLS_SCRIPT = REPO / "scripts" / "prometheus-tools"
BINARIES = ("prometheus", "promtool", "prometheus-alertmanager", "amtool")
FIX = "run scripts/prometheus-tools install (./scripts/test does it before pytest)"


class ToolsMissing(RuntimeError):
    """The Prometheus tools are not installed; the message says how to fix it."""


@cache
def bin_dir() -> Path:
    if env := os.environ.get("AMBER_PROMETHEUS_BIN"):
        directory, source = Path(env), "AMBER_PROMETHEUS_BIN"
    else:
        try:
            out = subprocess.run([str(TOOLS_SCRIPT), "bin"], check=True, capture_output=True, text=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise ToolsMissing(f"{TOOLS_SCRIPT} bin failed ({exc}); {FIX}") from exc
        directory, source = Path(out.stdout.strip()), "scripts/prometheus-tools bin"
    missing = [name for name in BINARIES if not os.access(directory / name, os.X_OK)]
    if missing:
        raise ToolsMissing(f"{', '.join(missing)} not found in {directory} (from {source}); {FIX}")
    return directory


def run_tool(name: str, *args: str, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess[str]:
    """Run a tool to completion; stdout and stderr are merged, since promtool splits its report."""
    return subprocess.run(
        [str(bin_dir() / name), *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )
