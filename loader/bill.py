"""The true bill: record the configured fixed charges and comparison plan in the database, and read
bill_periods / bill_daily (sql/014_bill.sql) for `amber-home query bill`.

    record_bill_settings(conn, settings)                 replace bill_charges, bill_day and the comparison
                                                         plan (compare_tariffs, compare_rates; sql/015)
    bill(conn, periods, zone=, until=, site=, daily=)    -> Result: billing periods (or their days)

The settings are the source of truth: every migrate replaces bill_charges with them in one transaction,
so removing a value from AMBER_SUPPLY_CHARGE removes it from history too. The sums themselves are SQL's
(bill_daily, bill_periods); this module only selects and labels them (cents, exact, Amber's signs).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import psycopg

from loader.query import QueryError, Result, check_site, read_table
from loader.table_format import Column
from runtime.database import scalar

if TYPE_CHECKING:
    from amber.plan import Plan
    from runtime.settings import Settings

__all__ = ["bill", "record_bill_settings"]


def record_bill_settings(conn: psycopg.Connection, settings: Settings) -> None:
    """Make bill_charges and amber_settings.bill_day equal the settings (one transaction)."""
    rows = [
        (kind, charge.site_id or "*", charge.valid_from, charge.cents)
        for kind, charges in (("supply", settings.supply_charge), ("subscription", settings.subscription))
        for charge in charges or ()
    ]
    with conn.transaction():
        conn.execute("DELETE FROM bill_charges")
        for row in rows:
            conn.execute("INSERT INTO bill_charges (charge, site_id, valid_from, cents) VALUES (%s, %s, %s, %s)", row,
                         prepare=False)  # a handful of rows once per start: nothing to gain from preparing
        _record_plan(conn, settings.compare_plan)
        conn.execute(
            "INSERT INTO amber_settings (key, value) VALUES ('bill_day', %s)"
            " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()"
            " WHERE amber_settings.value IS DISTINCT FROM EXCLUDED.value",
            (str(settings.bill_day),),
        )


def _record_plan(conn: psycopg.Connection, plan: Plan | None) -> None:
    conn.execute("DELETE FROM compare_tariffs")  # cascades to compare_rates
    conn.execute("DELETE FROM amber_settings WHERE key = 'compare_plan'")
    if plan is None:
        return
    conn.execute("INSERT INTO amber_settings (key, value) VALUES ('compare_plan', %s)", (plan.name,))
    for tariff in plan.tariffs:
        conn.execute(
            "INSERT INTO compare_tariffs (valid_from, supply_cents, subscription_cents) VALUES (%s, %s, %s)",
            (tariff.valid_from, tariff.supply_cents_per_day, tariff.subscription_cents_per_month),
        )
        for channel, rates in tariff.rates.items():
            for position, rate in enumerate(rates):
                conn.execute(
                    "INSERT INTO compare_rates (valid_from, channel_type, position, name, days, start_hour, end_hour,"
                    " cents_per_kwh) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    (tariff.valid_from, channel, position, rate.name, list(rate.days), rate.start_hour, rate.end_hour,
                     rate.cents_per_kwh),
                    prepare=False,
                )


PERIODS_SQL = """
SELECT period_start, period_end, site_id, status, days, days_with_data, days_missing, days_estimated,
       kwh_imported, kwh_exported, usage_cents, export_cents, supply_cents, subscription_cents, total_cents,
       projected_cents
FROM bill_periods
WHERE period_start <= %(until)s AND (%(site)s::text IS NULL OR site_id = %(site)s)
ORDER BY site_id, period_start DESC
LIMIT %(periods)s
"""

DAYS_SQL = """
SELECT day, site_id, status, kwh_imported, kwh_exported, usage_cents, export_cents, supply_cents,
       subscription_cents, total_cents
FROM bill_daily
WHERE period_start = %(period)s AND (%(site)s::text IS NULL OR site_id = %(site)s)
ORDER BY site_id, day
"""

# Both views' energy and money, in the same order.
_AMOUNTS = (
    Column("kwh_imported", "kWh in", "kwh"),
    Column("kwh_exported", "kWh out", "kwh"),
    Column("usage_cents", "Usage", "money"),
    Column("export_cents", "Feed-in", "money"),
    Column("supply_cents", "Supply", "money"),
    Column("subscription_cents", "Subscription", "money"),
    Column("total_cents", "Total", "money"),
)

PERIODS_COLUMNS = (
    Column("period_start", "From", "date"),
    Column("period_end", "To", "date"),
    Column("site_id", "Site", "text"),
    Column("status", "Status", "text"),
    Column("days", "Days", "int"),
    Column("days_with_data", "With data", "int"),
    Column("days_missing", "Missing", "int"),
    Column("days_estimated", "Estimated", "int"),
    *_AMOUNTS,
    Column("projected_cents", "Projected", "money"),
)

DAYS_COLUMNS = (
    Column("day", "Day", "date"),
    Column("site_id", "Site", "text"),
    Column("status", "Status", "text"),
    *_AMOUNTS,
)

# The billing period holding a day, by the bill day recorded in amber_settings (default 1).
PERIOD_OF_SQL = (
    "SELECT amber_bill_period_start(%s, coalesce((SELECT value::int FROM amber_settings WHERE key = 'bill_day'), 1))"
)


def bill(
    conn: psycopg.Connection,
    periods: int,
    *,
    zone: ZoneInfo,
    until: dt.date,
    site: str | None = None,
    daily: bool = False,
) -> Result:
    """The last `periods` billing periods starting on or before `until` (newest first); with `daily`, the
    days of the period holding `until` instead. Feed-in is negative when it is a credit (Amber's sign)."""
    if scalar(conn, "SELECT to_regclass('bill_periods')") is None:
        raise QueryError("the database has no bill views yet (sql/014) — run amber-home migrate")
    check_site(conn, site)
    notice = _charges_notice(conn)
    if daily:
        period = scalar(conn, PERIOD_OF_SQL, (until,))
        title = f"Bill by day, period from {period} ({zone.key})"
        params = {"period": period, "site": site}
        table = read_table(conn, DAYS_SQL, params, name="bill_daily", title=title, columns=DAYS_COLUMNS)
    else:
        title = (
            f"Bill by billing period, newest first ({zone.key}); feed-in negative = credit; total so far,"
            " blank while a day is missing"
        )
        params = {"until": until, "site": site, "periods": periods}
        table = read_table(conn, PERIODS_SQL, params, name="bill_periods", title=title, columns=PERIODS_COLUMNS)
    if not table.rows:
        notice = "no usage stored yet — run amber-home backfill"
    return Result((table,), notice)


def _charges_notice(conn: psycopg.Connection) -> str | None:
    configured = {row[0] for row in conn.execute("SELECT DISTINCT charge FROM bill_charges")}
    unset = [name for kind, name in (("supply", "AMBER_SUPPLY_CHARGE"), ("subscription", "AMBER_SUBSCRIPTION"))
             if kind not in configured]
    if not unset:
        return None
    return f"{' and '.join(unset)} not set (then amber-home migrate): the bill has no such charge"
