"""History (uid amber-history): costs per day and month, when power is cheap, the forecasts, the bill, the plan.

    build() -> the dashboard; grafana/README.md ("History") describes every panel.

`build()` is the layout; each panel has a builder below, in that order, and the last two rows (the true
bill, and Amber against the plan in AMBER_COMPARE_PLAN) have a row builder each. Local days, months and
hours come from the aggregates' columns or from LOCAL_ZONE, never from the browser. `$horizon` (the
forecast lead in minutes) is this dashboard's own variable.
"""

from __future__ import annotations

from .blocks import (
    C_PER_KWH,
    DOLLARS,
    HIDE_NOTHING,
    LEGEND_BOTTOM,
    LOCAL_ZONE,
    TOOLTIP,
    Grid,
    Json,
    barchart,
    by_name,
    dashboard,
    fixed,
    local_zone,
    panel,
    site_variable,
    sql,
    stat,
    table,
    thresholds,
    timeseries,
)

HORIZONS = [(60, "1 hour"), (240, "4 hours"), (720, "12 hours"), (1440, "24 hours")]
DEFAULT_HORIZON = 240


def build() -> Json:
    panels = [
        daily_cost_bars((0, 0, 16, 9)),
        selected_period_stat((16, 0, 8, 9)),
        monthly_totals_table((0, 9, 12, 8)),
        imports_exports_graph((12, 9, 12, 8)),
        price_heatmap((0, 17, 16, 9)),
        cheapest_hours_bars((16, 17, 8, 9)),
        price_histogram((0, 26, 12, 8)),
        forecast_accuracy_table((12, 26, 12, 8)),
        forecast_vs_final_graph((0, 34, 24, 8)),
        *bill_row(42),
        *compare_row(48),
    ]
    return dashboard(
        "amber-history", "History",
        description="Costs per day and month, when power is cheap, and how good the forecasts were.",
        tags=["history"], refresh="", time_from="now-30d", time_to="now", panels=panels,
        variables=[site_variable(), horizon_variable()], refresh_intervals=["5m", "15m", "1h"],
    )  # fmt: skip


def horizon_variable() -> Json:
    """`$horizon`: the lead time (minutes) of the forecasts compared with the final price."""
    options = [
        {"text": text, "value": str(minutes), "selected": minutes == DEFAULT_HORIZON} for minutes, text in HORIZONS
    ]
    return {
        "type": "custom", "name": "horizon", "label": "Forecast lead",
        "description": "Lead time of the forecasts compared with the final price "
        "(a forecast_accuracy horizon bucket, minutes).",
        "query": ", ".join(f"{text} : {minutes}" for minutes, text in HORIZONS),
        "current": {"text": dict(HORIZONS)[DEFAULT_HORIZON], "value": str(DEFAULT_HORIZON)},
        "options": options,
        "multi": False, "includeAll": False, "hide": 0, "skipUrlSync": False,
    }  # fmt: skip


# --- costs ----------------------------------------------------------------------------------------------------


def cost_columns(net: str, indent: str = "       ") -> str:
    """The columns splitting cost_daily/cost_monthly cents into dollars: imports, feed-in credits (negative)
    and the net, called `net`; each line after the first starts with `indent` (the queries align on SELECT)."""
    columns = [
        "sum(cost) FILTER (WHERE channel_type <> 'feedIn') / 100 AS \"Imports\"",
        "coalesce(sum(cost) FILTER (WHERE channel_type = 'feedIn'), 0) / 100 AS \"Export credits\"",
        f'sum(cost) / 100 AS "{net}"',
    ]
    return f",\n{indent}".join(columns)


COST_COLORS = {"Imports": "orange", "Export credits": "green", "Net": "blue"}

# The cost columns start in column 0 here, the rest of the query is indented: as committed in the JSON.
DAILY_COST_SQL = f"""SELECT to_char(day, 'Dy DD/MM') AS "Day",
{cost_columns("Net", indent="")}
        FROM cost_daily
        WHERE site_id = '$site' AND $__timeFilter(day_start)
        GROUP BY day
        ORDER BY day"""


