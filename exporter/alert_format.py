"""Alertmanager webhook payloads to short phone notifications. Pure: no I/O, no logging.

`parse_payload(body)` validates Alertmanager's webhook JSON (version 4) into `Alert`s, raising
`PayloadError` with a one-line reason; `format_alert(alert, tz)` turns one alert into a
`Notification(title, body, notify_type)` for Apprise. exporter/alerts.py does the I/O.

The rules in prometheus/rules/*.rules.yml write these annotations (all optional here):
  title, emoji      "Price spike", "⚡"            -> "⚡ Price spike — 187.3 c/kWh"
  price_c_per_kwh   the price the alert is about, already in c/kWh
  summary, description, runbook                    -> body, "What to do: …"
  time_unix, time_label                            the moment the alert is about, in Unix seconds
Prometheus templates have no time zone, so descriptions print that moment as "HH:MM UTC"; here it is
rewritten to local time (AMBER_TIMEZONE), or added as its own line when the text does not show it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, NamedTuple

__all__ = ["Alert", "Notification", "PayloadError", "format_alert", "parse_payload"]

# Apprise NotifyType values, kept as plain strings so this module needs no Apprise import.
SEVERITY_TYPES = {"critical": "failure", "warning": "warning", "info": "info"}
SEVERITY_EMOJI = {"critical": "🚨", "warning": "⚠️", "info": "ℹ️"}
RESOLVED_TYPE = "success"
DEFAULT_TYPE = "warning"  # an unknown or missing severity still reaches the user


class PayloadError(ValueError):
    """The body is not an Alertmanager webhook payload; the message is one line, safe to return."""


class Notification(NamedTuple):
    title: str
    body: str
    notify_type: str  # Apprise NotifyType value: info, success, warning or failure


@dataclass(frozen=True)
class Alert:
    status: str  # firing or resolved
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    fingerprint: str = ""  # Alertmanager's hash of the labels; "" when the payload has none

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def key(self) -> tuple:
        """Same for the same alert episode in the same state: a retried webhook repeats it exactly."""
        identity = self.fingerprint or tuple(sorted(self.labels.items()))
        return identity, self.status, self.starts_at


def parse_payload(body: bytes) -> list[Alert]:
    """Validate an Alertmanager webhook body (version 4) and return its alerts."""
    try:
        # Decode first: json.loads(bytes) would guess UTF-16/32 from the first bytes.
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise PayloadError("body is not UTF-8 JSON") from None
    except RecursionError:  # [[[[…]]]] deeper than the interpreter's stack
        raise PayloadError("body is not a webhook payload (JSON nested too deeply)") from None
    except json.JSONDecodeError as exc:
        raise PayloadError(f"body is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(data, dict):
        raise PayloadError("body must be a JSON object (an Alertmanager webhook payload)")
    if data.get("version") != "4":
        raise PayloadError(
            f'unsupported payload version {_short(data.get("version"))}; expected "4" (Alertmanager webhook)'
        )
    alerts = data.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadError('"alerts" must be a list')
    return [_parse_alert(i, raw) for i, raw in enumerate(alerts)]


def _parse_alert(index: int, raw: Any) -> Alert:
    where = f"alerts[{index}]"
    if not isinstance(raw, dict):
        raise PayloadError(f"{where} must be an object")
    status = raw.get("status")
    if status not in ("firing", "resolved"):
        raise PayloadError(f'{where}.status must be "firing" or "resolved", not {_short(status)}')
    return Alert(
        status=status,
        labels=_str_map(raw.get("labels"), f"{where}.labels", required=True),
        annotations=_str_map(raw.get("annotations", {}), f"{where}.annotations", required=False),
        # Lenient: a time we cannot read only drops a line from the message.
        starts_at=_parse_time(raw.get("startsAt")),
        ends_at=_parse_time(raw.get("endsAt")),
        fingerprint=raw["fingerprint"] if isinstance(raw.get("fingerprint"), str) else "",
    )


def _str_map(value: Any, where: str, *, required: bool) -> dict[str, str]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise PayloadError(f"{where} must be an object of strings")
    return value


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    # Alertmanager's "no time" is 0001-01-01T00:00:00Z; naive times are not RFC 3339.
    if parsed.tzinfo is None or parsed.year < 1970:
        return None
    return parsed


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True) if value is not None else "none"
    return text if len(text) <= 40 else text[:37] + "..."


def format_alert(alert: Alert, tz: tzinfo) -> Notification:
    """Title, body and Apprise type for one alert; `tz` is the user's zone (AMBER_TIMEZONE)."""
    ann = alert.annotations
    name = ann.get("title") or _title_from_alertname(alert.name)
    moment = _annotation_time(ann)
    if alert.status == "resolved":
        lines = []
        if alert.ends_at:
            ended = f"Ended {_local(alert.ends_at, tz)}"
            if alert.starts_at:
                ended += f"; started {_local(alert.starts_at, tz, date=False)}"
            lines.append(ended + ".")
        if summary := ann.get("summary"):
            lines.append(f"Was: {_localize(summary, moment, tz)[0]}")
        return Notification(f"✅ Resolved: {name}", "\n".join(lines), RESOLVED_TYPE)

    severity = alert.labels.get("severity", "")
    title = f"{ann.get('emoji') or SEVERITY_EMOJI.get(severity, '🔔')} {name}"
    if price := ann.get("price_c_per_kwh"):
        title += f" — {price} c/kWh"
    text, shown = _localize(ann.get("description") or ann.get("summary") or name, moment, tz)
    lines = [text]
    if moment and not shown:
        label = ann.get("time_label") or "at"
        lines.append(f"{label[:1].upper()}{label[1:]}: {_local(moment, tz)}.")
    elif not moment and alert.starts_at:
        lines.append(f"Since {_local(alert.starts_at, tz)}.")
    if runbook := ann.get("runbook"):
        lines.append(f"What to do: {runbook}")
    return Notification(title, "\n".join(lines), SEVERITY_TYPES.get(severity, DEFAULT_TYPE))


def _title_from_alertname(alertname: str) -> str:
    # AmberPriceSpike -> "Price spike"
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+", alertname.removeprefix("Amber"))
    if not words:
        return alertname or "Alert"
    return " ".join([words[0]] + [w if w.isupper() else w.lower() for w in words[1:]])


def _annotation_time(ann: Mapping[str, str]) -> datetime | None:
    try:
        seconds = float(ann.get("time_unix", ""))
        return datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _localize(text: str, moment: datetime | None, tz: tzinfo) -> tuple[str, bool]:
    """Rewrite the rules' "HH:MM UTC" rendering of `moment` into local time; report whether it was there."""
    if moment is None:
        return text, False
    utc = f"{moment:%H:%M} UTC"
    if utc not in text:
        return text, False
    return text.replace(utc, _local(moment, tz, date=False)), True


def _local(moment: datetime, tz: tzinfo, *, date: bool = True) -> str:
    # "15:30 AEST, Sat 1 Jun": the zone abbreviation shows daylight saving, the date helps overnight.
    local = moment.astimezone(tz)
    text = f"{local:%H:%M} {local.tzname()}"
    return f"{text}, {local:%a} {local.day} {local:%b}" if date else text
