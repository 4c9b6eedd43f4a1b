"""What Grafana does to a query before it reaches the database or Prometheus, for the macros and variables
the Amber-Home dashboards use — so the tests can run the panels' queries without a Grafana server.

Followed from Grafana's PostgreSQL data source (pkg/tsdb/grafana-postgresql-datasource/macros.go and the
sqleng Interpolate step; docs: "PostgreSQL query editor", Macros) with TimescaleDB enabled, its template
variable interpolation (public/app/features/templating/template_srv.ts, the SQL and Prometheus data sources'
interpolateVariable), the interval calculation (rangeutil.calculateInterval / roundInterval) and the
provisioning value expansion (pkg/services/provisioning/values: $__env{}/$__file{} then os.ExpandEnv).

Only what the dashboards need is implemented; anything else raises NotImplementedError, so a new macro in a
panel makes a test fail here instead of passing unexpanded."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# --- time range and interval ------------------------------------------------------------------------------

_RELATIVE = re.compile(r"^now(?:(?P<sign>[+-])(?P<n>\d+)(?P<unit>[smhdwMy]))?$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class TimeRange:
    start: dt.datetime  # aware
    end: dt.datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def relative_time(expr: str, now: dt.datetime) -> dt.datetime:
    """'now', 'now-6h', 'now+12h', 'now-30d' (the forms the dashboards use; no rounding like now/d)."""
    match = _RELATIVE.match(expr)
    if not match:
        raise NotImplementedError(f"time expression {expr!r}")
    if not match["sign"]:
        return now
    unit = match["unit"]
    if unit in "My":
        raise NotImplementedError(f"calendar unit in {expr!r}")
    delta = dt.timedelta(seconds=int(match["n"]) * _UNIT_SECONDS[unit])
    return now + delta if match["sign"] == "+" else now - delta


def dashboard_range(dashboard: Mapping, now: dt.datetime) -> TimeRange:
    return TimeRange(relative_time(dashboard["time"]["from"], now), relative_time(dashboard["time"]["to"], now))


def parse_interval(text: str) -> dt.timedelta:
    """Grafana's gtime.ParseInterval for fixed units: 20ms, 30s, 5m, 1h, 1d, 1w."""
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d|w)", text.strip().strip("'"))
    if not match:
        raise NotImplementedError(f"interval {text!r}")
    return dt.timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]])


def format_interval(interval: dt.timedelta) -> str:
    """Grafana's gtime.FormatInterval: the largest unit that fits, truncated (90 min -> 1h)."""
    ms = int(interval.total_seconds() * 1000)
    for unit, size in (("y", 31536000000), ("d", 86400000), ("h", 3600000), ("m", 60000), ("s", 1000), ("ms", 1)):
        if ms >= size:
            return f"{ms // size}{unit}"
    return "1ms"


# rangeutil.roundInterval: (below this many ms, use that many ms)
_ROUNDING = [
    (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1500, 1000), (3500, 2000),
    (7500, 5000), (12500, 10000), (17500, 15000), (25000, 20000), (45000, 30000), (90000, 60000),
    (210000, 120000), (450000, 300000), (750000, 600000), (1050000, 900000), (1500000, 1200000),
    (2700000, 1800000), (5400000, 3600000), (9000000, 7200000), (16200000, 10800000), (32400000, 21600000),
    (86400000, 43200000), (604800000, 86400000), (1814400000, 604800000), (3628800000, 2592000000),
]  # fmt: skip


def round_interval(ms: float) -> int:
    for below, rounded in _ROUNDING:
        if ms < below:
            return rounded
    return 31536000000


def calculate_interval(time_range: TimeRange, min_interval: str | None, max_data_points: int = 1000) -> dt.timedelta:
    """$__interval: the range over the panel's data points (its width in pixels; 1000 here), rounded,
    and at least the panel's min interval (or the data source's)."""
    ms = round_interval(time_range.seconds * 1000 / max_data_points)
    if min_interval:
        ms = max(ms, int(parse_interval(min_interval).total_seconds() * 1000))
    return dt.timedelta(milliseconds=ms)


# --- template variables -----------------------------------------------------------------------------------

# template_srv.ts: $name, ${name}, ${name:format}, [[name]]
_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)\]\]")


def sql_escape(value: str) -> str:
    """SqlDatasource.interpolateVariable for a single value (no multi, no All): quotes doubled, not added."""
    return value.replace("'", "''")


def prometheus_escape(value: str) -> str:
    """PrometheusDatasource.interpolateQueryExpr for a single value: prometheusRegularEscape."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def substitute(text: str, values: Mapping[str, str], escape: Callable[[str], str]) -> str:
    """Replace the dashboard's variables. Grafana's own (__name) that are not in `values` stay for the next
    step (the data source's macros); any other unknown variable is an error, as Grafana would leave it in."""

    def replace(match: re.Match[str]) -> str:
        name = match[1] or match[2] or match[4]
        if match[3]:
            raise NotImplementedError(f"variable format {match[0]!r}")
        if name in values:
            return values[name] if name.startswith("__") else escape(values[name])
        if name.startswith("__"):
            return match[0]
        raise KeyError(f"undefined template variable {match[0]!r}")

    return _VARIABLE.sub(replace, text)


# --- PostgreSQL macros ---------------------------------------------------------------------------------------

_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^)]*)\)")  # macros.go sExpr