def daily_cost_bars(grid: Grid) -> Json:
    return barchart(
        "Daily cost", grid, [sql(DAILY_COST_SQL)],
        description="Cost per local day in dollars (cost_daily): imports (general and controlled load), "
        "feed-in credits (negative: money earned) and the net. Days are AMBER_TIMEZONE calendar days.",
        unit=DOLLARS, x_field="Day", decimals=2, label_spacing=100,
        overrides=[by_name(name, color=fixed(color)) for name, color in COST_COLORS.items()],
    )  # fmt: skip


SELECTED_PERIOD_SQL = f"""
SELECT {cost_columns("Net cost")},
       sum(kwh_imported) AS "Imported",
       sum(kwh_exported) AS "Exported"
FROM cost_daily
WHERE site_id = '$site' AND $__timeFilter(day_start)
"""


def selected_period_stat(grid: Grid) -> Json:
    return stat(
        "Selected period", grid, [sql(SELECTED_PERIOD_SQL)],
        description="Totals over the local days in the time range (cost_daily): dollars and kWh.",
        unit=DOLLARS, decimals=2, text_mode="value_and_name", value_size=28, title_size=14,
        overrides=[by_name("Imported", unit="kwatth", decimals=0), by_name("Exported", unit="kwatth", decimals=0)],
    )  # fmt: skip


MONTHLY_TOTALS_SQL = f"""
SELECT to_char(month, 'YYYY-MM') AS "Month",
       sum(kwh_imported) AS "Imported kWh",
       sum(kwh_exported) AS "Exported kWh",
       {cost_columns("Net")},
       sum(estimated_intervals) AS "Estimated intervals"
FROM cost_monthly
WHERE site_id = '$site' AND month_start <= $__timeTo()
GROUP BY month
ORDER BY month DESC
LIMIT 13
"""


def monthly_totals_table(grid: Grid) -> Json:
    return table(
        "Monthly totals", grid, [sql(MONTHLY_TOTALS_SQL)],
        description="The 13 local months up to the end of the time range (cost_monthly): energy, import "
        "cost, feed-in credits and the net in dollars. 'Estimated intervals' > 0: Amber has not sent final "
        "(billable) usage for all of the month yet.",
        decimals=2,
        overrides=[
            *(by_name(name, unit=DOLLARS) for name in ("Imports", "Export credits", "Net")),
            *(by_name(name, decimals=0) for name in ("Imported kWh", "Exported kWh", "Estimated intervals")),
        ],
    )  # fmt: skip


def imports_exports_graph(grid: Grid) -> Json:
    query = """
        SELECT $__timeGroupAlias(hour_start, $__interval),
               sum(kwh) FILTER (WHERE channel_type <> 'feedIn') AS "Imported",
               -sum(kwh) FILTER (WHERE channel_type = 'feedIn') AS "Exported"
        FROM usage_hourly
        WHERE site_id = '$site' AND $__timeFilter(hour_start)
        GROUP BY 1
        ORDER BY 1
    """
    return timeseries(
        "Imports vs solar export", grid, [sql(query, fmt="time_series")],
        description="Energy imported from and exported to the grid in kWh per time bucket (at least an hour; "
        "usage_hourly). Exports are shown as positive kWh.",
        unit="kwatth", draw="bars", fill=60, interval="1h",
        overrides=[by_name("Imported", color=fixed("orange")), by_name("Exported", color=fixed("green"))],
    )  # fmt: skip


# --- when power is cheap --------------------------------------------------------------------------------------


