"""The building blocks every dashboard is made of: query targets, field config, panel kinds, the frame.

    from .blocks import C_PER_KWH, DOLLARS, promql, sql, stat, table

    stat("Price now", (0, 2, 8, 7), [promql('100 * amber_price_dollars_per_kwh{site_id="$site"}', instant=True)],
         description="…", unit=C_PER_KWH, decimals=1)
    table("Bill", (12, 42, 12, 6), [sql("SELECT … FROM bill_periods")], description="…", unit=DOLLARS)

- Targets: `sql(text)` (TimescaleDB, dedented) and `promql(expr)` (Prometheus, one line); a panel takes
  one data source.
- Panel kinds: `stat`, `timeseries`, `barchart`, `table`, `ratio_gauge`, and `panel` beneath them for
  the rest (heatmap, histogram). Each takes a title, its place on the grid `(x, y, w, h)` and its targets,
  and writes every option Grafana would, so the JSON does not change when Grafana's defaults do.
- Field config: `thresholds`, `value_mappings`, `by_name` (an override), `fixed` (a colour), units.
- The frame: `dashboard(...)` numbers the panels in order; `site_variable()` is the `$site` that Now and
  History share.
- `LOCAL_ZONE`: the time zone recorded in amber_settings at migrate time (AMBER_TIMEZONE), the only
  source of local calendar days in SQL; `local_zone(alias)` for the same query as a FROM item.
"""

from __future__ import annotations

from collections.abc import Sequence
from textwrap import dedent
from typing import Any

Json = dict[str, Any]
Grid = tuple[int, int, int, int]  # x, y, width, height on Grafana's 24-column grid

SCHEMA_VERSION = 41  # the dashboard model of Grafana 11.6 (compose.yaml; grafana/schema pins @grafana/schema 11.6.1)

PROMETHEUS = {"type": "prometheus", "uid": "amber-prometheus"}
TIMESCALEDB = {"type": "grafana-postgresql-datasource", "uid": "amber-timescaledb"}

C_PER_KWH = "suffix: c/kWh"
DOLLARS = "currencyUSD"  # Grafana has no AUD unit; this one prints "$"


def local_zone(alias: str | None = None) -> str:
    """The recorded time zone as a scalar subquery; with an alias, as a one-column FROM item's subquery."""
    column = f"value AS {alias}" if alias else "value"
    return f"(SELECT {column} FROM amber_settings WHERE key = 'timezone')"


LOCAL_ZONE = local_zone()


# --- targets ------------------------------------------------------------------------------------------------


def sql(text: str, ref: str = "A", fmt: str = "table") -> Json:
    """A raw SQL query on TimescaleDB; fmt is "table" or "time_series" (needs a `time` column)."""
    return {"refId": ref, "datasource": TIMESCALEDB, "editorMode": "code", "format": fmt, "rawQuery": True,
            "rawSql": dedent(text).strip()}  # fmt: skip


def promql(expr: str, ref: str = "A", legend: str = "__auto", *, instant: bool = False) -> Json:
    """A PromQL query; instant for stats and gauges (the latest value), range for graphs."""
    return {"refId": ref, "datasource": PROMETHEUS, "editorMode": "code", "expr": " ".join(expr.split()),
            "legendFormat": legend, "instant": instant, "range": not instant}  # fmt: skip


# --- field config -------------------------------------------------------------------------------------------


def thresholds(*steps: tuple[float | None, str]) -> Json:
    """(value, colour) steps; the first value is None (from minus infinity)."""
    return {"mode": "absolute", "steps": [{"color": color, "value": value} for value, color in steps]}


def value_mappings(mapping: dict[str, tuple[str, str]]) -> list[Json]:
    """value -> (colour, text), as one Grafana value map."""
    options = {
        value: {"color": color, "text": text, "index": i} for i, (value, (color, text)) in enumerate(mapping.items())
    }
    return [{"type": "value", "options": options}]


def by_name(name: str, **properties: Any) -> Json:
    """A field override for the series/column called `name`; keys use __ for dots (custom__lineWidth)."""
    props = [{"id": key.replace("__", "."), "value": value} for key, value in properties.items()]
    return {"matcher": {"id": "byName", "options": name}, "properties": props}


def fixed(color: str) -> dict[str, str]:
    return {"mode": "fixed", "fixedColor": color}


def reduce_last(fields: str = "") -> Json:
    return {"calcs": ["lastNotNull"], "fields": fields, "values": False}


