"""Now (uid amber-now): the wall tablet — the price now, spikes, the next 12 hours, what power cost, the plan.

    build() -> the dashboard; grafana/README.md ("Now") describes every panel.

One screen on a 10-inch tablet in kiosk mode, large type, refreshed every 30 s. `build()` is the layout
(each panel's place on the grid); each panel has a builder below, in that order. The plan row is one stat
per amber_plan_* metric, with one value per load.
"""

from __future__ import annotations

from .blocks import (
    C_PER_KWH,
    DOLLARS,
    LOCAL_ZONE,
    Grid,
    Json,
    by_name,
    dashboard,
    fixed,
    promql,
    ratio_gauge,
    site_variable,
    sql,
    stat,
    thresholds,
    timeseries,
    value_mappings,
)

SITE = 'site_id="$site"'
SITE_GENERAL = 'site_id="$site",channel="general"'
BIG = 80  # value size (px) of the headline stats; the tablet is read from across the room

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


def build() -> Json:
    panels = [
        spike_banner((0, 0, 18, 2)),
        next_spike_stat((18, 0, 6, 2)),
        price_now_stat((0, 2, 8, 7)),
        feed_in_stat((8, 2, 5, 7)),
        renewables_gauge((13, 2, 5, 7)),
        tariff_period_stat((18, 2, 6, 4)),
        demand_window_stat((18, 6, 6, 3)),
        price_forecast_graph((0, 9, 18, 8)),
        yesterday_stat((18, 9, 6, 3)),
        this_month_stat((18, 12, 6, 3)),
        updated_stat((18, 15, 6, 2)),
        *plan_row(17),
    ]
    return dashboard(
        "amber-now", "Now",
        description="The wall tablet: the price now, spikes, the next 12 hours and what power cost. Open "
        "/d/amber-now/now?kiosk on the tablet.",
        tags=["tablet"], refresh="30s", time_from="now-6h", time_to="now+12h", panels=panels,
        variables=[site_variable()], refresh_intervals=["30s", "1m"],
    )  # fmt: skip


def coloured_names(mapping: dict[str, tuple[str, str]]) -> list[Json]:
    """One override per series name (a descriptor, a tariff period): its colour and the words shown."""
    return [by_name(name, color=fixed(color), displayName=text) for name, (color, text) in mapping.items()]


# --- top: spikes ----------------------------------------------------------------------------------------------


def spike_banner(grid: Grid) -> Json:
    spike = promql(
        f"""max(amber_spike_status{{{SITE_GENERAL},status="potential"}})
           + 2 * max(amber_spike_status{{{SITE_GENERAL},status="spike"}})""",
        instant=True,
    )
    banner = value_mappings({
        "0": ("transparent", "No price spike"),
        "1": ("orange", "Spike possible: prices may jump soon"),
        "2": ("red", "PRICE SPIKE: use as little power as you can"),
    })  # fmt: skip
    return stat(
        "", grid, [spike],
        description="Amber's spike status for the current interval (amber_spike_status): a red banner during a "
        "price spike, orange when one may be coming.",
        color_mode="background", value_size=36, mappings=banner, no_value="No data from the exporter",
    )  # fmt: skip


def next_spike_stat(grid: Grid) -> Json:
    return stat(
        "Next spike", grid,
        [promql(f"1000 * min(amber_forecast_next_spike_timestamp_seconds{{{SITE_GENERAL}}})", instant=True)],
        description="Start of the next forecast interval with a potential or actual spike "
        "(amber_forecast_next_spike_timestamp_seconds); 'None forecast' when the forecast has none.",
        unit="dateTimeFromNow", value_size=28, no_value="None forecast",
    )  # fmt: skip


# --- the price now --------------------------------------------------------------------------------------------