def heatmap_sql() -> str:
    """One row per local day (time = local midnight), one column "00:00".."23:00" per local hour: Grafana's
    heatmap reads each column as a bucket (rowsFrame). On the day daylight saving ends the repeated hour is
    averaged."""
    hours = ",\n".join(
        f'       avg(avg_per_kwh) FILTER (WHERE extract(hour FROM local_hour) = {hour}) AS "{hour:02d}:00"'
        for hour in range(24)
    )
    return f"""
SELECT local_day AS "time",
{hours}
FROM (
    SELECT hour_start AT TIME ZONE z.zone AS local_hour,
           date_trunc('day', hour_start AT TIME ZONE z.zone) AT TIME ZONE z.zone AS local_day,
           avg_per_kwh
    FROM price_hourly, {local_zone("zone")} AS z
    WHERE site_id = '$site' AND channel_type = 'general' AND $__timeFilter(hour_start)
) AS hourly
GROUP BY local_day
ORDER BY local_day
"""


HEATMAP_OPTIONS = {
    "calculate": False,
    "rowsFrame": {"layout": "auto"},
    "cellGap": 1,
    "showValue": "never",
    "color": {"mode": "scheme", "scheme": "RdYlGn", "reverse": True, "fill": "dark-orange", "exponent": 0.5,
              "steps": 64, "scale": "exponential"},
    "cellValues": {"unit": C_PER_KWH, "decimals": 1},
    "yAxis": {"axisPlacement": "left", "reverse": True},
    "legend": {"show": True},
    "tooltip": {"mode": "single", "yHistogram": False, "showColorScale": True},
    "exemplars": {"color": "rgba(255,0,255,0.7)"},
}  # fmt: skip


def price_heatmap(grid: Grid) -> Json:
    return panel(
        "heatmap", "Price by hour of day", grid, [sql(heatmap_sql(), fmt="time_series")],
        description="Mean general price (c/kWh) of each local hour (rows) of each local day (columns), "
        "from price_hourly: green cheap, red expensive.",
        options=HEATMAP_OPTIONS,
        defaults={"custom": {"hideFrom": HIDE_NOTHING, "scaleDistribution": {"type": "linear"}}},
    )  # fmt: skip


def cheapest_hours_bars(grid: Grid) -> Json:
    query = f"""
        SELECT to_char(hour_start AT TIME ZONE {LOCAL_ZONE}, 'HH24') || ':00' AS "Hour",
               avg(avg_per_kwh) AS "Mean price"
        FROM price_hourly
        WHERE site_id = '$site' AND channel_type = 'general' AND $__timeFilter(hour_start)
        GROUP BY 1
        ORDER BY 1
    """
    return barchart(
        "Cheapest hours of the day", grid, [sql(query)],
        description="Mean general price of each local hour of the day over the time range (price_hourly), "
        "in c/kWh: the green bars are the hours to run the dishwasher.",
        unit=C_PER_KWH, x_field="Hour", decimals=1, color={"mode": "continuous-GrYlRd"},
        color_by_field="Mean price", label_spacing=30,
    )  # fmt: skip


def price_histogram(grid: Grid) -> Json:
    query = """
        SELECT per_kwh AS "General price"
        FROM prices
        WHERE site_id = '$site' AND channel_type = 'general' AND interval_type = 'ActualInterval'
          AND $__timeFilter(interval_start)
    """
    return panel(
        "histogram", "Price distribution", grid, [sql(query)],
        description="How often each general price occurred (actual interval prices in the time range, c/kWh).",
        options={"bucketSize": 2, "bucketOffset": 0, "combine": False, "legend": LEGEND_BOTTOM, "tooltip": TOOLTIP},
        defaults={
            "unit": C_PER_KWH, "color": {"mode": "palette-classic"}, "mappings": [],
            "thresholds": thresholds((None, "green")),
            "custom": {"fillOpacity": 80, "gradientMode": "none", "lineWidth": 1, "hideFrom": HIDE_NOTHING},
        },
    )  # fmt: skip


# --- how good the forecasts were ------------------------------------------------------------------------------


def forecast_accuracy_table(grid: Grid) -> Json:
    query = """
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
    """
    return table(
        "Forecast accuracy by lead time", grid, [sql(query)],
        description="How far stored forecasts were from the final (actual) general price, by how long before "
        "the interval they were fetched (forecast_accuracy), in c/kWh. Bias > 0: forecasts too high. "
        "'Within advanced range': share of intervals whose final price fell inside Amber's advanced "
        "price low–high band.",
        unit=C_PER_KWH, decimals=1,
        overrides=[
            by_name("Lead time", unit="none"),
            by_name("Forecasts", unit="none", decimals=0),
            by_name("Within advanced range", unit="percentunit", decimals=0),
        ],
    )  # fmt: skip