LEGEND_BOTTOM = {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": True}
TOOLTIP = {"mode": "multi", "sort": "none"}
HIDE_NOTHING = {"legend": False, "tooltip": False, "viz": False}
AXIS = {"axisPlacement": "auto", "axisLabel": "", "axisBorderShow": False, "axisCenteredZero": False,
        "axisColorMode": "text"}  # fmt: skip


def with_decimals(defaults: Json, decimals: int | None) -> Json:
    """defaults with "decimals" appended when set (Grafana picks a precision otherwise)."""
    return defaults if decimals is None else {**defaults, "decimals": decimals}


# --- panels -------------------------------------------------------------------------------------------------


def panel(kind: str, title: str, grid: Grid, targets: list[Json], *, description: str, options: Json,
          defaults: Json | None = None, overrides: Sequence[Json] | None = None, **extra: Any) -> Json:  # fmt: skip
    """Any panel kind: the keys every panel has, in Grafana's order; `extra` (e.g. interval) goes last."""
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
        "fieldConfig": {"defaults": defaults or {}, "overrides": list(overrides or [])},
        **extra,
    }


def stat(title: str, grid: Grid, targets: list[Json], *, description: str, unit: str = "none",
         decimals: int | None = None, color_mode: str = "value", text_mode: str = "value",
         value_size: int | None = None, title_size: int | None = None, mappings: list[Json] | None = None,
         steps: Json | None = None, color: Json | None = None, no_value: str = "No data",
         overrides: Sequence[Json] | None = None, **extra: Any) -> Json:  # fmt: skip
    """One big number (or text) per series: the latest non-null value."""
    defaults = with_decimals({"unit": unit, "noValue": no_value, "mappings": mappings or [],
                              "thresholds": steps or thresholds((None, "text")),
                              "color": color or {"mode": "thresholds"}}, decimals)  # fmt: skip
    text = {k: v for k, v in (("valueSize", value_size), ("titleSize", title_size)) if v}
    options = {"colorMode": color_mode, "graphMode": "none", "justifyMode": "center", "orientation": "auto",
               "percentChangeColorMode": "standard", "reduceOptions": reduce_last(), "showPercentChange": False,
               "textMode": text_mode, "wideLayout": True, **({"text": text} if text else {})}  # fmt: skip
    return panel("stat", title, grid, targets, description=description, options=options, defaults=defaults,
                 overrides=overrides, **extra)  # fmt: skip


def timeseries(title: str, grid: Grid, targets: list[Json], *, description: str, unit: str, draw: str = "line",
               interpolation: str = "linear", fill: int = 0, decimals: int | None = None,
               overrides: Sequence[Json] | None = None, steps: Json | None = None, **extra: Any) -> Json:  # fmt: skip
    """Lines (or bars: draw="bars") over time, legend below, a shared tooltip."""
    custom = {"drawStyle": draw, "lineInterpolation": interpolation, "lineWidth": 1, "fillOpacity": fill,
              "gradientMode": "none", "showPoints": "never", "pointSize": 4, "spanNulls": False, **AXIS,
              "barAlignment": 0, "scaleDistribution": {"type": "linear"}, "stacking": {"group": "A", "mode": "none"},
              "hideFrom": HIDE_NOTHING, "thresholdsStyle": {"mode": "off"}, "insertNulls": False}  # fmt: skip
    defaults = with_decimals({"unit": unit, "custom": custom, "color": {"mode": "palette-classic"},
                              "thresholds": steps or thresholds((None, "green")), "mappings": []}, decimals)  # fmt: skip
    options = {"legend": LEGEND_BOTTOM, "tooltip": TOOLTIP}
    return panel("timeseries", title, grid, targets, description=description, options=options, defaults=defaults,
                 overrides=overrides, **extra)  # fmt: skip


def barchart(title: str, grid: Grid, targets: list[Json], *, description: str, unit: str, x_field: str,
             decimals: int | None = None, color: Json | None = None, color_by_field: str | None = None,
             overrides: Sequence[Json] | None = None, label_spacing: int = 0, **extra: Any) -> Json:  # fmt: skip
    """Bars per category (the string column x_field), e.g. per local day, month or hour of day."""
    custom = {"fillOpacity": 80, "gradientMode": "none", "lineWidth": 1, **AXIS,
              "scaleDistribution": {"type": "linear"}, "hideFrom": HIDE_NOTHING,
              "thresholdsStyle": {"mode": "off"}}  # fmt: skip
    defaults = with_decimals({"unit": unit, "custom": custom, "color": color or {"mode": "palette-classic"},
                              "thresholds": thresholds((None, "green")), "mappings": []}, decimals)  # fmt: skip
    options: Json = {"xField": x_field, "orientation": "auto", "stacking": "none", "showValue": "never",
                     "barWidth": 0.8, "groupWidth": 0.8, "fullHighlight": False, "barRadius": 0,
                     "xTickLabelRotation": 0, "xTickLabelMaxLength": 12, "xTickLabelSpacing": label_spacing,
                     "legend": LEGEND_BOTTOM, "tooltip": TOOLTIP}  # fmt: skip
    if color_by_field:
        options["colorByField"] = color_by_field
    return panel("barchart", title, grid, targets, description=description, options=options, defaults=defaults,
                 overrides=overrides, **extra)  # fmt: skip


