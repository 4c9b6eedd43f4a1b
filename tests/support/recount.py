"""Each aggregate of sql/007 next to the same aggregation written independently from the raw rows
(date_trunc on local time instead of time_bucket; cost_monthly straight from usage, not from cost_daily).

    mismatched(conn, timezone="Australia/Sydney") -> names of the aggregates that differ from the recount

Hours are compared as UTC hours, which are local hours in every zone whose offset is whole hours.
"""

from __future__ import annotations

COMPARED = ("price_hourly", "usage_hourly", "cost_daily", "cost_monthly")


def _comparisons(tz: str) -> dict[str, tuple[str, str]]:
    return {
        "price_hourly": (
            ("SELECT site_id, channel_type, hour_start, avg_per_kwh, min_per_kwh, max_per_kwh, avg_spot_per_kwh,"
             " avg_renewables, intervals, forecast_intervals FROM price_hourly ORDER BY 1, 2, 3"),
            ("SELECT site_id, channel_type, date_trunc('hour', interval_start, 'UTC'), avg(per_kwh), min(per_kwh),"
             " max(per_kwh), avg(spot_per_kwh), avg(renewables), count(*),"
             " count(*) FILTER (WHERE interval_type = 'ForecastInterval') FROM prices GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"),
        ),
        "usage_hourly": (
            ("SELECT site_id, channel_identifier, channel_type, hour_start, kwh, cost, intervals, estimated_intervals"
             " FROM usage_hourly ORDER BY 1, 2, 3, 4"),
            ("SELECT site_id, channel_identifier, channel_type, date_trunc('hour', interval_start, 'UTC'), sum(kwh),"
             " sum(cost), count(*), count(*) FILTER (WHERE quality = 'estimated') FROM usage GROUP BY 1, 2, 3, 4"
             " ORDER BY 1, 2, 3, 4"),
        ),
        "cost_daily": (
            ("SELECT site_id, channel_identifier, channel_type, day_start, day, kwh_imported, kwh_exported, cost,"
             " intervals, estimated_intervals FROM cost_daily ORDER BY 1, 2, 3, 4"),
            f"""SELECT site_id, channel_identifier, channel_type,
                       (interval_start AT TIME ZONE '{tz}')::date::timestamp AT TIME ZONE '{tz}',
                       (interval_start AT TIME ZONE '{tz}')::date,
                       coalesce(sum(kwh) FILTER (WHERE channel_type <> 'feedIn'), 0),
                       coalesce(-sum(kwh) FILTER (WHERE channel_type = 'feedIn'), 0),
                       sum(cost), count(*), count(*) FILTER (WHERE quality = 'estimated')
                FROM usage GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4""",
        ),
        "cost_monthly": (
            ("SELECT site_id, channel_identifier, channel_type, month_start, month, kwh_imported, kwh_exported, cost,"
             " intervals, estimated_intervals FROM cost_monthly ORDER BY 1, 2, 3, 4"),
            f"""SELECT site_id, channel_identifier, channel_type,
                       date_trunc('month', interval_start AT TIME ZONE '{tz}') AT TIME ZONE '{tz}',
                       date_trunc('month', interval_start AT TIME ZONE '{tz}')::date,
                       coalesce(sum(kwh) FILTER (WHERE channel_type <> 'feedIn'), 0),
                       coalesce(-sum(kwh) FILTER (WHERE channel_type = 'feedIn'), 0),
                       sum(cost), count(*), count(*) FILTER (WHERE quality = 'estimated')
                FROM usage GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4""",
        ),
    }


def mismatched(conn, timezone: str = "Australia/Sydney") -> list[str]:
    """Names of the aggregates whose rows differ from the raw recount."""
    return [
        name
        for name, (aggregate, raw) in _comparisons(timezone).items()
        if conn.execute(aggregate).fetchall() != conn.execute(raw).fetchall()
    ]
