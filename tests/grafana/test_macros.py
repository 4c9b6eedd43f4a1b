"""The test helper that stands in for Grafana (tests/grafana/macros.py) against the expansions Grafana's own
tests and docs give, so the panel tests run the SQL and PromQL Grafana would send."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.grafana.macros import (
    TimeRange,
    calculate_interval,
    expand_promql,
    expand_sql,
    format_interval,
    provisioning_value,
    rate_interval,
    relative_time,
    rfc3339,
)

FROM = dt.datetime(2018, 4, 12, 18, 0, tzinfo=dt.UTC)
RANGE = TimeRange(FROM, FROM + dt.timedelta(minutes=5))
HOUR = dt.timedelta(hours=1)


def sql(text: str, variables=None, interval=HOUR) -> str:
    return expand_sql(text, RANGE, interval, variables or {})


def test_time_filter_from_and_to_are_rfc3339_utc():
    assert sql("WHERE $__timeFilter(time_column)") == (
        "WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'"
    )
    assert sql("select $__timeFrom()") == "select '2018-04-12T18:00:00Z'"
    assert sql("select $__timeTo()") == "select '2018-04-12T18:05:00Z'"
    sydney = dt.datetime(1960, 2, 1, 18, 0, 0, 500000, tzinfo=dt.timezone(dt.timedelta(hours=11)))
    assert rfc3339(sydney) == "1960-02-01T07:00:00.5Z"


def test_time_group_uses_time_bucket_with_timescaledb():
    assert sql("GROUP BY $__timeGroup(time_column,'5m')") == "GROUP BY time_bucket('300.000s',time_column)"
    assert sql("GROUP BY $__timeGroup(time_column , '12d')") == "GROUP BY time_bucket('1036800.000s',time_column)"
    assert sql("SELECT $__timeGroupAlias(time_column,'5m')") == "SELECT time_bucket('300.000s',time_column) AS \"time\""
    # pre-5.3 compatibility: a comma right after $__timeGroup adds the alias
    assert sql("SELECT $__timeGroup(time_column,'5m'), value") == (
        "SELECT time_bucket('300.000s',time_column) AS \"time\", value"
    )
    plain = expand_sql("$__timeGroup(time_column,'5m')", RANGE, HOUR, {}, timescaledb=False)
    assert plain == "floor(extract(epoch from time_column)/300)*300"


def test_interval_variable_then_macro():
    assert sql("SELECT $__timeGroupAlias(t, $__interval)", interval=dt.timedelta(minutes=90)) == (
        "SELECT time_bucket('3600.000s',t) AS \"time\""  # gtime.FormatInterval truncates 90m to 1h
    )
    assert sql("SELECT $__interval_ms", interval=dt.timedelta(minutes=10)) == "SELECT 600000"


def test_variables_are_escaped_not_quoted_for_sql():
    assert sql("WHERE site_id = '$site' AND h = ${horizon}", {"site": "O'Brien", "horizon": "240"}) == (
        "WHERE site_id = 'O''Brien' AND h = 240"
    )
    with pytest.raises(KeyError):
        sql("WHERE site_id = '$sites'", {"site": "x"})


def test_unknown_macros_and_comments_are_refused():
    with pytest.raises(NotImplementedError):
        sql("WHERE $__unixEpochFilter(t)")
    with pytest.raises(NotImplementedError):
        sql("SELECT 1 -- note")


def test_promql_variables():
    time_range = TimeRange(FROM, FROM + dt.timedelta(hours=24))
    expr = expand_promql(
        'sum(increase(x{site_id="$site"}[$__range])) + rate(y[$__rate_interval])',
        time_range, dt.timedelta(minutes=1), dt.timedelta(seconds=30), {"site": "S1"},
    )  # fmt: skip
    assert expr == 'sum(increase(x{site_id="S1"}[86400s])) + rate(y[120s])'
    assert rate_interval(dt.timedelta(seconds=1), dt.timedelta(seconds=1)) == dt.timedelta(seconds=4)


def test_interval_calculation_and_formatting():
    month = TimeRange(FROM - dt.timedelta(days=30), FROM)
    assert calculate_interval(month, None) == dt.timedelta(minutes=30)  # 30 d / 1000 points ≈ 43 min -> 30 min
    assert calculate_interval(TimeRange(FROM - dt.timedelta(hours=24), FROM), "1h") == dt.timedelta(hours=1)
    assert calculate_interval(TimeRange(FROM - dt.timedelta(days=365), FROM), "1h") == dt.timedelta(hours=6)
    assert [format_interval(dt.timedelta(seconds=s)) for s in (0.02, 30, 300, 5400, 86400 * 2)] == [
        "20ms", "30s", "5m", "1h", "2d"
    ]  # fmt: skip
    assert relative_time("now+12h", FROM) == FROM + dt.timedelta(hours=12)
    assert relative_time("now-30d", FROM) == FROM - dt.timedelta(days=30)


def test_provisioning_values_expand_like_grafana():
    env = {"AMBER_READER_PASSWORD": "pa$word", "word": "X"}
    # ${VAR} is expanded once: a '$' in the value survives
    assert provisioning_value("${AMBER_READER_PASSWORD}", env) == "pa$word"
    # $__env{} output goes through os.ExpandEnv again (Grafana's docs warn about this)
    assert provisioning_value("$__env{AMBER_READER_PASSWORD}", env) == "paX"
    assert provisioning_value("cost$$5", env) == "cost$5"
