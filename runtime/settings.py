"""Settings of every Amber-Home process, read from environment variables.

    settings = Settings.from_env(os.environ)      # or raises ConfigError listing every problem
    settings = load_settings_or_exit(os.environ)  # for entry points: prints the problems, exits 2
    uv run python -m runtime.settings --write     # regenerates the tables in docs/configuration.md, README.md

`Settings.from_env(mapping)` is pure: it reads only the mapping it is given and the files named by
`*_FILE` variables, so tests pass a dict and entry points pass `os.environ`. It checks every
variable and raises one `ConfigError` listing all problems, so a user fixes them in one pass.

Each variable is one `_Var` row in `_VARS`; validation, the `*_FILE` variant of secrets and the
docs table (`settings_table_markdown()`, kept in docs/configuration.md) all come from that row.
To add a variable: add a `Settings` field and a row.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from amber.advisor import Load, parse_loads
from amber.plan import Plan, parse_plan
from amber.secret import Secret
from amber.tariffs import DatedCharge, parse_bill_day, parse_dated

__all__ = [
    "ConfigError",
    "MqttBroker",
    "Settings",
    "load_settings",
    "load_settings_or_exit",
    "settings_table_markdown",
]

DEFAULT_TIMEZONE = "Australia/Sydney"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")  # user:password@ of a URL, to mask


class ConfigError(Exception):
    """The environment is invalid. The message lists every problem, one per line; `problems`
    holds them as a tuple. Secret values never appear in it."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        noun = "problem" if len(self.problems) == 1 else "problems"
        lines = [f"Invalid configuration ({len(self.problems)} {noun}):"]
        lines += [f"  - {problem}" for problem in self.problems]
        super().__init__("\n".join(lines))


# Parsers take the stripped, non-empty text and return the value, or raise ValueError whose
# message says what is wrong and how to fix it. The message must not quote the value: the caller
# adds it for non-secrets only.


def _api_key(raw: str) -> Secret:
    if any(ch.isspace() for ch in raw):
        raise ValueError("contains whitespace; paste only the key itself")
    return Secret(raw)


def _password(raw: str) -> Secret:
    return Secret(raw)


def _database_url(raw: str) -> Secret:
    scheme, sep, _ = raw.partition("://")
    if not sep or scheme.lower() not in ("postgresql", "postgres"):
        raise ValueError(
            "must be a URL like postgresql://user:password@host:5432/dbname"
            " (percent-encode special characters in the password)"
        )
    # What libpq would refuse with a message quoting the offending part, i.e. the password.
    if any(ch.isspace() for ch in raw) or re.search(r"%(?![0-9A-Fa-f]{2})", raw):
        raise ValueError(
            "is not a valid URL: percent-encode spaces and % in it (space as %20, % as %25), or put the"
            " password in DATABASE_PASSWORD_FILE instead"
        )
    return Secret(raw)


def _http_url(raw: str) -> str:
    try:
        parts = urlsplit(raw)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL, e.g. https://api.amber.com.au/v1")
    return raw.rstrip("/")


def _iso_date(raw: str) -> date:
    # fromisoformat alone also takes 20230701 and week dates; ask for one unambiguous form.
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    raise ValueError("must be a calendar date as YYYY-MM-DD, e.g. 2023-07-01")


def _site_ids(raw: str) -> tuple[str, ...]:
    ids = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    if not ids or not all(re.fullmatch(r"[A-Za-z0-9_-]+", site_id) for site_id in ids):
        raise ValueError(
            "must be one site ID or several separated by commas, e.g. 01F5A5CRKMZ5BCX9P1S4V990AM;"
            " unset it to load every site"
        )
    return ids


def _time_zone(raw: str) -> ZoneInfo:
    try:
        return ZoneInfo(raw)
    # Unknown names raise ZoneInfoNotFoundError, paths ValueError, "Australia" IsADirectoryError.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            "is not an IANA time zone name; use one like Australia/Sydney or Australia/Perth"
            " (names are case-sensitive)"
        ) from None


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return level


def _port(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= 65535):
        raise ValueError("must be a TCP port number from 1 to 65535")
    return int(raw)


