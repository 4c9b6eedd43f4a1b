"""Builds the three provisioned dashboards: grafana/dashboards/<folder>/<name>.json.

    uv run python grafana/build_dashboards.py           # rewrite the JSON files
    uv run python grafana/build_dashboards.py --check   # exit 1 if a committed file differs (the tests do this)

The JSON files are what Grafana provisions; the package beside this script, grafana/builders/, is their
source (one module per dashboard, built panel by panel), so SQL and PromQL read as text and every panel
is built the same way. Edit there, run this, commit both. (A dashboard changed in the Grafana UI cannot
be saved over a provisioned one; export it and port the change.)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DASHBOARDS_DIR = HERE / "dashboards"

# builders/ sits beside this file: on the path when run as a script, added when loaded by path (the tests).
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from builders import DASHBOARDS  # noqa: E402


def render(build: Callable[[], dict[str, Any]]) -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report files that differ; exit 1 if any")
    args = parser.parse_args(argv)
    stale = []
    for name, build in DASHBOARDS.items():
        path = DASHBOARDS_DIR / name
        text = render(build)
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(name)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    verb = "out of date (run uv run python grafana/build_dashboards.py)" if args.check else "written"
    for name in stale:
        print(f"grafana/dashboards/{name}: {verb}", file=sys.stderr)
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