def price_now_stat(grid: Grid) -> Json:
    price = promql(
        f"""100 * amber_price_dollars_per_kwh{{{SITE_GENERAL}}}
           * on (site_id, channel) group_left (descriptor)
           (amber_price_descriptor{{{SITE_GENERAL}}} == 1)""",
        legend="{{descriptor}}",
        instant=True,
    )
    return stat(
        "Price now", grid, [price],
        description="General (import) price of the current interval in c/kWh incl. GST "
        "(amber_price_dollars_per_kwh × 100), coloured and named by Amber's price descriptor "
        "(amber_price_descriptor). Amber's sign: below 0 you are paid to use power.",
        unit=C_PER_KWH, decimals=1, color_mode="background", text_mode="value_and_name", value_size=BIG,
        title_size=20, overrides=coloured_names(DESCRIPTORS), no_value="—",
        steps=thresholds((None, "blue")),  # a descriptor Amber adds later, with no colour of its own
    )  # fmt: skip


def feed_in_stat(grid: Grid) -> Json:
    return stat(
        "Feed-in earns", grid,
        [promql('-100 * amber_price_dollars_per_kwh{site_id="$site",channel="feedIn"}', instant=True)],
        description="What exporting a kWh earns now, in c/kWh: Amber's feed-in price with its sign flipped "
        "(Amber sends a negative feed-in price when you are paid). Red below 0: exporting costs money, "
        "curtail solar if you can.",
        unit=C_PER_KWH, decimals=1, value_size=56, no_value="No feed-in",
        steps=thresholds((None, "red"), (0, "green")),
    )  # fmt: skip


def renewables_gauge(grid: Grid) -> Json:
    return ratio_gauge(
        "Renewables", grid, [promql(f"amber_renewables_ratio{{{SITE}}}", instant=True)],
        description="Share of renewable generation in the site's region now (amber_renewables_ratio).",
        steps=thresholds((None, "red"), (0.3, "orange"), (0.6, "green")), no_value="—", value_size=40,
    )  # fmt: skip


def tariff_period_stat(grid: Grid) -> Json:
    return stat(
        "Tariff period", grid,
        [promql(f"amber_tariff_period{{{SITE_GENERAL}}} == 1", legend="{{period}}", instant=True)],
        description="Network time-of-use period of the current interval (amber_tariff_period).",
        color_mode="background", text_mode="name", value_size=32, overrides=coloured_names(TARIFF_PERIODS),
        no_value="No time-of-use tariff",
    )  # fmt: skip


def demand_window_stat(grid: Grid) -> Json:
    return stat(
        "Demand window", grid, [promql(f"max(amber_demand_window{{{SITE_GENERAL}}})", instant=True)],
        description="Whether the current interval is in the network's demand window (amber_demand_window): "
        "keep big loads off, a demand charge may be set by the highest use in it.",
        color_mode="background", value_size=24,
        mappings=value_mappings(
            {"0": ("transparent", "No demand window"), "1": ("orange", "Demand window: keep load low")}
        ),
        no_value="—",
    )  # fmt: skip


# --- the next 12 hours ----------------------------------------------------------------------------------------

PRICES_SQL = """
SELECT interval_start AS "time", per_kwh AS "Price"
FROM prices
WHERE site_id = '$site' AND channel_type = 'general' AND $__timeFilter(interval_start)
ORDER BY 1
"""
FORECAST_SQL = """
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
"""


def price_forecast_graph(grid: Grid) -> Json:
    band = {"color": fixed("blue"), "custom__lineWidth": 0}  # the advanced price's low–high band, shaded
    return timeseries(
        "Price: last 6 hours and forecast", grid,
        [sql(PRICES_SQL, "A", "time_series"), sql(FORECAST_SQL, "B", "time_series")],
        description="General price in c/kWh: the stored prices of the last hours, then the newest stored "
        "forecast of each interval for the next 12 hours (forecast_latest): Amber's forecast price, its "
        "advanced price prediction and the advanced price's low–high band (shaded).",
        unit=C_PER_KWH, interpolation="stepAfter", decimals=1,
        overrides=[
            by_name("Price", color=fixed("text"), custom__lineWidth=2),
            by_name("Forecast", color=fixed("orange"), custom__lineStyle={"fill": "dash", "dash": [10, 10]}),
            by_name("Advanced predicted", color=fixed("blue"), custom__lineWidth=2),
            by_name("Advanced high", **band, custom__fillOpacity=20, custom__fillBelowTo="Advanced low"),
            by_name("Advanced low", **band, custom__hideFrom={"legend": True, "tooltip": False, "viz": False}),
        ],
    )  # fmt: skip