def forecast_vs_final_graph(grid: Grid) -> Json:
    query = """
        SELECT interval_start AS "time",
               actual_per_kwh AS "Final price",
               forecast_per_kwh AS "Forecast",
               advanced_price_predicted AS "Advanced predicted"
        FROM forecast_accuracy
        WHERE site_id = '$site' AND channel_type = 'general' AND horizon_minutes = $horizon
          AND $__timeFilter(interval_start)
        ORDER BY 1
    """
    return timeseries(
        "Forecast vs final price ($horizon min ahead)", grid, [sql(query, fmt="time_series")],
        description="Final general price against the forecasts fetched about $horizon minutes before each "
        "interval (forecast_accuracy; choose the lead at the top), c/kWh.",
        unit=C_PER_KWH, interpolation="stepAfter", decimals=1,
        overrides=[
            by_name("Final price", color=fixed("text"), custom__lineWidth=2),
            by_name("Forecast", color=fixed("orange")),
            by_name("Advanced predicted", color=fixed("blue")),
        ],
    )  # fmt: skip


# --- the true bill (sql/014 bill_periods; cents in the database, dollars here) --------------------------------

CURRENT_PERIOD = "FROM bill_periods WHERE site_id = '$site' ORDER BY period_start DESC LIMIT 1"


def bill_row(y: int) -> list[Json]:
    """Usage + feed-in + supply + subscription: this billing period so far, projected, and the ones before."""
    return [bill_so_far_stat((0, y, 6, 6)), bill_projected_stat((6, y, 6, 6)), bill_periods_table((12, y, 12, 6))]


def bill_so_far_stat(grid: Grid) -> Json:
    query = f"""
        SELECT total_cents / 100 AS "So far",
               days_with_data AS "Days with data",
               status AS "Status"
        {CURRENT_PERIOD}
    """
    return stat(
        "This bill so far", grid, [sql(query)],
        description="The current billing period (AMBER_BILL_DAY) up to the newest day with usage: usage + "
        "feed-in (credits negative) + daily supply charge + Amber subscription, in dollars incl. GST "
        "(bill_periods). Empty while a day is missing: a gap is never counted as $0.",
        unit=DOLLARS, decimals=2, text_mode="value_and_name", value_size=28, title_size=14,
        no_value="Missing days: run amber-home backfill",
        overrides=[by_name("Days with data", unit="none", decimals=0)],
    )  # fmt: skip


def bill_projected_stat(grid: Grid) -> Json:
    return stat(
        "Projected this bill", grid,
        [sql(f"""SELECT projected_cents / 100 AS "Projected", period_end AS "Period ends" {CURRENT_PERIOD}""")],
        description="The whole current billing period: every day's supply and subscription plus the mean "
        "daily energy cost so far times the period's days (bill_periods.projected_cents), dollars.",
        unit=DOLLARS, decimals=2, text_mode="value_and_name", value_size=28, title_size=14,
        overrides=[by_name("Period ends", unit="dateTimeAsLocalNoDateIfToday")],
    )  # fmt: skip


def bill_periods_table(grid: Grid) -> Json:
    query = """
        SELECT period_start AS "From", period_end AS "To", status AS "Status",
               usage_cents / 100 AS "Usage", export_cents / 100 AS "Feed-in",
               supply_cents / 100 AS "Supply", subscription_cents / 100 AS "Subscription",
               total_cents / 100 AS "Total", projected_cents / 100 AS "Projected"
        FROM bill_periods
        WHERE site_id = '$site'
        ORDER BY period_start DESC
        LIMIT 13
    """
    return table(
        "Bill by billing period", grid, [sql(query)],
        description="Each billing period (bill_periods), dollars incl. GST: usage, feed-in (negative = "
        "credit), supply, subscription, the total so far (empty while a day is missing: see the Status) "
        "and the projection for the whole period.",
        unit=DOLLARS, decimals=2,
        overrides=[by_name(name, unit="none") for name in ("From", "To", "Status")],
    )  # fmt: skip