def _host(raw: str) -> str:
    if any(ch.isspace() or ch in "/[]" for ch in raw):
        raise ValueError("must be a host name or IP address to listen on, e.g. 0.0.0.0, 127.0.0.1 or ::")
    return raw


def _seconds(low: int, high: int) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not low <= value <= high:  # also refuses nan
            raise ValueError(f"must be a number of seconds from {low} to {high}")
        return value

    return parse


def _request_share(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= 1000):
        raise ValueError("must be a whole number of requests per 5 minutes from 1 to 1000, e.g. 12")
    return int(raw)


def _days(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        if not (raw.isascii() and raw.isdigit() and low <= int(raw) <= high):
            raise ValueError(f"must be a whole number of days from {low} to {high}")
        return int(raw)

    return parse


def _apprise_urls(raw: str) -> Secret:
    if "://" not in raw:
        raise ValueError(
            "must be one or more Apprise URLs separated by commas or spaces, e.g. ntfy://ntfy.sh/your-topic"
        )
    return Secret(raw)


def _existing_file(raw: str) -> Path:
    path = Path(raw)
    if not path.is_file():
        raise ValueError("is not a readable file; mount the file there or unset the variable")
    return path


def _cents_per_kwh(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not -1000.0 <= value <= 100000.0:  # also refuses nan and inf
        raise ValueError("must be a price in c/kWh (cents, not dollars), e.g. 30 or -2.5")
    return value


def _supply_charge(raw: str) -> tuple[DatedCharge, ...]:
    return parse_dated(raw, low=Decimal(0), high=Decimal(1000), scale=Decimal(1), unit="c/day (cents, not dollars)",
                       example="2024-07-01=110.0,2025-07-01=118.5")


def _subscription(raw: str) -> tuple[DatedCharge, ...]:
    # Dollars, as Amber advertises it ($25/month); a value above 200 is almost certainly cents typed by mistake.
    return parse_dated(raw, low=Decimal(0), high=Decimal(200), scale=Decimal(100),
                       unit="dollars per month incl. GST (not cents)", example="2024-01-01=25.00")


def _compare_plan(raw: str) -> Plan:
    try:
        text = Path(raw).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise ValueError("is not a readable UTF-8 file; mount the plan file there or unset the variable") from None
    return parse_plan(text)


@dataclass(frozen=True)
class MqttBroker:
    """Where MQTT_URL points: mqtt:// (plain TCP) or mqtts:// (TLS, system CA certificates)."""

    host: str
    port: int
    tls: bool

    def __str__(self) -> str:  # safe to log: the URL carries no credentials (refused below)
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def _mqtt_url(raw: str) -> MqttBroker:
    try:
        parts = urlsplit(raw)
        port = parts.port  # raises ValueError on a malformed port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError("must be an mqtt:// or mqtts:// URL, e.g. mqtt://mosquitto:1883")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials; set MQTT_USERNAME and MQTT_PASSWORD (or MQTT_PASSWORD_FILE)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("must be only scheme, host and port, e.g. mqtt://mosquitto:1883; set the topic in MQTT_TOPIC_PREFIX")
    tls = parts.scheme == "mqtts"
    return MqttBroker(parts.hostname, port or (8883 if tls else 1883), tls)


def _mqtt_username(raw: str) -> str:
    if any(ch.isspace() for ch in raw):
        raise ValueError("contains whitespace; use the user name the broker's password file has")
    return raw


def _topic_prefix(raw: str) -> str:
    prefix = raw.strip("/")
    if not prefix or any(ch in prefix for ch in "+#\0") or any(ch.isspace() for ch in prefix) or "//" in prefix:
        raise ValueError("must be MQTT topic levels without wildcards, spaces or empty levels, e.g. amber-home")
    return prefix


@dataclass(frozen=True)
class _Var:
    name: str  # environment variable
    attr: str  # Settings field it fills
    parse: Callable[[str], Any]
    doc: str
    default: str | None = None  # raw text, parsed like user input; None: field is None if unset
    unset: str = ""  # docs: what leaving a variable without default unset means
    secret: bool = False  # never echoed; may also come from the file named by NAME_FILE
    echo: bool = True  # False: a refused value is not quoted back (it may hold credentials by mistake)


# fmt: off
_VARS: tuple[_Var, ...] = (
    _Var("AMBER_API_KEY", "api_key", _api_key,
         "Amber API key (app.amber.com.au, Developers).",
         unset="no key (services may run in demo mode)", secret=True),
    _Var("AMBER_API_BASE_URL", "api_base_url", _http_url,
         "Amber API base URL, e.g. the simulator's for testing. A trailing slash is removed.",
         default="https://api.amber.com.au/v1"),
    _Var("DATABASE_URL", "database_url", _database_url,
         "TimescaleDB connection URL of this process's role: the superuser for migrate, backup and restore,"
         " amber_writer for the loader, amber_reader for the exporter and `query` (SECURITY.md).",
         default="postgresql://amber@127.0.0.1:5432/amber", secret=True),
    _Var("HISTORICAL_START_DATE", "historical_start_date", _iso_date,
         "First day to backfill, as YYYY-MM-DD; not in the future.",
         unset="each site's activeFrom date"),
    _Var("AMBER_SITE_ID", "site_ids", _site_ids,
         "Site ID to load, or several separated by commas.",
         unset="every site the API key can see"),
    _Var("AMBER_TIMEZONE", "timezone", _time_zone,
         "IANA time zone name for local calendar days.",
         default=DEFAULT_TIMEZONE),
    _Var("LOG_LEVEL", "log_level", _log_level,
         "DEBUG, INFO, WARNING or ERROR (case-insensitive).",
         default="INFO"),
    _Var("AMBER_READER_PASSWORD", "reader_password", _password,
         "Password that migrate sets on the read-only database role `amber_reader`.",
         unset="migrate sets none: the role cannot log in with a password", secret=True),
    _Var("EXPORTER_PORT", "exporter_port", _port,
         "TCP port where the Prometheus exporter serves /metrics.",
         default="9847"),
    _Var("EXPORTER_HOST", "exporter_host", _host,
         "Address the exporter listens on; 127.0.0.1 keeps it local to the host.",
         default="0.0.0.0"),
    _Var("EXPORTER_STALE_SECONDS", "exporter_stale_seconds", _seconds(60, 86400),
         "How long the exporter keeps serving the last prices while the Amber API fails;"
         " after that the price series disappear (amber_up is 0 meanwhile).",
         default="900"),
    _Var("EXPORTER_REQUEST_SHARE", "exporter_request_share", _request_share,
         "Most Amber API requests the exporter spends per 5 minutes (the account allows about 50,"
         " shared with the loader); estimate re-polls are skipped beyond it.",
         default="12"),
    _Var("ALERT_PRICE_ABOVE", "alert_price_above", _cents_per_kwh,
         "Price alert threshold in c/kWh: alert when the general price is above it.",
         default="30"),
    _Var("ALERT_FEED_IN_ABOVE", "alert_feed_in_above", _cents_per_kwh,
         "Feed-in curtail threshold in c/kWh (Amber's sign: above 0 exporting costs money).",
         default="0"),
    _Var("USAGE_REFETCH_DAYS", "usage_refetch_days", _days(1, 31),
         "The collector re-fetches this many past days of usage about hourly, so late meter data"
         " arrives and estimated intervals become billable.",
         default="3"),
    _Var("GAP_HEAL_DAYS", "gap_heal_days", _days(1, 90),
         "The collector checks this many past days for missing or unsettled price and usage intervals"
         " at start and hourly, and fetches them again.",
         default="7"),
    _Var("APPRISE_URLS", "apprise_urls", _apprise_urls,
         "Where the alert relay sends phone notifications: Apprise URLs separated by commas or spaces"
         " (e.g. ntfy://ntfy.sh/your-topic, pover://user@token). They carry tokens: never printed.",
         unset="no notifications unless APPRISE_CONFIG is set", secret=True),
    _Var("APPRISE_CONFIG", "apprise_config", _existing_file,
         "Path of an Apprise configuration file (YAML or TEXT), instead of or besides APPRISE_URLS.",
         unset="none"),
    _Var("ALERT_WEBHOOK_TOKEN", "alert_webhook_token", _api_key,
         "Bearer token Alertmanager must send to the relay's /alerts (set the same in alertmanager.yml).",
         unset="no token required", secret=True),
    _Var("ALERT_RELAY_HOST", "alert_relay_host", _host,
         "Address the standalone alert relay (python -m exporter.alerts) listens on.", default="0.0.0.0"),
    _Var("ALERT_RELAY_PORT", "alert_relay_port", _port,
         "Port of the standalone alert relay; the exporter also serves /alerts on EXPORTER_PORT.",
         default="9848"),
    _Var("MQTT_URL", "mqtt_url", _mqtt_url,
         "MQTT broker for Home Assistant: mqtt://host:1883 or mqtts://host:8883 (TLS)."
         " The exporter publishes what it polls there, with Home Assistant discovery.",
         unset="MQTT off", echo=False),
    _Var("MQTT_USERNAME", "mqtt_username", _mqtt_username,
         "User the exporter logs in to the MQTT broker as.", unset="no login (anonymous)"),
    _Var("MQTT_PASSWORD", "mqtt_password", _password,
         "Password of MQTT_USERNAME on the broker.", unset="no password", secret=True),
    _Var("MQTT_TOPIC_PREFIX", "mqtt_topic_prefix", _topic_prefix,
         "First topic levels of everything the exporter publishes (state, availability).",
         default="amber-home"),
    _Var("MQTT_DISCOVERY_PREFIX", "mqtt_discovery_prefix", _topic_prefix,
         "Home Assistant's MQTT discovery prefix (Settings, MQTT, Configure).", default="homeassistant"),
    _Var("AMBER_SUPPLY_CHARGE", "supply_charge", _supply_charge,
         "Daily supply charge in c/day incl. GST (network + metering, on your bill), each value from a date on:"
         " `2024-07-01=110.0,2025-07-01=118.5`; `SITE_ID:2025-07-01=95.2` for one site only. Goes into"
         " bill_daily (docs/bill.md).",
         unset="no supply charge in the bill"),
    _Var("AMBER_SUBSCRIPTION", "subscription", _subscription,
         "Amber's membership fee in dollars per month incl. GST, pro-rated daily, dated the same way:"
         " `2024-01-01=25.00`.",
         unset="no subscription in the bill"),
    _Var("AMBER_BILL_DAY", "bill_day", parse_bill_day,
         "Day of the month (1-28) your billing periods start; bill_periods and `query bill` use it.",
         default="1"),
    _Var("AMBER_COMPARE_PLAN", "compare_plan", _compare_plan,
         "Path of a TOML file describing the plan to compare Amber with (flat or time-of-use rates, supply,"
         " feed-in, subscription, dated): compare_daily, `query compare`, the History panels (docs/compare.md).",
         unset="no comparison"),
    _Var("AMBER_LOADS", "loads", parse_loads,
         "Loads to plan for the cheapest hours ahead, separated by commas: a name, a duration, optionally"
         " `by HH:MM` (finish by, local), a power (`7kW`) and a channel (general, controlledLoad, or feedIn for"
         " the best hours to export), e.g. `dishwasher 2h, car 4h by 07:00 7kW, battery 2h feedIn`"
         " (amber_plan_* metrics, `query plan`).",
         unset="no plans"),
    _Var("DATABASE_PASSWORD", "database_password", _password,
         "Password for DATABASE_URL's user, when the URL has none (use DATABASE_PASSWORD_FILE with Docker"
         " secrets); any characters, no percent-encoding.",
         unset="the URL's own password, if any", secret=True),
    _Var("AMBER_WRITER_PASSWORD", "writer_password", _password,
         "Password that migrate sets on the loader's database role `amber_writer` (not a superuser).",
         unset="migrate sets none: the role cannot log in with a password", secret=True),
    _Var("AMBER_DEMO_API_BASE_URL", "demo_api_base_url", _http_url,
         "Where the demo's simulator answers (compose.yaml sets it). Used, with the simulator's key,"
         " when neither AMBER_API_KEY nor AMBER_API_BASE_URL is set.",
         unset="no demo: without a key, services stop with the fix"),
)
# fmt: on


@dataclass(frozen=True)
class Settings:
    """Validated configuration; build it with `Settings.from_env`. Optional values are None
    when unset. Secrets are `Secret`s, so printing a Settings never shows them."""

    api_key: Secret | None
    api_base_url: str
    database_url: Secret  # with DATABASE_PASSWORD applied
    database_password: Secret | None
    historical_start_date: date | None
    site_ids: tuple[str, ...] | None
    timezone: ZoneInfo
    log_level: str
    writer_password: Secret | None
    reader_password: Secret | None
    exporter_port: int
    exporter_host: str
    exporter_stale_seconds: float
    exporter_request_share: int
    alert_price_above: float  # c/kWh, as typed in .env; the exporter converts to $/kWh
    alert_feed_in_above: float  # c/kWh
    usage_refetch_days: int
    gap_heal_days: int
    apprise_urls: Secret | None
    apprise_config: Path | None
    alert_webhook_token: Secret | None
    alert_relay_host: str
    alert_relay_port: int
    mqtt_url: MqttBroker | None
    mqtt_username: str | None
    mqtt_password: Secret | None
    mqtt_topic_prefix: str
    mqtt_discovery_prefix: str
    supply_charge: tuple[DatedCharge, ...] | None  # c/day
    subscription: tuple[DatedCharge, ...] | None  # cents per month
    bill_day: int
    compare_plan: Plan | None
    loads: tuple[Load, ...] | None
    demo_api_base_url: str | None

    @property
    def has_api_key(self) -> bool:
        return self.api_key is not None

    @property
    def timezone_name(self) -> str:
        return self.timezone.key

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, now: datetime | None = None) -> Settings:
        """Validate `environ` (usually os.environ) and return Settings, or raise ConfigError
        listing every problem. `now` (timezone-aware) injects the clock for the future-date
        check; it defaults to the current time."""
        problems: list[str] = []
        values: dict[str, Any] = {}
        for var in _VARS:
            try:
                found = _lookup(var, environ)
            except ValueError as exc:
                problems.append(str(exc))
                continue
            if found is None:
                values[var.attr] = None if var.default is None else var.parse(var.default)
                continue
            raw, source = found
            try:
                values[var.attr] = var.parse(raw)
            except ValueError as exc:
                # A URL may carry a password even where the variable is not a secret (user:pw@host).
                shown = source if var.secret or not var.echo else f"{source}={_mask_userinfo(raw)!r}"
                problems.append(f"{shown}: {exc}")

        # "Today" is the local day where the sites are, not the server's UTC day.
        start = values.get("historical_start_date")
        if start is not None:
            zone = values.get("timezone", ZoneInfo(DEFAULT_TIMEZONE))  # absent if invalid
            today = (now or datetime.now(UTC)).astimezone(zone).date()
            if start > today:
                problems.append(
                    f"HISTORICAL_START_DATE={start.isoformat()!r}: is in the future"
                    f" (today is {today.isoformat()} in {zone.key}); use a past date or unset it"
                )

        # Mosquitto (and MQTT 3.1.1) accept a password only together with a user name.
        if values.get("mqtt_password") is not None and "mqtt_username" in values and values["mqtt_username"] is None:
            problems.append("MQTT_PASSWORD is set but MQTT_USERNAME is not; set the user the password belongs to")
        url, password = values.get("database_url"), values.get("database_password")
        if url is not None and password is not None:
            try:
                values["database_url"] = with_password(url, password)
            except ValueError as exc:
                problems.append(f"DATABASE_PASSWORD: {exc}")
        # Demo: no key and no chosen API -> the simulator (runtime.client.with_demo_key adds its key).
        chose_api = bool(environ.get("AMBER_API_BASE_URL", "").strip())
        if values.get("api_key") is None and values.get("demo_api_base_url") and not chose_api:
            values["api_base_url"] = values["demo_api_base_url"]

        if problems:
            raise ConfigError(problems)
        return cls(**values)


def _mask_userinfo(raw: str) -> str:
    return _USERINFO.sub(lambda m: m[1] + "***@", raw)


def with_password(url: Secret, password: Secret) -> Secret:
    """`url` with `password` percent-encoded into its user info (so the password may hold any character)."""
    parts = urlsplit(url.reveal())
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at or not userinfo:
        raise ValueError("DATABASE_URL names no user: put one in it, e.g. postgresql://amber_writer@host/amber")
    if ":" in userinfo:
        raise ValueError("DATABASE_URL has a password of its own; remove it from the URL or unset DATABASE_PASSWORD")
    netloc = f"{userinfo}:{quote(password.reveal(), safe='')}@{hostport}"
    return Secret(urlunsplit(parts._replace(netloc=netloc)))


def _lookup(var: _Var, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """Return (text, where it came from) for `var`, or None when unset. An empty value counts
    as unset, since Compose passes `VAR=` for `${VAR:-}`."""
    value = environ.get(var.name, "").strip()
    file_var = f"{var.name}_FILE"
    path = environ.get(file_var, "").strip() if var.secret else ""
    if not path:
        return (value, var.name) if value else None
    if value:
        raise ValueError(f"{var.name} and {file_var} are both set; set only one of them")
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(
            f"{file_var}={path!r}: cannot read the file ({exc.strerror});"
            " check the path and that the secret is mounted"
        ) from None
    except UnicodeDecodeError:  # its message would quote the file's bytes
        raise ValueError(f"{file_var}={path!r}: the file is not UTF-8 text") from None
    if not value:
        raise ValueError(f"{file_var}={path!r}: the file is empty; put the secret in it")
    return value, f"{var.name} (from {file_var})"


def load_settings(environ: Mapping[str, str] = os.environ) -> Settings | None:
    """For entry points: Settings, or None after printing every problem to stderr (the caller exits 2)."""
    try:
        return Settings.from_env(environ)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return None


def load_settings_or_exit(environ: Mapping[str, str] = os.environ) -> Settings:
    """For entry points: return Settings, or print every problem to stderr and exit with 2."""
    settings = load_settings(environ)
    if settings is None:
        raise SystemExit(2)
    return settings


def settings_table_markdown() -> str:
    """The Markdown table of every variable, as kept in docs/configuration.md."""
    rows = [("Variable", "Default", "Description"), ("---", "---", "---")]
    for var in _VARS:
        default = f"`{var.default}`" if var.default is not None else f"unset: {var.unset}"
        doc = var.doc + (" Secret: never printed." if var.secret else "")
        rows.append((f"`{var.name}`", default, doc))
        if var.secret:
            file_doc = (
                f"Path of a file holding `{var.name}` (Docker secret); surrounding whitespace"
                f" is stripped. Set this or `{var.name}`, not both."
            )
            rows.append((f"`{var.name}_FILE`", "unset", file_doc))
    return "".join(
        "| " + " | ".join(cell.replace("|", r"\|") for cell in row) + " |\n" for row in rows
    )


# Files that carry the generated table between BEGIN/END markers (tests/runtime/test_settings.py checks them).
DOCUMENTED_IN = ("docs/configuration.md", "README.md")


def write_settings_tables(repo: Path) -> None:
    """Replace the generated table in every file of DOCUMENTED_IN."""
    pattern = re.compile(r"(<!-- BEGIN generated[^\n]*-->\n).*?(<!-- END generated -->)", re.DOTALL)
    table = settings_table_markdown()
    for name in DOCUMENTED_IN:
        path = repo / name
        text = path.read_text(encoding="utf-8")
        path.write_text(pattern.sub(lambda m: m.group(1) + table + m.group(2), text), encoding="utf-8")


if __name__ == "__main__":
    # Regenerate the docs tables: uv run python -m runtime.settings --write (without --write: print the table)
    if sys.argv[1:] == ["--write"]:
        write_settings_tables(Path(__file__).resolve().parents[1])
    else:
        print(settings_table_markdown(), end="")
