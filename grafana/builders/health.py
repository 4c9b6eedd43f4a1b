"""Health (uid amber-health): is the stack working — exporter, Amber API and its rate limit, the loader's
progress and TimescaleDB's background jobs.

    build() -> the dashboard; grafana/README.md ("Health") describes every panel.

`build()` is the layout; each panel has a builder below, in that order. Almost everything is PromQL on
the exporter's metrics; only "Rows written" and "Database jobs" read the database.
"""

from __future__ import annotations

from typing import Any

from .blocks import (
    Grid,
    Json,
    by_name,
    dashboard,
    fixed,
    promql,
    ratio_gauge,
    sql,
    stat,
    table,
    thresholds,
    timeseries,
    value_mappings,
)

UP_DOWN = value_mappings({"0": ("red", "DOWN"), "1": ("green", "UP")})
GREEN_UNTIL = thresholds((None, "green"), (1, "red"))  # any at all is a problem


def build() -> Json:
    panels = [
        exporter_up_stat((0, 0, 4, 4)),
        amber_up_stat((4, 0, 4, 4)),
        last_poll_stat((8, 0, 4, 4)),
        rate_limit_gauge((12, 0, 4, 4)),
        api_errors_stat((16, 0, 4, 4)),
        scrape_errors_stat((20, 0, 4, 4)),
        api_requests_graph((0, 4, 12, 8)),
        rate_limit_graph((12, 4, 12, 8)),
        api_errors_graph((0, 12, 12, 8)),
        data_lag_graph((12, 12, 12, 8)),
        rows_written_graph((0, 20, 24, 8)),
        *backfill_row(28),
        jobs_failing_stat((0, 32, 4, 8)),
        jobs_table((4, 32, 20, 8)),
    ]
    return dashboard(
        "amber-health", "Health",
        description="Is the stack working: exporter, Amber API and its rate limit, the loader's progress and "
        "TimescaleDB's background jobs.",
        tags=["operations"], refresh="1m", time_from="now-24h", time_to="now", panels=panels, variables=[],
        refresh_intervals=["30s", "1m", "5m"],
    )  # fmt: skip


def big_stat(title: str, grid: Grid, expr: str, *, legend: str = "__auto", **options: Any) -> Json:
    """The latest value of one PromQL expression in large type (40 px)."""
    return stat(title, grid, [promql(expr, legend=legend, instant=True)], value_size=40, **options)


# --- exporter and Amber API -----------------------------------------------------------------------------------


def exporter_up_stat(grid: Grid) -> Json:
    return big_stat(
        "Exporter", grid, 'up{job="amber-exporter"}',
        description="Prometheus reaches the exporter's /metrics (up of job amber-exporter).",
        color_mode="background", mappings=UP_DOWN, no_value="Not scraped",
    )  # fmt: skip


def amber_up_stat(grid: Grid) -> Json:
    return big_stat(
        "Amber API", grid, "amber_up",
        description="The exporter's last poll of the Amber API succeeded (amber_up).",
        color_mode="background", mappings=UP_DOWN,
    )  # fmt: skip


def last_poll_stat(grid: Grid) -> Json:
    return big_stat(
        "Last successful poll", grid, "time() - amber_last_poll_success_timestamp_seconds",
        description="Seconds since the exporter last polled Amber successfully; it polls after every "
        "5-minute boundary, and serves cached prices for EXPORTER_STALE_SECONDS (15 min) after that.",
        unit="s", decimals=0, steps=thresholds((None, "green"), (420, "orange"), (900, "red")),
    )  # fmt: skip


def rate_limit_gauge(grid: Grid) -> Json:
    return ratio_gauge(
        "Rate-limit budget", grid, [promql("amber_rate_limit_remaining / amber_rate_limit_limit", instant=True)],
        description="Share of the account's Amber API requests left in the current window "
        "(amber_rate_limit_remaining / amber_rate_limit_limit; about 50 per 5 minutes, shared by the "
        "exporter and the loader).",
        steps=thresholds((None, "red"), (0.1, "orange"), (0.3, "green")),
    )  # fmt: skip