def table(title: str, grid: Grid, targets: list[Json], *, description: str, unit: str | None = None,
          decimals: int | None = None, overrides: Sequence[Json] | None = None) -> Json:  # fmt: skip
    """Rows as the query returns them; unit and decimals for every column unless overridden."""
    defaults: Json = {"custom": {"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False}}
    if unit is not None:
        defaults["unit"] = unit
    defaults = with_decimals(defaults, decimals)
    defaults |= {"mappings": [], "color": {"mode": "thresholds"}, "thresholds": thresholds((None, "text"))}
    options = {"showHeader": True, "frameIndex": 0, "cellHeight": "sm", "sortBy": []}
    return panel("table", title, grid, targets, description=description, options=options, defaults=defaults,
                 overrides=overrides)  # fmt: skip


def ratio_gauge(title: str, grid: Grid, targets: list[Json], *, description: str, steps: Json,
                no_value: str = "No data", value_size: int | None = None) -> Json:  # fmt: skip
    """A 0–100 % gauge of a ratio (0..1), coloured by steps."""
    options: Json = {"reduceOptions": reduce_last(), "orientation": "auto", "showThresholdLabels": False,
                     "showThresholdMarkers": True, "sizing": "auto", "minVizHeight": 75, "minVizWidth": 75}  # fmt: skip
    if value_size:
        options["text"] = {"valueSize": value_size}
    defaults = {"unit": "percentunit", "min": 0, "max": 1, "decimals": 0, "noValue": no_value, "mappings": [],
                "color": {"mode": "thresholds"}, "thresholds": steps}  # fmt: skip
    return panel("gauge", title, grid, targets, description=description, options=options, defaults=defaults)


# --- the frame ----------------------------------------------------------------------------------------------

DASHBOARD_LINKS = [
    {"title": "Amber-Home", "type": "dashboards", "tags": ["amber-home"], "asDropdown": False, "icon": "external link",
     "includeVars": True, "keepTime": False, "targetBlank": False, "tooltip": ""},
]  # fmt: skip


def dashboard(uid: str, title: str, *, description: str, tags: list[str], refresh: str, time_from: str,
              time_to: str, panels: list[Json], variables: list[Json], refresh_intervals: list[str]) -> Json:  # fmt: skip
    """The dashboard around its panels, numbered 1.. in order; linked to the other Amber-Home dashboards."""
    for number, p in enumerate(panels, start=1):
        p["id"] = number
    return {
        "uid": uid, "title": title, "description": description, "tags": ["amber-home", *tags],
        "editable": False,
        "graphTooltip": 1,  # shared crosshair
        "timezone": "browser", "weekStart": "monday", "fiscalYearStartMonth": 0, "liveNow": False,
        "refresh": refresh, "schemaVersion": SCHEMA_VERSION, "version": 1,
        "time": {"from": time_from, "to": time_to}, "timepicker": {"refresh_intervals": refresh_intervals},
        "templating": {"list": variables}, "annotations": {"list": []},
        "links": DASHBOARD_LINKS,
        "panels": panels,
    }  # fmt: skip


def site_variable() -> Json:
    """`$site`: a site_id from the sites table, the newest open site first (and the default)."""
    return {
        "type": "query", "name": "site", "label": "Site",
        "description": "Amber site (from the sites table); open sites first.",
        "datasource": TIMESCALEDB,
        "query": "SELECT site_id AS __value, nmi AS __text FROM sites "
        "ORDER BY closed_on IS NOT NULL, active_from DESC NULLS LAST, site_id",
        "refresh": 1,  # on dashboard load
        "sort": 0,  # keep the query's order: the first (default) option is the newest open site
        "multi": False, "includeAll": False, "hide": 0, "regex": "", "skipUrlSync": False, "options": [],
    }  # fmt: skip
