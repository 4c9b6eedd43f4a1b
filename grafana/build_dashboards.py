"""Builds the three provisioned dashboards: grafana/dashboards/<folder>/<name>.json.

    uv run python grafana/build_dashboards.py           # rewrite the JSON files
    uv run python grafana/build_dashboards.py --check   # exit 1 if a committed file differs (the tests do this)

The JSON files are what Grafana provisions; this script is their source, so SQL and PromQL read as text
and every panel is built the same way. Edit here, run it, commit both. (A dashboard changed in the
Grafana UI cannot be saved over a provisioned one; export it and port the change here.)

Conventions (grafana/README.md describes every panel):
- Data sources are referenced by the provisioned uids only: `amber-prometheus`, `amber-timescaledb`.
- `$site` is the one template variable shared by Now and History (a site_id from the `sites` table);
  History adds `$horizon` (forecast lead in minutes). SQL quotes it itself ('$site'): Grafana's SQL data
  sources escape quotes in a single-value variable but do not add them.
- Prices are c/kWh incl. GST as Amber sends them; costs are dollars (the database's cents / 100).
- Local calendar days come from the aggregates' `day`/`month` columns or the zone recorded in
  `amber_settings` (AMBER_TIMEZONE at migrate time), never from the browser; time axes are shown in the
  browser's zone (dashboard timezone "browser").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from textwrap import dedent
from typing import Any

HERE = Path(__file__).resolve().parent
DASHBOARDS_DIR = HERE / "dashboards"
SCHEMA_VERSION = 41  # the dashboard model of Grafana 11.6 (compose.yaml; grafana/schema pins @grafana/schema 11.6.1)

PROMETHEUS = {"type": "prometheus", "uid": "amber-prometheus"}
TIMESCALEDB = {"type": "grafana-postgresql-datasource", "uid": "amber-timescaledb"}

C_PER_KWH = "suffix: c/kWh"
DOLLARS = "currencyUSD"  # Grafana has no AUD unit; this one prints "$"
LOCAL_ZONE = "(SELECT value FROM amber_settings WHERE key = 'timezone')"

# Amber's price descriptors: the colour and the words the tablet shows for each.
DESCRIPTORS = {
    "negative": ("purple", "Negative: you are paid"),
    "extremelyLow": ("dark-green", "Extremely low"),
    "veryLow": ("green", "Very low"),
    "low": ("light-green", "Low"),
    "neutral": ("yellow", "Neutral"),
    "high": ("orange", "High"),
    "spike": ("red", "Spike"),
}
TARIFF_PERIODS = {
    "offPeak": ("green", "Off-peak"),
    "solarSponge": ("light-green", "Solar sponge"),
    "shoulder": ("yellow", "Shoulder"),
    "peak": ("red", "Peak"),
}
HORIZONS = [(60, "1 hour"), (240, "4 hours"), (720, "12 hours"), (1440, "24 hours")]


# --- building blocks -------------------------------------------------------------------------------------


def sql(text: str, ref: str = "A", fmt: str = "table") -> dict[str, Any]:
    """A raw SQL query on TimescaleDB; fmt is "table" or "time_series" (needs a `time` column)."""
    return {"refId": ref, "datasource": TIMESCALEDB, "editorMode": "code", "format": fmt, "rawQuery": True,
            "rawSql": dedent(text).strip()}  # fmt: skip


def promql(expr: str, ref: str = "A", legend: str = "__auto", *, instant: bool = False) -> dict[str, Any]:
    """A PromQL query; instant for stats and gauges (the latest value), range for graphs."""
    return {"refId": ref, "datasource": PROMETHEUS, "editorMode": "code", "expr": " ".join(expr.split()),
            "legendFormat": legend, "instant": instant, "range": not instant}  # fmt: skip


def thresholds(*steps: tuple[float | None, str]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": color, "value": value} for value, color in steps]}


def value_mappings(mapping: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
    """value -> (colour, text), as one Grafana value map."""
    options = {
        value: {"color": color, "text": text, "index": i} for i, (value, (color, text)) in enumerate(mapping.items())
    }
    return [{"type": "value", "options": options}]


def by_name(name: str, **properties: Any) -> dict[str, Any]:
    """A field override for the series/column called `name`; keys use __ for dots (custom__lineWidth)."""
    props = [{"id": key.replace("__", "."), "value": value} for key, value in properties.items()]
    return {"matcher": {"id": "byName", "options": name}, "properties": props}


def fixed(color: str) -> dict[str, str]:
    return {"mode": "fixed", "fixedColor": color}


def reduce_last(fields: str = "") -> dict[str, Any]:
    return {"calcs": ["lastNotNull"], "fields": fields, "values": False}


LEGEND_BOTTOM = {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": True}
TOOLTIP = {"mode": "multi", "sort": "none"}
HIDE_NOTHING = {"legend": False, "tooltip": False, "viz": False}


def panel(kind: str, title: str, grid: tuple[int, int, int, int], targets: list[dict[str, Any]], *,
          description: str, options: dict[str, Any], defaults: dict[str, Any] | None = None,
          overrides: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:  # fmt: skip
    x, y, w, h = grid
    datasources = {t["datasource"]["uid"] for t in targets}
    assert len(datasources) == 1, f"{title}: one data source per panel"
    return {
        "type": kind,
        "title": title,
        "description": description,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "datasource": targets[0]["datasource"],
        "targets": targets,
        "options": options,
        "fieldConfig": {"defaults": defaults or {}, "overrides": overrides or []},
        **extra,
    }


def stat(title: str, grid, targets, *, description: str, unit: str = "none", decimals: int | None = None,
         color_mode: str = "value", text_mode: str = "value", value_size: int | None = None,
         title_size: int | None = None, mappings=None, steps=None, color=None, no_value: str = "No data",
         overrides=None, **extra) -> dict[str, Any]:  # fmt: skip
    defaults: dict[str, Any] = {"unit": unit, "noValue": no_value, "mappings": mappings or [],
                                "thresholds": steps or thresholds((None, "text")),
                                "color": color or {"mode": "thresholds"}}  # fmt: skip
    if decimals is not None:
        defaults["decimals"] = decimals
    text = {k: v for k, v in (("valueSize", value_size), ("titleSize", title_size)) if v}
    options = {"colorMode": color_mode, "graphMode": "none", "justifyMode": "center", "orientation": "auto",
               "percentChangeColorMode": "standard", "reduceOptions": reduce_last(), "showPercentChange": False,
               "textMode": text_mode, "wideLayout": True, **({"text": text} if text else {})}  # fmt: skip
    return panel("stat", title, grid, targets, description=description, options=options, defaults=defaults,
                 overrides=overrides, **extra)  # fmt: skip


def timeseries(title: str, grid, targets, *, description: str, unit: str, draw: str = "line",
               interpolation: str = "linear", fill: int = 0, decimals: int | None = None, overrides=None,
               steps=None, **extra) -> dict[str, Any]:  # fmt: skip
    custom = {"drawStyle": draw, "lineInterpolation": interpolation, "lineWidth": 1, "fillOpacity": fill,
              "gradientMode": "none", "showPoints": "never", "pointSize": 4, "spanNulls": False,
              "axisPlacement": "auto", "axisLabel": "", "axisBorderShow": False, "axisCenteredZero": False,
              "axisColorMode": "text", "barAlignment": 0, "scaleDistribution": {"type": "linear"},
              "stacking": {"group": "A", "mode": "none"}, "hideFrom": HIDE_NOTHING,
              "thresholdsStyle": {"mode": "off"}, "insertNulls": False}  # fmt: skip
    defaults: dict[str, Any] = {"unit": unit, "custom": custom, "color": {"mode": "palette-classic"},
                                "thresholds": steps or thresholds((None, "green")), "mappings": []}  # fmt: skip
    if decimals is not None:
        defaults["decimals"] = decimals
    options = {"legend": LEGEND_BOTTOM, "tooltip": TOOLTIP}
    return panel("timeseries", title, grid, targets, description=description, options=options, defaults=defaults,
                 overrides=overrides, **extra)  # fmt: skip


def barchart(title: str, grid, targets, *, description: str, unit: str, x_field: str, decimals: int | None = None,
             color=None, color_by_field: str | None = None, overrides=None, label_spacing: int = 0,
             **extra) -> dict[str, Any]:  # fmt: skip
    custom = {"fillOpacity": 80, "gradientMode": "none", "lineWidth": 1, "axisPlacement": "auto", "axisLabel": "",
              "axisBorderShow": False, "axisCenteredZero": False, "axisColorMode": "text",
              "scaleDistribution": {"type": "linear"}, "hideFrom": HIDE_NOTHING,
              "thresholdsStyle": {"mode": "off"}}  # fmt: skip
    defaults: dict[str, Any] = {"unit": unit, "custom": custom, "color": color or {"mode": "palette-classic"},
                                "thresholds": thresholds((None, "green")), "mappings": []}  # fmt: skip
    if decimals is not None:
        defaults["decimals"] = decimals
    options: dict[str, Any] = {"xField": x_field, "orientation": "auto", "stacking": "none", "showValue": "never",
                               "barWidth": 0.8, "groupWidth": 0.8, "fullHighlight": False, "barRadius": 0,
                               "xTickLabelRotation": 0, "xTickLabelMaxLength": 12, "xTickLabelSpacing": label_spacing,
                               "legend": LEGEND_BOTTOM, "tooltip": TOOLTIP}  # fmt: skip
    if color_by_field:
        options["colorByField"] = color_by_field
    return panel("barchart", title, grid, targets, description=description, options=options, defaults=defaults,
                 overrides=overrides, **extra)  # fmt: skip


def gauge_options(value_size: int | None = None) -> dict[str, Any]:
    options = {"reduceOptions": reduce_last(), "orientation": "auto", "showThresholdLabels": False,
               "showThresholdMarkers": True, "sizing": "auto", "minVizHeight": 75, "minVizWidth": 75}  # fmt: skip
    if value_size:
        options["text"] = {"valueSize": value_size}
    return options


def site_variable() -> dict[str, Any]:
    return {
        "type": "query",
        "name": "site",
        "label": "Site",
        "description": "Amber site (from the sites table); open sites first.",
        "datasource": TIMESCALEDB,
        "query": "SELECT site_id AS __value, nmi AS __text FROM sites "
        "ORDER BY closed_on IS NOT NULL, active_from DESC NULLS LAST, site_id",
        "refresh": 1,  # on dashboard load
        "sort": 0,  # keep the query's order: the first (default) option is the newest open site
        "multi": False,
        "includeAll": False,
        "hide": 0,
        "regex": "",
        "skipUrlSync": False,
        "options": [],
    }


def horizon_variable() -> dict[str, Any]:
    default = 240
    options = [{"text": text, "value": str(minutes), "selected": minutes == default} for minutes, text in HORIZONS]
    return {
        "type": "custom",
        "name": "horizon",
        "label": "Forecast lead",
        "description": "Lead time of the forecasts compared with the final price "
        "(a forecast_accuracy horizon bucket, minutes).",
        "query": ", ".join(f"{text} : {minutes}" for minutes, text in HORIZONS),
        "current": {"text": dict(HORIZONS)[default], "value": str(default)},
        "options": options,
        "multi": False,
        "includeAll": False,
        "hide": 0,
        "skipUrlSync": False,
    }


def dashboard(uid: str, title: str, *, description: str, tags: list[str], refresh: str, time_from: str,
              time_to: str, panels: list[dict[str, Any]], variables: list[dict[str, Any]],
              refresh_intervals: list[str]) -> dict[str, Any]:  # fmt: skip
    for number, p in enumerate(panels, start=1):
        p["id"] = number
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["amber-home", *tags],
        "editable": False,
        "graphTooltip": 1,  # shared crosshair
        "timezone": "browser",
        "weekStart": "monday",
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "refresh": refresh,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": time_from, "to": time_to},
        "timepicker": {"refresh_intervals": refresh_intervals},
        "templating": {"list": variables},
        "annotations": {"list": []},
        "links": [
            {
                "title": "Amber-Home",
                "type": "dashboards",
                "tags": ["amber-home"],
                "asDropdown": False,
                "icon": "external link",
                "includeVars": True,
                "keepTime": False,
                "targetBlank": False,
                "tooltip": "",
            }
        ],  # fmt: skip
        "panels": panels,
    }


# --- Now: the wall tablet ----------------------------------------------------------------------------------

SITE_GENERAL = 'site_id="$site",channel="general"'


def now_dashboard() -> dict[str, Any]:
    descriptor_overrides = [
        by_name(name, color=fixed(color), displayName=text) for name, (color, text) in DESCRIPTORS.items()
    ]
    period_overrides = [
        by_name(name, color=fixed(color), displayName=text) for name, (color, text) in TARIFF_PERIODS.items()
    ]
    big = 80  # value size (px) of the headline stats; the tablet is read from across the room
    panels = [
        stat(
            "",
            (0, 0, 18, 2),
            [
                promql(
                    f"""max(amber_spike_status{{{SITE_GENERAL},status="potential"}})
                       + 2 * max(amber_spike_status{{{SITE_GENERAL},status="spike"}})""",
                    instant=True,
                )
            ],
            description="Amber's spike status for the current interval (amber_spike_status): a red banner during a "
            "price spike, orange when one may be coming.",
            color_mode="background",
            value_size=36,
            mappings=value_mappings(
                {
                    "0": ("transparent", "No price spike"),
                    "1": ("orange", "Spike possible: prices may jump soon"),
                    "2": ("red", "PRICE SPIKE: use as little power as you can"),
                }
            ),  # fmt: skip
            no_value="No data from the exporter",
        ),
        stat(
            "Next spike",
            (18, 0, 6, 2),
            [promql(f"1000 * min(amber_forecast_next_spike_timestamp_seconds{{{SITE_GENERAL}}})", instant=True)],
            description="Start of the next forecast interval with a potential or actual spike "
            "(amber_forecast_next_spike_timestamp_seconds); 'None forecast' when the forecast has none.",
            unit="dateTimeFromNow",
            value_size=28,
            no_value="None forecast",
        ),
        stat(
            "Price now",
            (0, 2, 8, 7),
            [
                promql(
                    f"""100 * amber_price_dollars_per_kwh{{{SITE_GENERAL}}}
                       * on (site_id, channel) group_left (descriptor)
                       (amber_price_descriptor{{{SITE_GENERAL}}} == 1)""",
                    legend="{{descriptor}}",
                    instant=True,
                )
            ],
            description="General (import) price of the current interval in c/kWh incl. GST "
            "(amber_price_dollars_per_kwh × 100), coloured and named by Amber's price descriptor "
            "(amber_price_descriptor). Amber's sign: below 0 you are paid to use power.",
            unit=C_PER_KWH,
            decimals=1,
            color_mode="background",
            text_mode="value_and_name",
            value_size=big,
            title_size=20,
            overrides=descriptor_overrides,
            no_value="—",
            steps=thresholds((None, "blue")),  # a descriptor Amber adds later, with no colour of its own
        ),
        stat(
            "Feed-in earns",
            (8, 2, 5, 7),
            [promql('-100 * amber_price_dollars_per_kwh{site_id="$site",channel="feedIn"}', instant=True)],
            description="What exporting a kWh earns now, in c/kWh: Amber's feed-in price with its sign flipped "
            "(Amber sends a negative feed-in price when you are paid). Red below 0: exporting costs money, "
            "curtail solar if you can.",
            unit=C_PER_KWH,
            decimals=1,
            value_size=56,
            no_value="No feed-in",
            steps=thresholds((None, "red"), (0, "green")),
        ),
        panel(
            "gauge",
            "Renewables",
            (13, 2, 5, 7),
            [promql('amber_renewables_ratio{site_id="$site"}', instant=True)],
            description="Share of renewable generation in the site's region now (amber_renewables_ratio).",
            options=gauge_options(value_size=40),
            defaults={
                "unit": "percentunit",
                "min": 0,
                "max": 1,
                "decimals": 0,
                "noValue": "—",
                "mappings": [],
                "color": {"mode": "thresholds"},
                "thresholds": thresholds((None, "red"), (0.3, "orange"), (0.6, "green")),
            },  # fmt: skip
        ),
        stat(
            "Tariff period",
            (18, 2, 6, 4),
            [promql(f"amber_tariff_period{{{SITE_GENERAL}}} == 1", legend="{{period}}", instant=True)],
            description="Network time-of-use period of the current interval (amber_tariff_period).",
            color_mode="background",
            text_mode="name",
            value_size=32,
            overrides=period_overrides,
            no_value="No time-of-use tariff",
        ),
        stat(
            "Demand window",
            (18, 6, 6, 3),
            [promql(f"max(amber_demand_window{{{SITE_GENERAL}}})", instant=True)],
            description="Whether the current interval is in the network's demand window (amber_demand_window): "
            "keep big loads off, a demand charge may be set by the highest use in it.",
            color_mode="background",
            value_size=24,
            mappings=value_mappings(
                {"0": ("transparent", "No demand window"), "1": ("orange", "Demand window: keep load low")}
            ),
            no_value="—",
        ),
        timeseries(
            "Price: last 6 hours and forecast",
            (0, 9, 18, 8),
            [
                sql(
                    """
                    SELECT interval_start AS "time", per_kwh AS "Price"
                    FROM prices
                    WHERE site_id = '$site' AND channel_type = 'general' AND $__timeFilter(interval_start)
                    ORDER BY 1
                """,
                    "A",
                    "time_series",
                ),
                sql(
                    """
                    SELECT interval_start AS "time",
                           per_kwh AS "Forecast",
                           advanced_price_low AS "Advanced low",
                           advanced_price_predicted AS "Advanced predicted",
                           advanced_price_high AS "Advanced high"
                    FROM forecast_latest
                    WHERE site_id = '$site' AND channel_type = 'general'
                      AND interval_end > now() AND interval_start < now() + INTERVAL '12 hours'
                      AND $__timeFilter(interval_start)
                    ORDER BY 1
                """,
                    "B",
                    "time_series",
                ),
            ],
            description="General price in c/kWh: the stored prices of the last hours, then the newest stored "
            "forecast of each interval for the next 12 hours (forecast_latest): Amber's forecast price, its "
            "advanced price prediction and the advanced price's low–high band (shaded).",
            unit=C_PER_KWH,
            interpolation="stepAfter",
            decimals=1,
            overrides=[
                by_name("Price", color=fixed("text"), custom__lineWidth=2),
                by_name("Forecast", color=fixed("orange"), custom__lineStyle={"fill": "dash", "dash": [10, 10]}),
                by_name("Advanced predicted", color=fixed("blue"), custom__lineWidth=2),
                by_name(
                    "Advanced high",
                    color=fixed("blue"),
                    custom__lineWidth=0,
                    custom__fillOpacity=20,
                    custom__fillBelowTo="Advanced low",
                ),
                by_name(
                    "Advanced low",
                    color=fixed("blue"),
                    custom__lineWidth=0,
                    custom__hideFrom={"legend": True, "tooltip": False, "viz": False},
                ),
            ],
        ),
        stat(
            "Yesterday",
            (18, 9, 6, 3),
            [
                sql(f"""
                SELECT sum(cost) / 100 AS "Yesterday"
                FROM cost_daily
                WHERE site_id = '$site'
                  AND day = (now() AT TIME ZONE {LOCAL_ZONE})::date - 1
            """)
            ],
            description="Net cost of yesterday (local day, AMBER_TIMEZONE) in dollars: imports minus feed-in "
            "credits, from cost_daily. Part of it may still be estimated usage.",
            unit=DOLLARS,
            decimals=2,
            value_size=40,
        ),
        stat(
            "This month",
            (18, 12, 6, 3),
            [
                sql(f"""
                SELECT coalesce(sum(cost), 0) / 100 AS "This month"
                FROM cost_daily
                WHERE site_id = '$site'
                  AND day >= date_trunc('month', now() AT TIME ZONE {LOCAL_ZONE})::date
            """)
            ],
            description="Net cost of this local month so far in dollars (cost_daily). Amber sends usage the "
            "next day, so it runs up to yesterday.",
            unit=DOLLARS,
            decimals=2,
            value_size=40,
        ),
        stat(
            "Updated",
            (18, 15, 6, 2),
            [promql("1000 * amber_last_poll_success_timestamp_seconds", instant=True)],
            description="When the exporter last polled Amber successfully (amber_last_poll_success_timestamp_seconds).",
            unit="dateTimeFromNow",
            value_size=20,
            title_size=12,
        ),
    ]
    panels += plan_panels(17)
    return dashboard(
        "amber-now", "Now",
        description="The wall tablet: the price now, spikes, the next 12 hours and what power cost. Open "
        "/d/amber-now/now?kiosk on the tablet.",
        tags=["tablet"], refresh="30s", time_from="now-6h", time_to="now+12h", panels=panels,
        variables=[site_variable()], refresh_intervals=["30s", "1m"],
    )  # fmt: skip


def plan_panels(y: int) -> list[dict[str, Any]]:
    """The Plan row: each AMBER_LOADS load's cheapest window in the forecast (amber_plan_* metrics), one value
    per load, e.g. car: 23:00, 03:00, 16.0 c/kWh, saves 13.4 c/kWh."""
    site = 'site_id="$site"'
    about = ("the cheapest window of each load in AMBER_LOADS in the next 12 hours of forecast, or before its "
             "'by' time (feedIn loads: the best hours to export); recomputed with every new forecast.")
    common = {"text_mode": "value_and_name", "value_size": 20, "title_size": 12,
              "no_value": "No loads: set AMBER_LOADS"}
    return [
        stat("Plan: start", (0, y, 6, 3),
             [promql(f"1000 * amber_plan_window_start_timestamp_seconds{{{site}}}", legend="{{load}}", instant=True)],
             description=f"When to start: {about} (amber_plan_window_start_timestamp_seconds)",
             unit="time:HH:mm", **common),
        stat("Plan: until", (6, y, 6, 3),
             [promql(f"1000 * amber_plan_window_end_timestamp_seconds{{{site}}}", legend="{{load}}", instant=True)],
             description=f"When the window ends: {about} (amber_plan_window_end_timestamp_seconds)",
             unit="time:HH:mm", **common),
        stat("Plan: price", (12, y, 6, 3),
             [promql(f"100 * amber_plan_price_dollars_per_kwh{{{site}}}", legend="{{load}}", instant=True)],
             description=f"Mean predicted price over the window in c/kWh: {about} (amber_plan_price_dollars_per_kwh)",
             unit=C_PER_KWH, decimals=1, **common),
        stat("Plan: saves vs now", (18, y, 6, 3),
             [promql(f"100 * amber_plan_saving_dollars_per_kwh{{{site}}}", legend="{{load}}", instant=True)],
             description="How much cheaper per kWh the window is than starting now (c/kWh; 0: now is the best "
             "time). For loads with a power (7kW) amber_plan_saving_dollars has it in dollars; the band of "
             "Amber's advanced price is amber_plan_advanced_price_dollars_per_kwh.",
             unit=C_PER_KWH, decimals=1, **common),
    ]  # fmt: skip


# --- History --------------------------------------------------------------------------------------------------


def hour_columns() -> str:
    """24 columns "00:00" .. "23:00": one heatmap row per local hour of the day."""
    return ",\n".join(
        f'       avg(avg_per_kwh) FILTER (WHERE extract(hour FROM local_hour) = {hour}) AS "{hour:02d}:00"'
        for hour in range(24)
    )


# One row per local day (time = local midnight), one column per local hour: Grafana's heatmap reads each
# column as a bucket (rowsFrame). On the day daylight saving ends the repeated hour is averaged.
HEATMAP_SQL = """
SELECT local_day AS "time",
{HOURS}
FROM (
    SELECT hour_start AT TIME ZONE z.zone AS local_hour,
           date_trunc('day', hour_start AT TIME ZONE z.zone) AT TIME ZONE z.zone AS local_day,
           avg_per_kwh
    FROM price_hourly, (SELECT value AS zone FROM amber_settings WHERE key = 'timezone') AS z
    WHERE site_id = '$site' AND channel_type = 'general' AND $__timeFilter(hour_start)
) AS hourly
GROUP BY local_day
ORDER BY local_day
"""


def history_dashboard() -> dict[str, Any]:
    cost_split = """
        sum(cost) FILTER (WHERE channel_type <> 'feedIn') / 100 AS "Imports",
        coalesce(sum(cost) FILTER (WHERE channel_type = 'feedIn'), 0) / 100 AS "Export credits",
        sum(cost) / 100 AS "Net\""""
    cost_colors = [by_name("Imports", color=fixed("orange")), by_name("Export credits", color=fixed("green")),
                   by_name("Net", color=fixed("blue"))]  # fmt: skip
    panels = [
        barchart(
            "Daily cost",
            (0, 0, 16, 9),
            [
                sql(f"""
                SELECT to_char(day, 'Dy DD/MM') AS "Day",{cost_split}
                FROM cost_daily
                WHERE site_id = '$site' AND $__timeFilter(day_start)
                GROUP BY day
                ORDER BY day
            """)
            ],
            description="Cost per local day in dollars (cost_daily): imports (general and controlled load), "
            "feed-in credits (negative: money earned) and the net. Days are AMBER_TIMEZONE calendar days.",
            unit=DOLLARS,
            x_field="Day",
            decimals=2,
            overrides=cost_colors,
            label_spacing=100,
        ),
        stat(
            "Selected period",
            (16, 0, 8, 9),
            [
                sql("""
                SELECT sum(cost) FILTER (WHERE channel_type <> 'feedIn') / 100 AS "Imports",
                       coalesce(sum(cost) FILTER (WHERE channel_type = 'feedIn'), 0) / 100 AS "Export credits",
                       sum(cost) / 100 AS "Net cost",
                       sum(kwh_imported) AS "Imported",
                       sum(kwh_exported) AS "Exported"
                FROM cost_daily
                WHERE site_id = '$site' AND $__timeFilter(day_start)
            """)
            ],
            description="Totals over the local days in the time range (cost_daily): dollars and kWh.",
            unit=DOLLARS,
            decimals=2,
            text_mode="value_and_name",
            value_size=28,
            title_size=14,
            overrides=[by_name("Imported", unit="kwatth", decimals=0), by_name("Exported", unit="kwatth", decimals=0)],
        ),
        panel(
            "table",
            "Monthly totals",
            (0, 9, 12, 8),
            [
                sql("""
                SELECT to_char(month, 'YYYY-MM') AS "Month",
                       sum(kwh_imported) AS "Imported kWh",
                       sum(kwh_exported) AS "Exported kWh",
                       sum(cost) FILTER (WHERE channel_type <> 'feedIn') / 100 AS "Imports",
                       coalesce(sum(cost) FILTER (WHERE channel_type = 'feedIn'), 0) / 100 AS "Export credits",
                       sum(cost) / 100 AS "Net",
                       sum(estimated_intervals) AS "Estimated intervals"
                FROM cost_monthly
                WHERE site_id = '$site' AND month_start <= $__timeTo()
                GROUP BY month
                ORDER BY month DESC
                LIMIT 13
            """)
            ],
            description="The 13 local months up to the end of the time range (cost_monthly): energy, import "
            "cost, feed-in credits and the net in dollars. 'Estimated intervals' > 0: Amber has not sent final "
            "(billable) usage for all of the month yet.",
            options={"showHeader": True, "frameIndex": 0, "cellHeight": "sm", "sortBy": []},
            defaults={
                "custom": {"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False},
                "decimals": 2,
                "mappings": [],
                "color": {"mode": "thresholds"},
                "thresholds": thresholds((None, "text")),
            },  # fmt: skip
            overrides=[
                *(by_name(name, unit=DOLLARS) for name in ("Imports", "Export credits", "Net")),
                by_name("Imported kWh", decimals=0),
                by_name("Exported kWh", decimals=0),
                by_name("Estimated intervals", decimals=0),
            ],
        ),
        timeseries(
            "Imports vs solar export",
            (12, 9, 12, 8),
            [
                sql(
                    """
                SELECT $__timeGroupAlias(hour_start, $__interval),
                       sum(kwh) FILTER (WHERE channel_type <> 'feedIn') AS "Imported",
                       -sum(kwh) FILTER (WHERE channel_type = 'feedIn') AS "Exported"
                FROM usage_hourly
                WHERE site_id = '$site' AND $__timeFilter(hour_start)
                GROUP BY 1
                ORDER BY 1
            """,
                    fmt="time_series",
                )
            ],
            description="Energy imported from and exported to the grid in kWh per time bucket (at least an hour; "
            "usage_hourly). Exports are shown as positive kWh.",
            unit="kwatth",
            draw="bars",
            fill=60,
            interval="1h",
            overrides=[by_name("Imported", color=fixed("orange")), by_name("Exported", color=fixed("green"))],
        ),
        panel(
            "heatmap",
            "Price by hour of day",
            (0, 17, 16, 9),
            [sql(HEATMAP_SQL.replace("{HOURS}", hour_columns()), fmt="time_series")],
            description="Mean general price (c/kWh) of each local hour (rows) of each local day (columns), "
            "from price_hourly: green cheap, red expensive.",
            options={
                "calculate": False,
                "rowsFrame": {"layout": "auto"},
                "cellGap": 1,
                "showValue": "never",
                "color": {
                    "mode": "scheme",
                    "scheme": "RdYlGn",
                    "reverse": True,
                    "fill": "dark-orange",
                    "exponent": 0.5,
                    "steps": 64,
                    "scale": "exponential",
                },
                "cellValues": {"unit": C_PER_KWH, "decimals": 1},
                "yAxis": {"axisPlacement": "left", "reverse": True},
                "legend": {"show": True},
                "tooltip": {"mode": "single", "yHistogram": False, "showColorScale": True},
                "exemplars": {"color": "rgba(255,0,255,0.7)"},
            },  # fmt: skip
            defaults={"custom": {"hideFrom": HIDE_NOTHING, "scaleDistribution": {"type": "linear"}}},
        ),
        barchart(
            "Cheapest hours of the day",
            (16, 17, 8, 9),
            [
                sql(f"""
                SELECT to_char(hour_start AT TIME ZONE {LOCAL_ZONE}, 'HH24') || ':00' AS "Hour",
                       avg(avg_per_kwh) AS "Mean price"
                FROM price_hourly
                WHERE site_id = '$site' AND channel_type = 'general' AND $__timeFilter(hour_start)
                GROUP BY 1
                ORDER BY 1
            """)
            ],
            description="Mean general price of each local hour of the day over the time range (price_hourly), "
            "in c/kWh: the green bars are the hours to run the dishwasher.",
            unit=C_PER_KWH,
            x_field="Hour",
            decimals=1,
            color={"mode": "continuous-GrYlRd"},
            color_by_field="Mean price",
            label_spacing=30,
        ),
        panel(
            "histogram",
            "Price distribution",
            (0, 26, 12, 8),
            [
                sql("""
                SELECT per_kwh AS "General price"
                FROM prices
                WHERE site_id = '$site' AND channel_type = 'general' AND interval_type = 'ActualInterval'
                  AND $__timeFilter(interval_start)
            """)
            ],
            description="How often each general price occurred (actual interval prices in the time range, c/kWh).",
            options={
                "bucketSize": 2,
                "bucketOffset": 0,
                "combine": False,
                "legend": LEGEND_BOTTOM,
                "tooltip": TOOLTIP,
            },  # fmt: skip
            defaults={
                "unit": C_PER_KWH,
                "color": {"mode": "palette-classic"},
                "mappings": [],
                "thresholds": thresholds((None, "green")),
                "custom": {"fillOpacity": 80, "gradientMode": "none", "lineWidth": 1, "hideFrom": HIDE_NOTHING},
            },  # fmt: skip
        ),
        panel(
            "table",
            "Forecast accuracy by lead time",
            (12, 26, 12, 8),
            [
                sql("""
                SELECT CASE WHEN horizon_minutes < 60 THEN horizon_minutes || ' min'
                            ELSE horizon_minutes / 60 || ' h' END AS "Lead time",
                       count(*) AS "Forecasts",
                       avg(abs(error_per_kwh)) AS "Mean abs. error",
                       avg(abs(advanced_price_error)) AS "Mean abs. error (advanced)",
                       avg(error_per_kwh) AS "Mean error (bias)",
                       avg(CASE WHEN actual_within_advanced_range THEN 1.0 ELSE 0.0 END) AS "Within advanced range"
                FROM forecast_accuracy
                WHERE site_id = '$site' AND channel_type = 'general' AND $__timeFilter(interval_start)
                GROUP BY horizon_minutes
                ORDER BY horizon_minutes
            """)
            ],
            description="How far stored forecasts were from the final (actual) general price, by how long before "
            "the interval they were fetched (forecast_accuracy), in c/kWh. Bias > 0: forecasts too high. "
            "'Within advanced range': share of intervals whose final price fell inside Amber's advanced "
            "price low–high band.",
            options={"showHeader": True, "frameIndex": 0, "cellHeight": "sm", "sortBy": []},
            defaults={
                "custom": {"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False},
                "unit": C_PER_KWH,
                "decimals": 1,
                "mappings": [],
                "color": {"mode": "thresholds"},
                "thresholds": thresholds((None, "text")),
            },  # fmt: skip
            overrides=[
                by_name("Lead time", unit="none"),
                by_name("Forecasts", unit="none", decimals=0),
                by_name("Within advanced range", unit="percentunit", decimals=0),
            ],
        ),
        timeseries(
            "Forecast vs final price ($horizon min ahead)",
            (0, 34, 24, 8),
            [
                sql(
                    """
                SELECT interval_start AS "time",
                       actual_per_kwh AS "Final price",
                       forecast_per_kwh AS "Forecast",
                       advanced_price_predicted AS "Advanced predicted"
                FROM forecast_accuracy
                WHERE site_id = '$site' AND channel_type = 'general' AND horizon_minutes = $horizon
                  AND $__timeFilter(interval_start)
                ORDER BY 1
            """,
                    fmt="time_series",
                )
            ],
            description="Final general price against the forecasts fetched about $horizon minutes before each "
            "interval (forecast_accuracy; choose the lead at the top), c/kWh.",
            unit=C_PER_KWH,
            interpolation="stepAfter",
            decimals=1,
            overrides=[
                by_name("Final price", color=fixed("text"), custom__lineWidth=2),
                by_name("Forecast", color=fixed("orange")),
                by_name("Advanced predicted", color=fixed("blue")),
            ],  # fmt: skip
        ),
    ]
    panels += bill_panels(42) + compare_panels(48)
    return dashboard(
        "amber-history", "History",
        description="Costs per day and month, when power is cheap, and how good the forecasts were.",
        tags=["history"], refresh="", time_from="now-30d", time_to="now", panels=panels,
        variables=[site_variable(), horizon_variable()], refresh_intervals=["5m", "15m", "1h"],
    )  # fmt: skip


def bill_panels(y: int) -> list[dict[str, Any]]:
    """The true bill (sql/014 bill_periods): usage + feed-in + supply + subscription, this billing period
    and the ones before. Money columns are cents in the database, dollars here."""
    current = "FROM bill_periods WHERE site_id = '$site' ORDER BY period_start DESC LIMIT 1"
    money = {"custom": {"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False}, "unit": DOLLARS,
             "decimals": 2, "mappings": [], "color": {"mode": "thresholds"}, "thresholds": thresholds((None, "text"))}
    return [
        stat(
            "This bill so far",
            (0, y, 6, 6),
            [sql(f"""
                SELECT total_cents / 100 AS "So far",
                       days_with_data AS "Days with data",
                       status AS "Status"
                {current}
            """)],
            description="The current billing period (AMBER_BILL_DAY) up to the newest day with usage: usage + "
            "feed-in (credits negative) + daily supply charge + Amber subscription, in dollars incl. GST "
            "(bill_periods). Empty while a day is missing: a gap is never counted as $0.",
            unit=DOLLARS, decimals=2, text_mode="value_and_name", value_size=28, title_size=14,
            no_value="Missing days: run amber-home backfill",
            overrides=[by_name("Days with data", unit="none", decimals=0)],
        ),
        stat(
            "Projected this bill",
            (6, y, 6, 6),
            [sql(f"""SELECT projected_cents / 100 AS "Projected", period_end AS "Period ends" {current}""")],
            description="The whole current billing period: every day's supply and subscription plus the mean "
            "daily energy cost so far times the period's days (bill_periods.projected_cents), dollars.",
            unit=DOLLARS, decimals=2, text_mode="value_and_name", value_size=28, title_size=14,
            overrides=[by_name("Period ends", unit="dateTimeAsLocalNoDateIfToday")],
        ),
        panel(
            "table",
            "Bill by billing period",
            (12, y, 12, 6),
            [sql("""
                SELECT period_start AS "From", period_end AS "To", status AS "Status",
                       usage_cents / 100 AS "Usage", export_cents / 100 AS "Feed-in",
                       supply_cents / 100 AS "Supply", subscription_cents / 100 AS "Subscription",
                       total_cents / 100 AS "Total", projected_cents / 100 AS "Projected"
                FROM bill_periods
                WHERE site_id = '$site'
                ORDER BY period_start DESC
                LIMIT 13
            """)],
            description="Each billing period (bill_periods), dollars incl. GST: usage, feed-in (negative = "
            "credit), supply, subscription, the total so far (empty while a day is missing: see the Status) "
            "and the projection for the whole period.",
            options={"showHeader": True, "frameIndex": 0, "cellHeight": "sm", "sortBy": []},
            defaults=money,
            overrides=[by_name(name, unit="none") for name in ("From", "To", "Status")],
        ),
    ]  # fmt: skip


def compare_panels(y: int) -> list[dict[str, Any]]:
    """Would I have saved? Amber's bill against the plan in AMBER_COMPARE_PLAN (sql/015 compare_*)."""
    days = (f"day BETWEEN ($__timeFrom() AT TIME ZONE {LOCAL_ZONE})::date"
            f" AND ($__timeTo() AT TIME ZONE {LOCAL_ZONE})::date")
    saved_colors = {"mode": "thresholds"}
    return [
        stat(
            "Saved vs your plan",
            (0, y, 6, 7),
            [sql(f"""
                SELECT sum(saved_cents) FILTER (WHERE {days}) / 100 AS "In the time range",
                       sum(saved_cents) / 100 AS "To date",
                       count(saved_cents) AS "Days compared"
                FROM compare_daily
                WHERE site_id = '$site'
            """)],
            description="What the plan in AMBER_COMPARE_PLAN would have cost minus Amber's true bill, for the "
            "same usage (compare_daily), dollars incl. GST: positive = Amber saved you money. Days without "
            "data are left out on both sides. Set up: docs/compare.md.",
            unit=DOLLARS, decimals=2, text_mode="value_and_name", value_size=24, title_size=14,
            steps=thresholds((None, "red"), (0, "green")), color=saved_colors,
            no_value="No plan: set AMBER_COMPARE_PLAN",
            overrides=[by_name("Days compared", unit="none", decimals=0, color=fixed("text"))],
        ),
        barchart(
            "Amber vs your plan, by month",
            (6, y, 9, 7),
            [sql("""
                SELECT to_char(month, 'YYYY-MM') AS "Month", amber_cents / 100 AS "Amber",
                       plan_cents / 100 AS "Plan", saved_cents / 100 AS "Saved"
                FROM (SELECT * FROM compare_monthly
                      WHERE site_id = '$site' AND month <= $__timeTo() AND days_compared > 0
                      ORDER BY month DESC LIMIT 13) AS recent
                ORDER BY month
            """)],
            description="The last 13 local months (compare_monthly): Amber's bill, the plan's bill for the same "
            "usage and the difference (positive: Amber cheaper), over the days both are known, dollars.",
            unit=DOLLARS, x_field="Month", decimals=2,
            overrides=[by_name("Amber", color=fixed("blue")), by_name("Plan", color=fixed("orange")),
                       by_name("Saved", color=fixed("green"))],
        ),
        barchart(
            "Where Amber won or lost, by hour of day",
            (15, y, 9, 7),
            [sql("""
                SELECT lpad(hour::text, 2, '0') || ':00' AS "Hour", sum(saved_cents) / 100 AS "Saved"
                FROM compare_hourly
                WHERE site_id = '$site' AND $__timeFilter(hour_start)
                GROUP BY hour
                ORDER BY hour
            """)],
            description="Energy cost on the plan minus on Amber for each local hour of the day over the time "
            "range (compare_hourly; fixed charges are per day, so not here), dollars: green hours Amber won, "
            "red hours it lost (evening peaks, spikes).",
            unit=DOLLARS, x_field="Hour", decimals=2, color={"mode": "thresholds"},
            overrides=[by_name("Saved", thresholds=thresholds((None, "red"), (0, "green")))],
            label_spacing=30,
        ),
    ]  # fmt: skip


# --- Health ---------------------------------------------------------------------------------------------------


def health_dashboard() -> dict[str, Any]:
    up_down = value_mappings({"0": ("red", "DOWN"), "1": ("green", "UP")})
    panels = [
        stat(
            "Exporter",
            (0, 0, 4, 4),
            [promql('up{job="amber-exporter"}', instant=True)],
            description="Prometheus reaches the exporter's /metrics (up of job amber-exporter).",
            color_mode="background",
            mappings=up_down,
            value_size=40,
            no_value="Not scraped",
        ),
        stat(
            "Amber API",
            (4, 0, 4, 4),
            [promql("amber_up", instant=True)],
            description="The exporter's last poll of the Amber API succeeded (amber_up).",
            color_mode="background",
            mappings=up_down,
            value_size=40,
        ),
        stat(
            "Last successful poll",
            (8, 0, 4, 4),
            [promql("time() - amber_last_poll_success_timestamp_seconds", instant=True)],
            description="Seconds since the exporter last polled Amber successfully; it polls after every "
            "5-minute boundary, and serves cached prices for EXPORTER_STALE_SECONDS (15 min) after that.",
            unit="s",
            decimals=0,
            value_size=40,
            steps=thresholds((None, "green"), (420, "orange"), (900, "red")),
        ),
        panel(
            "gauge",
            "Rate-limit budget",
            (12, 0, 4, 4),
            [promql("amber_rate_limit_remaining / amber_rate_limit_limit", instant=True)],
            description="Share of the account's Amber API requests left in the current window "
            "(amber_rate_limit_remaining / amber_rate_limit_limit; about 50 per 5 minutes, shared by the "
            "exporter and the loader).",
            options=gauge_options(),
            defaults={
                "unit": "percentunit",
                "min": 0,
                "max": 1,
                "decimals": 0,
                "noValue": "No data",
                "mappings": [],
                "color": {"mode": "thresholds"},
                "thresholds": thresholds((None, "red"), (0.1, "orange"), (0.3, "green")),
            },  # fmt: skip
        ),
        stat(
            "API errors",
            (16, 0, 4, 4),
            [promql('sum(increase(amber_api_requests_total{outcome!="ok"}[$__range]))', instant=True)],
            description="Amber API requests that failed in the time range (amber_api_requests_total, every "
            "outcome but ok).",
            decimals=0,
            value_size=40,
            steps=thresholds((None, "green"), (1, "orange"), (20, "red")),
        ),
        stat(
            "Scrape errors",
            (20, 0, 4, 4),
            [promql("sum(increase(amber_exporter_scrape_errors_total[$__range]))", instant=True)],
            description="Failures while the exporter built a scrape in the time range "
            "(amber_exporter_scrape_errors_total); should stay 0 — see the exporter's log.",
            decimals=0,
            value_size=40,
            steps=thresholds((None, "green"), (1, "red")),
        ),
        timeseries(
            "API requests per 5 minutes",
            (0, 4, 12, 8),
            [
                promql(
                    "300 * sum by (endpoint) (rate(amber_api_requests_total[$__rate_interval]))", legend="{{endpoint}}"
                )
            ],
            description="Amber API requests by endpoint (amber_api_requests_total), as a rate per 5 minutes: the "
            "unit of Amber's rate limit.",
            unit="short",
            fill=20,
            decimals=1,
        ),
        timeseries(
            "Rate-limit budget over time",
            (12, 4, 12, 8),
            [
                promql("amber_rate_limit_remaining", legend="remaining"),
                promql("amber_rate_limit_limit", ref="B", legend="limit"),
            ],
            description="Requests left in the account's current rate-limit window and the window's limit "
            "(from Amber's RateLimit headers).",
            unit="short",
            interpolation="stepAfter",
            decimals=0,
            overrides=[by_name("limit", color=fixed("red"), custom__lineStyle={"fill": "dash", "dash": [10, 10]})],
        ),
        timeseries(
            "API errors per 5 minutes",
            (0, 12, 12, 8),
            [
                promql(
                    '300 * sum by (outcome) (rate(amber_api_requests_total{outcome!="ok"}[$__rate_interval]))',
                    legend="{{outcome}}",
                )
            ],  # fmt: skip
            description="Failed Amber API requests by outcome (auth, not_found, bad_request, rate_limited, "
            "unavailable, bad_response), per 5 minutes. prometheus/ALERTS.md says what to do for each.",
            unit="short",
            fill=20,
            decimals=1,
        ),
        timeseries(
            "Data lag",
            (12, 12, 12, 8),
            [
                promql("time() - amber_loader_newest_actual_price_timestamp_seconds", legend="prices {{site_id}}"),
                promql("time() - amber_loader_newest_usage_timestamp_seconds", ref="B", legend="usage {{site_id}}"),
                promql("time() - amber_last_poll_success_timestamp_seconds", ref="C", legend="exporter poll"),
            ],
            description="How old the newest data is: the newest actual price and usage interval in the database "
            "(the loader's freshness, read by the exporter when it has DATABASE_URL) and the exporter's last "
            "successful poll. Usage normally lags a day: Amber sends it the next day.",
            unit="s",
            decimals=0,
        ),
        timeseries(
            "Rows written",
            (0, 20, 24, 8),
            [
                sql(
                    """
                    SELECT $__timeGroupAlias(fetched_at, $__interval), count(*) AS "Prices"
                    FROM prices
                    WHERE $__timeFilter(fetched_at)
                    GROUP BY 1
                    ORDER BY 1
                """,
                    "A",
                    "time_series",
                ),
                sql(
                    """
                    SELECT $__timeGroupAlias(fetched_at, $__interval), count(*) AS "Usage"
                    FROM usage
                    WHERE $__timeFilter(fetched_at)
                    GROUP BY 1
                    ORDER BY 1
                """,
                    "B",
                    "time_series",
                ),
                sql(
                    """
                    SELECT $__timeGroupAlias(issued_at, $__interval), count(*) AS "Forecasts"
                    FROM forecasts
                    WHERE $__timeFilter(issued_at)
                    GROUP BY 1
                    ORDER BY 1
                """,
                    "C",
                    "time_series",
                ),
            ],
            description="Rows the loader inserted or changed, by when it wrote them (prices and usage: "
            "fetched_at; forecasts: issued_at), per time bucket of at least an hour. A row rewritten later "
            "counts at its latest write only.",
            unit="short",
            draw="bars",
            fill=60,
            interval="1h",
        ),
        *backfill_panels(y=28),
        stat(
            "Database jobs failing",
            (0, 32, 4, 8),
            [promql("count(amber_timescaledb_job_ok == 0) or vector(0)", instant=True)],
            description="TimescaleDB background jobs (aggregate refresh, compression, retention) that fail, "
            "did no work for 6 of their schedules, or are overdue (amber_timescaledb_job_ok; the same rule as "
            "`amber-home doctor`, which names the job and the fix). The known 'cannot drop portal' error does "
            "not count: those runs do their work.",
            decimals=0,
            value_size=40,
            color_mode="background",
            steps=thresholds((None, "green"), (1, "red")),
        ),
        panel(
            "table",
            "Database jobs",
            (4, 32, 20, 8),
            [
                sql("""
                SELECT policy AS "Job", relation AS "On", schedule_interval::text AS "Every",
                       last_work_done AS "Last work done", next_start AS "Next run",
                       coalesce(last_run_status, 'not run yet') AS "Last run",
                       CASE last_run_failure WHEN 'portal' THEN 'known portal error: work done'
                                             WHEN 'apache_license' THEN 'not in the Apache build: harmless'
                                             ELSE last_error END AS "Error",
                       total_failures AS "Failures"
                FROM amber_job_health()
                ORDER BY policy, relation
            """)
            ],
            description="Every TimescaleDB background job (amber_job_health(), sql/013): what it works on, how "
            "often, when it last did its work and how its last run ended. Runs that report 'cannot drop "
            "portal' after committing their work (a known TimescaleDB/PostgreSQL 17 incompatibility) count as "
            "work done; the loader refreshes the aggregates it writes either way.",
            options={"showHeader": True, "frameIndex": 0, "cellHeight": "sm", "sortBy": []},
            defaults={
                "custom": {"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False},
                "unit": "none",
                "mappings": [],
                "color": {"mode": "thresholds"},
                "thresholds": thresholds((None, "text")),
            },  # fmt: skip
            overrides=[by_name("Last work done", unit="dateTimeFromNow"), by_name("Next run", unit="dateTimeFromNow")],
        ),
    ]
    return dashboard(
        "amber-health", "Health",
        description="Is the stack working: exporter, Amber API and its rate limit, the loader's progress and "
        "TimescaleDB's background jobs.",
        tags=["operations"], refresh="1m", time_from="now-24h", time_to="now", panels=panels, variables=[],
        refresh_intervals=["30s", "1m", "5m"],
    )  # fmt: skip


def backfill_panels(y: int) -> list[dict[str, Any]]:
    """History backfill: how much of the history is stored and when the rest will be (amber_backfill_*,
    from backfill_status). A first start loads the newest weeks first, so the other dashboards are right
    for recent days long before this reaches 100%."""
    return [
        stat(
            "History loaded",
            (0, y, 8, 4),
            [promql("amber_backfill_progress_ratio", instant=True, legend="{{site_id}}")],
            description="Share of the wanted price and usage history stored (amber_backfill_progress_ratio). "
            "The backfill fetches the newest weeks first: today, yesterday and this month are there within "
            "minutes of the first start.",
            unit="percentunit",
            decimals=0,
            value_size=40,
            steps=thresholds((None, "orange"), (1, "green")),
            no_value="Not started",
        ),
        stat(
            "History left to load",
            (8, y, 8, 4),
            [promql("amber_backfill_remaining_history_seconds", instant=True, legend="{{site_id}}")],
            description="Length of the history still to fetch, prices and usage counted separately "
            "(amber_backfill_remaining_history_seconds); 0 once the backfill has finished.",
            unit="s",
            decimals=0,
            value_size=40,
            steps=thresholds((None, "green"), (1, "orange")),
            no_value="Not started",
        ),
        stat(
            "Backfill finishes in",
            (16, y, 8, 4),
            [promql("amber_backfill_eta_seconds", instant=True, legend="{{site_id}}")],
            description="Estimated time until the running backfill finishes, within Amber's rate limit "
            "(amber_backfill_eta_seconds; the log line of `docker compose logs backfill` says the same).",
            unit="s",
            decimals=0,
            value_size=40,
            steps=thresholds((None, "text")),
            no_value="Not running",
        ),
    ]


# --- files ------------------------------------------------------------------------------------------------------

DASHBOARDS = {
    "energy/now.json": now_dashboard,
    "energy/history.json": history_dashboard,
    "operations/health.json": health_dashboard,
}


def render(build) -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