def api_errors_stat(grid: Grid) -> Json:
    return big_stat(
        "API errors", grid, 'sum(increase(amber_api_requests_total{outcome!="ok"}[$__range]))',
        description="Amber API requests that failed in the time range (amber_api_requests_total, every "
        "outcome but ok).",
        decimals=0, steps=thresholds((None, "green"), (1, "orange"), (20, "red")),
    )  # fmt: skip


def scrape_errors_stat(grid: Grid) -> Json:
    return big_stat(
        "Scrape errors", grid, "sum(increase(amber_exporter_scrape_errors_total[$__range]))",
        description="Failures while the exporter built a scrape in the time range "
        "(amber_exporter_scrape_errors_total); should stay 0 — see the exporter's log.",
        decimals=0, steps=GREEN_UNTIL,
    )  # fmt: skip


def requests_per_5_minutes(title: str, grid: Grid, by: str, selector: str, *, description: str) -> Json:
    """Amber API requests (amber_api_requests_total) by a label, per 5 minutes: the unit of Amber's limit."""
    expr = f"300 * sum by ({by}) (rate(amber_api_requests_total{selector}[$__rate_interval]))"
    return timeseries(title, grid, [promql(expr, legend=f"{{{{{by}}}}}")], description=description, unit="short",
                      fill=20, decimals=1)  # fmt: skip


def api_requests_graph(grid: Grid) -> Json:
    return requests_per_5_minutes(
        "API requests per 5 minutes", grid, "endpoint", "",
        description="Amber API requests by endpoint (amber_api_requests_total), as a rate per 5 minutes: the "
        "unit of Amber's rate limit.",
    )  # fmt: skip


def rate_limit_graph(grid: Grid) -> Json:
    return timeseries(
        "Rate-limit budget over time", grid,
        [promql("amber_rate_limit_remaining", legend="remaining"),
         promql("amber_rate_limit_limit", ref="B", legend="limit")],
        description="Requests left in the account's current rate-limit window and the window's limit "
        "(from Amber's RateLimit headers).",
        unit="short", interpolation="stepAfter", decimals=0,
        overrides=[by_name("limit", color=fixed("red"), custom__lineStyle={"fill": "dash", "dash": [10, 10]})],
    )  # fmt: skip


def api_errors_graph(grid: Grid) -> Json:
    return requests_per_5_minutes(
        "API errors per 5 minutes", grid, "outcome", '{outcome!="ok"}',
        description="Failed Amber API requests by outcome (auth, not_found, bad_request, rate_limited, "
        "unavailable, bad_response), per 5 minutes. prometheus/ALERTS.md says what to do for each.",
    )  # fmt: skip


# --- the loader -----------------------------------------------------------------------------------------------


def data_lag_graph(grid: Grid) -> Json:
    return timeseries(
        "Data lag", grid,
        [promql("time() - amber_loader_newest_actual_price_timestamp_seconds", legend="prices {{site_id}}"),
         promql("time() - amber_loader_newest_usage_timestamp_seconds", ref="B", legend="usage {{site_id}}"),
         promql("time() - amber_last_poll_success_timestamp_seconds", ref="C", legend="exporter poll")],
        description="How old the newest data is: the newest actual price and usage interval in the database "
        "(the loader's freshness, read by the exporter when it has DATABASE_URL) and the exporter's last "
        "successful poll. Usage normally lags a day: Amber sends it the next day.",
        unit="s", decimals=0,
    )  # fmt: skip


def rows_written_sql(ref: str, table: str, written_at: str, label: str) -> Json:
    """Rows of a table per time bucket, by when they were (last) written."""
    return sql(
        f"""
        SELECT $__timeGroupAlias({written_at}, $__interval), count(*) AS "{label}"
        FROM {table}
        WHERE $__timeFilter({written_at})
        GROUP BY 1
        ORDER BY 1
        """,
        ref,
        "time_series",
    )