def rfc3339(when: dt.datetime) -> str:
    """Go's time.RFC3339Nano in UTC: 2018-04-12T18:00:00Z, fractional seconds without trailing zeros."""
    when = when.astimezone(dt.UTC)
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    if when.microsecond:
        text += f".{when.microsecond:06d}".rstrip("0")
    return text + "Z"


def expand_sql(sql: str, time_range: TimeRange, interval: dt.timedelta, variables: Mapping[str, str],
               *, timescaledb: bool = True) -> str:  # fmt: skip
    """The SQL Grafana sends to PostgreSQL for a panel query (raw SQL, TimescaleDB enabled)."""
    if "--" in sql or "/*" in sql:
        # Grafana strips SQL comments before expanding macros; the dashboards carry none, so neither do we.
        raise NotImplementedError("SQL comments in a panel query")
    builtins = {"__interval": format_interval(interval), "__interval_ms": str(int(interval.total_seconds() * 1000))}
    sql = substitute(sql, {**variables, **builtins}, sql_escape)

    def evaluate(name: str, args: list[str]) -> str:
        if name == "__timeFilter":
            return f"{args[0]} BETWEEN '{rfc3339(time_range.start)}' AND '{rfc3339(time_range.end)}'"
        if name == "__timeFrom":
            return f"'{rfc3339(time_range.start)}'"
        if name == "__timeTo":
            return f"'{rfc3339(time_range.end)}'"
        if name in ("__timeGroup", "__timeGroupAlias"):
            if len(args) != 2:  # a third argument (fill mode) changes the result frame, not the SQL
                raise NotImplementedError(f"${name} with {len(args)} arguments")
            seconds = parse_interval(args[1]).total_seconds()
            group = (f"time_bucket('{seconds:.3f}s',{args[0]})" if timescaledb
                     else f"floor(extract(epoch from {args[0]})/{seconds:g})*{seconds:g}")  # fmt: skip
            return group + (' AS "time"' if name == "__timeGroupAlias" else "")
        raise NotImplementedError(f"macro ${name}")

    def replace(match: re.Match[str]) -> str:
        name, args = match[1], [arg.strip() for arg in match[2].split(",")]
        if name == "__timeGroup":  # pre-5.3 compatibility: a ',' right after the macro means ... AS "time"
            end = sql.find(match[0]) + len(match[0])
            if sql[end : end + 1] == ",":
                name = "__timeGroupAlias"
        return evaluate(name, args)

    return _MACRO.sub(replace, sql)


# --- PromQL ----------------------------------------------------------------------------------------------------


def rate_interval(interval: dt.timedelta, scrape_interval: dt.timedelta) -> dt.timedelta:
    """$__rate_interval: max($__interval + scrape interval, 4 × scrape interval)."""
    return max(interval + scrape_interval, 4 * scrape_interval)


def expand_promql(expr: str, time_range: TimeRange, interval: dt.timedelta, scrape_interval: dt.timedelta,
                  variables: Mapping[str, str]) -> str:  # fmt: skip
    """The PromQL Grafana sends to Prometheus for a panel query."""
    range_s = round(time_range.seconds)
    builtins = {
        "__interval": format_interval(interval),
        "__interval_ms": str(int(interval.total_seconds() * 1000)),
        "__range": f"{range_s}s",
        "__range_s": str(range_s),
        "__range_ms": str(range_s * 1000),
        "__rate_interval": f"{int(rate_interval(interval, scrape_interval).total_seconds())}s",
    }
    expanded = substitute(expr, {**variables, **builtins}, prometheus_escape)
    if "$" in expanded:
        raise NotImplementedError(f"unexpanded variable in {expanded!r}")
    return expanded


# --- provisioning files ---------------------------------------------------------------------------------------

_EXPANDER = re.compile(r"\$__(\w+)\{(.*?)\}")


def provisioning_value(value: str, environ: Mapping[str, str], files: Mapping[str, str] | None = None) -> str:
    """values.interpolateValue: split on '$$' (a literal '$'); in each part expand $__env{X} and
    $__file{PATH} (setting.ExpandVar; `files` maps paths to contents, trimmed like Grafana does), then $X and
    ${X} (os.ExpandEnv; unset variables become empty) — which also expands a '$' inside what they produced."""

    def expander(match: re.Match[str]) -> str:
        kind, argument = match[1], match[2]
        if kind == "env":
            return environ.get(argument, "")
        if kind == "file" and files is not None:
            return files[argument].strip()
        raise NotImplementedError(f"$__{kind}{{}}")

    def expand_env(text: str) -> str:
        return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: environ.get(m[1] or m[2], ""), text)

    return "$".join(expand_env(_EXPANDER.sub(expander, part)) for part in value.split("$$"))