# --- what power cost ------------------------------------------------------------------------------------------


def yesterday_stat(grid: Grid) -> Json:
    return cost_stat(
        "Yesterday", grid,
        f"""
        SELECT sum(cost) / 100 AS "Yesterday"
        FROM cost_daily
        WHERE site_id = '$site'
          AND day = (now() AT TIME ZONE {LOCAL_ZONE})::date - 1
        """,
        description="Net cost of yesterday (local day, AMBER_TIMEZONE) in dollars: imports minus feed-in "
        "credits, from cost_daily. Part of it may still be estimated usage.",
    )  # fmt: skip


def this_month_stat(grid: Grid) -> Json:
    return cost_stat(
        "This month", grid,
        f"""
        SELECT coalesce(sum(cost), 0) / 100 AS "This month"
        FROM cost_daily
        WHERE site_id = '$site'
          AND day >= date_trunc('month', now() AT TIME ZONE {LOCAL_ZONE})::date
        """,
        description="Net cost of this local month so far in dollars (cost_daily). Amber sends usage the "
        "next day, so it runs up to yesterday.",
    )  # fmt: skip


def cost_stat(title: str, grid: Grid, query: str, *, description: str) -> Json:
    """A net cost in dollars from one SQL value."""
    return stat(title, grid, [sql(query)], description=description, unit=DOLLARS, decimals=2, value_size=40)


def updated_stat(grid: Grid) -> Json:
    return stat(
        "Updated", grid, [promql("1000 * amber_last_poll_success_timestamp_seconds", instant=True)],
        description="When the exporter last polled Amber successfully (amber_last_poll_success_timestamp_seconds).",
        unit="dateTimeFromNow", value_size=20, title_size=12,
    )  # fmt: skip


# --- the plan -------------------------------------------------------------------------------------------------

PLAN_ABOUT = (
    "the cheapest window of each load in AMBER_LOADS in the next 12 hours of forecast, or before its "
    "'by' time (feedIn loads: the best hours to export); recomputed with every new forecast."
)


def plan_row(y: int) -> list[Json]:
    """Each AMBER_LOADS load's cheapest window in the forecast (amber_plan_* metrics), one value per load,
    e.g. car: 23:00, 03:00, 16.0 c/kWh, saves 13.4 c/kWh."""
    return [
        plan_stat("Plan: start", (0, y, 6, 3), "1000 * amber_plan_window_start_timestamp_seconds",
                  f"When to start: {PLAN_ABOUT} (amber_plan_window_start_timestamp_seconds)", unit="time:HH:mm"),
        plan_stat("Plan: until", (6, y, 6, 3), "1000 * amber_plan_window_end_timestamp_seconds",
                  f"When the window ends: {PLAN_ABOUT} (amber_plan_window_end_timestamp_seconds)",
                  unit="time:HH:mm"),
        plan_stat("Plan: price", (12, y, 6, 3), "100 * amber_plan_price_dollars_per_kwh",
                  f"Mean predicted price over the window in c/kWh: {PLAN_ABOUT} (amber_plan_price_dollars_per_kwh)",
                  unit=C_PER_KWH, decimals=1),
        plan_stat("Plan: saves vs now", (18, y, 6, 3), "100 * amber_plan_saving_dollars_per_kwh",
                  "How much cheaper per kWh the window is than starting now (c/kWh; 0: now is the best "
                  "time). For loads with a power (7kW) amber_plan_saving_dollars has it in dollars; the band of "
                  "Amber's advanced price is amber_plan_advanced_price_dollars_per_kwh.",
                  unit=C_PER_KWH, decimals=1),
    ]  # fmt: skip


def plan_stat(title: str, grid: Grid, metric: str, description: str, *, unit: str, decimals: int | None = None) -> Json:
    """One amber_plan_* metric of this site, one value per load (named by its label)."""
    return stat(
        title, grid, [promql(f"{metric}{{{SITE}}}", legend="{{load}}", instant=True)], description=description,
        unit=unit, decimals=decimals, text_mode="value_and_name", value_size=20, title_size=12,
        no_value="No loads: set AMBER_LOADS",
    )  # fmt: skip
