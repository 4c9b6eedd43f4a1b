"""The source of the provisioned dashboards, one module per dashboard, each built panel by panel.

    from builders import DASHBOARDS        # "energy/now.json" -> now.build, …
    DASHBOARDS["energy/now.json"]()        # the Now dashboard as a dict, ready for json.dumps

- blocks.py   what every dashboard is made of: SQL and PromQL targets, panel kinds (stat, timeseries,
              barchart, table, gauge), field config, the dashboard frame, `$site`, LOCAL_ZONE
- now.py      Now (amber-now), the wall tablet
- history.py  History (amber-history): costs, cheap hours, forecast accuracy, the bill, the plan
- health.py   Health (amber-health): exporter, Amber API, loader, TimescaleDB jobs

Each dashboard module has `build()`, which is its layout: one line per panel, its builder and its place
on the grid; each builder is a small function named for what it shows (`price_now_stat`, `bill_row`).
grafana/build_dashboards.py writes the JSON; grafana/README.md describes every panel.

Conventions:
- Data sources are referenced by the provisioned uids only: `amber-prometheus`, `amber-timescaledb`.
- `$site` is the one template variable shared by Now and History (a site_id from the `sites` table);
  History adds `$horizon` (forecast lead in minutes). SQL quotes it itself ('$site'): Grafana's SQL data
  sources escape quotes in a single-value variable but do not add them.
- Prices are c/kWh incl. GST as Amber sends them; costs are dollars (the database's cents / 100).
- Local calendar days come from the aggregates' `day`/`month` columns or the zone recorded in
  `amber_settings` (AMBER_TIMEZONE at migrate time; blocks.LOCAL_ZONE), never from the browser; time axes
  are shown in the browser's zone (dashboard timezone "browser").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import health, history, now

# path under grafana/dashboards -> builder
DASHBOARDS: dict[str, Callable[[], dict[str, Any]]] = {
    "energy/now.json": now.build,
    "energy/history.json": history.build,
    "operations/health.json": health.build,
}