def rows_written_graph(grid: Grid) -> Json:
    return timeseries(
        "Rows written", grid,
        [rows_written_sql("A", "prices", "fetched_at", "Prices"), rows_written_sql("B", "usage", "fetched_at", "Usage"),
         rows_written_sql("C", "forecasts", "issued_at", "Forecasts")],
        description="Rows the loader inserted or changed, by when it wrote them (prices and usage: "
        "fetched_at; forecasts: issued_at), per time bucket of at least an hour. A row rewritten later "
        "counts at its latest write only.",
        unit="short", draw="bars", fill=60, interval="1h",
    )  # fmt: skip


def backfill_row(y: int) -> list[Json]:
    """History backfill: how much of the history is stored and when the rest will be (amber_backfill_*,
    from backfill_status). A first start loads the newest weeks first, so the other dashboards are right
    for recent days long before this reaches 100%."""
    return [
        big_stat("History loaded", (0, y, 8, 4), "amber_backfill_progress_ratio", legend="{{site_id}}",
                 description="Share of the wanted price and usage history stored (amber_backfill_progress_ratio). "
                 "The backfill fetches the newest weeks first: today, yesterday and this month are there within "
                 "minutes of the first start.",
                 unit="percentunit", decimals=0, steps=thresholds((None, "orange"), (1, "green")),
                 no_value="Not started"),
        big_stat("History left to load", (8, y, 8, 4), "amber_backfill_remaining_history_seconds",
                 legend="{{site_id}}",
                 description="Length of the history still to fetch, prices and usage counted separately "
                 "(amber_backfill_remaining_history_seconds); 0 once the backfill has finished.",
                 unit="s", decimals=0, steps=thresholds((None, "green"), (1, "orange")), no_value="Not started"),
        big_stat("Backfill finishes in", (16, y, 8, 4), "amber_backfill_eta_seconds", legend="{{site_id}}",
                 description="Estimated time until the running backfill finishes, within Amber's rate limit "
                 "(amber_backfill_eta_seconds; the log line of `docker compose logs backfill` says the same).",
                 unit="s", decimals=0, steps=thresholds((None, "text")), no_value="Not running"),
    ]  # fmt: skip


# --- TimescaleDB's background jobs ----------------------------------------------------------------------------


def jobs_failing_stat(grid: Grid) -> Json:
    return big_stat(
        "Database jobs failing", grid, "count(amber_timescaledb_job_ok == 0) or vector(0)",
        description="TimescaleDB background jobs (aggregate refresh, compression, retention) that fail, "
        "did no work for 6 of their schedules, or are overdue (amber_timescaledb_job_ok; the same rule as "
        "`amber-home doctor`, which names the job and the fix). The known 'cannot drop portal' error does "
        "not count: those runs do their work.",
        decimals=0, color_mode="background", steps=GREEN_UNTIL,
    )  # fmt: skip


JOBS_SQL = """
SELECT policy AS "Job", relation AS "On", schedule_interval::text AS "Every",
       last_work_done AS "Last work done", next_start AS "Next run",
       coalesce(last_run_status, 'not run yet') AS "Last run",
       CASE last_run_failure WHEN 'portal' THEN 'known portal error: work done'
                             WHEN 'apache_license' THEN 'not in the Apache build: harmless'
                             ELSE last_error END AS "Error",
       total_failures AS "Failures"
FROM amber_job_health()
ORDER BY policy, relation
"""


def jobs_table(grid: Grid) -> Json:
    return table(
        "Database jobs", grid, [sql(JOBS_SQL)],
        description="Every TimescaleDB background job (amber_job_health(), sql/013): what it works on, how "
        "often, when it last did its work and how its last run ended. Runs that report 'cannot drop "
        "portal' after committing their work (a known TimescaleDB/PostgreSQL 17 incompatibility) count as "
        "work done; the loader refreshes the aggregates it writes either way.",
        unit="none",
        overrides=[by_name("Last work done", unit="dateTimeFromNow"), by_name("Next run", unit="dateTimeFromNow")],
    )  # fmt: skip