# --- Amber against the plan in AMBER_COMPARE_PLAN (sql/015 compare_*) -----------------------------------------

DAYS_IN_RANGE = (f"day BETWEEN ($__timeFrom() AT TIME ZONE {LOCAL_ZONE})::date"
                 f" AND ($__timeTo() AT TIME ZONE {LOCAL_ZONE})::date")  # fmt: skip
SAVED_STEPS = thresholds((None, "red"), (0, "green"))  # positive: Amber was cheaper


def compare_row(y: int) -> list[Json]:
    """Would I have saved? Amber's bill against the plan's for the same usage."""
    return [saved_stat((0, y, 6, 7)), compare_monthly_bars((6, y, 9, 7)), compare_hourly_bars((15, y, 9, 7))]


def saved_stat(grid: Grid) -> Json:
    query = f"""
        SELECT sum(saved_cents) FILTER (WHERE {DAYS_IN_RANGE}) / 100 AS "In the time range",
               sum(saved_cents) / 100 AS "To date",
               count(saved_cents) AS "Days compared"
        FROM compare_daily
        WHERE site_id = '$site'
    """
    return stat(
        "Saved vs your plan", grid, [sql(query)],
        description="What the plan in AMBER_COMPARE_PLAN would have cost minus Amber's true bill, for the "
        "same usage (compare_daily), dollars incl. GST: positive = Amber saved you money. Days without "
        "data are left out on both sides. Set up: docs/compare.md.",
        unit=DOLLARS, decimals=2, text_mode="value_and_name", value_size=24, title_size=14,
        steps=SAVED_STEPS, color={"mode": "thresholds"}, no_value="No plan: set AMBER_COMPARE_PLAN",
        overrides=[by_name("Days compared", unit="none", decimals=0, color=fixed("text"))],
    )  # fmt: skip


def compare_monthly_bars(grid: Grid) -> Json:
    query = """
        SELECT to_char(month, 'YYYY-MM') AS "Month", amber_cents / 100 AS "Amber",
               plan_cents / 100 AS "Plan", saved_cents / 100 AS "Saved"
        FROM (SELECT * FROM compare_monthly
              WHERE site_id = '$site' AND month <= $__timeTo() AND days_compared > 0
              ORDER BY month DESC LIMIT 13) AS recent
        ORDER BY month
    """
    return barchart(
        "Amber vs your plan, by month", grid, [sql(query)],
        description="The last 13 local months (compare_monthly): Amber's bill, the plan's bill for the same "
        "usage and the difference (positive: Amber cheaper), over the days both are known, dollars.",
        unit=DOLLARS, x_field="Month", decimals=2,
        overrides=[by_name(name, color=fixed(color)) for name, color in
                   (("Amber", "blue"), ("Plan", "orange"), ("Saved", "green"))],
    )  # fmt: skip


def compare_hourly_bars(grid: Grid) -> Json:
    query = """
        SELECT lpad(hour::text, 2, '0') || ':00' AS "Hour", sum(saved_cents) / 100 AS "Saved"
        FROM compare_hourly
        WHERE site_id = '$site' AND $__timeFilter(hour_start)
        GROUP BY hour
        ORDER BY hour
    """
    return barchart(
        "Where Amber won or lost, by hour of day", grid, [sql(query)],
        description="Energy cost on the plan minus on Amber for each local hour of the day over the time "
        "range (compare_hourly; fixed charges are per day, so not here), dollars: green hours Amber won, "
        "red hours it lost (evening peaks, spikes).",
        unit=DOLLARS, x_field="Hour", decimals=2, color={"mode": "thresholds"},
        overrides=[by_name("Saved", thresholds=SAVED_STEPS)], label_spacing=30,
    )  # fmt: skip
