"""`amber-home query plan`: each AMBER_LOADS load's cheapest window in the next 24 hours (or before its
deadline) from the loader's stored forecasts, with how sure it is.

    plan(conn, loads, zone=, now=, site=) -> Result

The search is amber/advisor.py's (the exporter's amber_plan_* metrics use the same one on its cache). The
slots here: the interval holding `now` at its stored price (prices; the newest forecast if the loader has
not stored it), then forecast_latest, each at Amber's advanced predicted price when given, else perKwh.
How sure: the mean advancedPrice low/high over the window, and the mean absolute error of past forecasts of
that site and channel at the window's lead (forecast_accuracy, last 30 days, same horizon bucket).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import psycopg

from amber.advisor import DEFAULT_HORIZON, Load, Slot, cheapest_window
from loader.query import QueryError, Result, check_site, varying_columns
from loader.table_format import Column, Table
from runtime.database import one_row

__all__ = ["plan"]

SLOTS_SQL = """
WITH now_slot AS (
    (SELECT interval_start, interval_end, per_kwh AS price, advanced_price_low AS low, advanced_price_high AS high
     FROM prices
     WHERE site_id = %(site)s AND channel_type = %(channel)s
       AND interval_start <= %(now)s AND interval_end > %(now)s)
    UNION ALL
    (SELECT interval_start, interval_end, coalesce(advanced_price_predicted, per_kwh), advanced_price_low,
            advanced_price_high
     FROM forecast_latest
     WHERE site_id = %(site)s AND channel_type = %(channel)s
       AND interval_start <= %(now)s AND interval_end > %(now)s)
    LIMIT 1
)
SELECT * FROM now_slot
UNION ALL
SELECT interval_start, interval_end, coalesce(advanced_price_predicted, per_kwh), advanced_price_low,
       advanced_price_high
FROM forecast_latest
WHERE site_id = %(site)s AND channel_type = %(channel)s
  AND interval_start >= (SELECT interval_end FROM now_slot) AND interval_start < %(until)s
ORDER BY 1
"""

# The error of the price the search used (advanced predicted when given), at the window's horizon bucket.
ACCURACY_SQL = """
SELECT avg(abs(coalesce(advanced_price_error, error_per_kwh))), count(*)
FROM forecast_accuracy
WHERE site_id = %(site)s AND channel_type = %(channel)s AND horizon_minutes = amber_forecast_horizon(%(lead)s)
  AND interval_start > %(now)s - INTERVAL '30 days' AND interval_start <= %(now)s
"""

COLUMNS = (
    Column("load", "Load", "text"),
    Column("site_id", "Site", "text"),
    Column("channel", "Channel", "text"),
    Column("start", "Start", "timestamp"),
    Column("end", "End", "timestamp"),
    Column("mean_per_kwh", "c/kWh", "price"),
    Column("saving_per_kwh", "Saves c/kWh", "price"),
    Column("saving_cents", "Saves", "money"),
    Column("advanced_low_per_kwh", "Low", "price"),
    Column("advanced_high_per_kwh", "High", "price"),
    Column("past_error_per_kwh", "Past error", "price"),
    Column("past_forecasts", "Forecasts", "int"),
)


def plan(
    conn: psycopg.Connection, loads: Sequence[Load], *, zone: ZoneInfo, now: dt.datetime, site: str | None = None
) -> Result:
    if not loads:
        raise QueryError('no loads to plan: set AMBER_LOADS, e.g. AMBER_LOADS="dishwasher 2h, car 4h by 07:00 7kW"')
    check_site(conn, site)
    sites = [site] if site else [r[0] for r in conn.execute("SELECT site_id FROM sites ORDER BY site_id")]
    rows, unplanned = [], []
    for site_id in sites:
        for load in loads:
            params = {"site": site_id, "channel": load.channel, "now": now, "until": now + DEFAULT_HORIZON}
            slots = [Slot(*row) for row in conn.execute(SLOTS_SQL, params)]
            window = cheapest_window(slots, load, now=now, zone=zone)
            if window is None:
                unplanned.append(load.name)
                continue
            error, count = one_row(conn, ACCURACY_SQL, {**params, "lead": max(window.start - now, dt.timedelta(0))})
            rows.append((load.name, site_id, load.channel, window.start, window.end, window.mean_price,
                         window.saving_per_kwh, window.saving_cents, window.low, window.high, error, count))
    title = (f"Cheapest windows from {now.astimezone(zone):%Y-%m-%d %H:%M %Z} (vs starting now; feedIn: the best "
             "hours to export; past error: mean |forecast - actual| at that lead, 30 days)")
    notice = None
    if unplanned:
        notice = (f"no window for {', '.join(dict.fromkeys(unplanned))}: no forecast stored for the next hours, or "
                  "the deadline is too close (the loader stores forecasts while `collect` runs)")
    return Result((Table("plan", title, varying_columns(COLUMNS, rows), tuple(rows)),), notice)
