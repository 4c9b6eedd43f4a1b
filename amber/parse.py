"""Turn decoded Amber JSON into models. Pure: no I/O, no logging.

Lenient where the API may grow, strict where the data would be meaningless:
- unknown enum values, extra fields and unknown interval types are kept and reported to a
  `ParseWarnings` collector (the client logs each distinct one once);
- an optional field of the wrong type is reported and read as None (`raw` still has it);
- a missing or ill-typed required field raises AmberResponseError naming the field and endpoint.
  An item of an unknown `type` that cannot be read is skipped with a warning instead, so one new
  kind of object never sinks the batch;
- an interval whose data is impossible is dropped with a DROPPED_INTERVAL warning, the rest of the
  batch kept: a number that is not finite anywhere in it (NaN, Infinity, 1e400: JSON parsers accept
  them, PostgreSQL's jsonb and numeric columns do not), endTime not after startTime, or a duration
  outside 1..MAX_DURATION_MINUTES (the database keeps it in a smallint). One bad interval must never
  stop a backfill or the stack.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, NoReturn, TypeVar, overload

from amber.errors import AmberResponseError
from amber.models import (
    CHANNEL_TYPES,
    INTERVAL_TYPES,
    PRICE_DESCRIPTORS,
    RENEWABLE_DESCRIPTORS,
    RENEWABLE_TYPES,
    RESOLUTIONS,
    SITE_STATUSES,
    SPIKE_STATUSES,
    TARIFF_PERIODS,
    TARIFF_SEASONS,
    USAGE_QUALITIES,
    USAGE_TYPE,
    AdvancedPrice,
    Channel,
    PriceInterval,
    Range,
    Renewable,
    Site,
    TariffInformation,
    Usage,
)

T = TypeVar("T")

# Warning kinds.
UNKNOWN_VALUE = "unknown_value"
UNKNOWN_TYPE = "unknown_type"
EXTRA_FIELD = "extra_field"
BAD_OPTIONAL = "bad_optional"
SKIPPED_ITEM = "skipped_item"
DROPPED_INTERVAL = "dropped_interval"

MAX_DURATION_MINUTES = 32767  # smallint in the database; Amber's are 5 and 30


@dataclass(frozen=True, slots=True)
class ParseWarning:
    kind: str  # one of the kinds above
    field: str  # dotted field path, e.g. "descriptor" or "tariffInformation.period"
    value: Any  # the offending JSON value; None for extra fields (their content may be large)
    where: str  # endpoint and item, e.g. "prices item 3"

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity for "report once": the same field with the same value is one warning."""
        return (self.kind, self.field, repr(self.value))


class ParseWarnings:
    """Collects warnings from one or more parse calls."""

    def __init__(self) -> None:
        self._items: list[ParseWarning] = []

    def add(self, kind: str, field: str, value: Any, where: str) -> None:
        self._items.append(ParseWarning(kind, field, value, where))

    def distinct(self) -> list[ParseWarning]:
        """First occurrence of each (kind, field, value), in order."""
        seen: dict[tuple[str, str, str], ParseWarning] = {}
        for item in self._items:
            seen.setdefault(item.key, item)
        return list(seen.values())

    def __iter__(self) -> Iterator[ParseWarning]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


_MISSING = object()


class _Reader:
    """Typed access to one JSON object, raising or warning with the field's full path."""

    def __init__(self, obj: Any, *, endpoint: str, where: str, warnings: ParseWarnings, prefix: str = "") -> None:
        self.endpoint = endpoint
        self.where = where
        self.warnings = warnings
        self.prefix = prefix
        if not isinstance(obj, dict):
            what = f"field {prefix[:-1]!r}" if prefix else "item"
            self.fail(f"{what} is {_json_kind(obj)}, expected an object", prefix[:-1] or None)
        self.obj: dict = obj

    def fail(self, problem: str, field: str | None) -> NoReturn:
        raise AmberResponseError(
            f"Amber {self.endpoint} response: {self.where}: {problem}", endpoint=self.endpoint, field=field
        )

    def warn(self, kind: str, field: str, value: Any) -> None:
        self.warnings.add(kind, field, value, f"{self.endpoint} {self.where}")

    def check_known(self, known: frozenset[str]) -> None:
        for name in self.obj:
            if name not in known:
                self.warn(EXTRA_FIELD, self.prefix + name, None)

    def _get(self, name: str, expected: str, convert: Callable[[Any], T | None], required: bool) -> T | None:
        path = self.prefix + name
        value = self.obj.get(name, _MISSING)
        if value is _MISSING or value is None:
            if required:
                state = "missing" if value is _MISSING else "null"
                self.fail(f"required field {path!r} is {state}", path)
            return None
        result = convert(value)
        if result is None:
            if required:
                self.fail(f"field {path!r} is {_describe(value)}, expected {expected}", path)
            self.warn(BAD_OPTIONAL, path, value)
        return result

    # A required field returns its value or raises, an optional one may return None: the overloads tell
    # the type checker which, from the literal `required=` of each call.

    @overload
    def text(self, name: str, *, required: Literal[True] = ...) -> str: ...
    @overload
    def text(self, name: str, *, required: Literal[False]) -> str | None: ...
    def text(self, name: str, *, required: bool = True) -> str | None:
        return self._get(name, "a string", _as_str, required)

    @overload
    def enum(self, name: str, known: frozenset[str], *, required: Literal[True] = ...) -> str: ...
    @overload
    def enum(self, name: str, known: frozenset[str], *, required: Literal[False]) -> str | None: ...
    def enum(self, name: str, known: frozenset[str], *, required: bool = True) -> str | None:
        value = self._get(name, "a string", _as_str, required)
        if value is not None and value not in known:
            self.warn(UNKNOWN_VALUE, self.prefix + name, value)
        return value

    @overload
    def number(self, name: str, *, required: Literal[True] = ...) -> float: ...
    @overload
    def number(self, name: str, *, required: Literal[False]) -> float | None: ...
    def number(self, name: str, *, required: bool = True) -> float | None:
        return self._get(name, "a number", _as_float, required)

    @overload
    def integer(self, name: str, *, required: Literal[True] = ...) -> int: ...
    @overload
    def integer(self, name: str, *, required: Literal[False]) -> int | None: ...
    def integer(self, name: str, *, required: bool = True) -> int | None:
        return self._get(name, "an integer", _as_int, required)

    @overload
    def flag(self, name: str, *, required: Literal[True] = ...) -> bool: ...
    @overload
    def flag(self, name: str, *, required: Literal[False]) -> bool | None: ...
    def flag(self, name: str, *, required: bool = True) -> bool | None:
        return self._get(name, "true or false", _as_bool, required)

    @overload
    def day(self, name: str, *, required: Literal[True] = ...) -> dt.date: ...
    @overload
    def day(self, name: str, *, required: Literal[False]) -> dt.date | None: ...
    def day(self, name: str, *, required: bool = True) -> dt.date | None:
        return self._get(name, "an ISO 8601 date", _as_date, required)

    @overload
    def instant(self, name: str, *, required: Literal[True] = ...) -> dt.datetime: ...
    @overload
    def instant(self, name: str, *, required: Literal[False]) -> dt.datetime | None: ...
    def instant(self, name: str, *, required: bool = True) -> dt.datetime | None:
        return self._get(name, "an ISO 8601 datetime with offset", _as_utc_datetime, required)

    def nested(self, name: str) -> _Reader | None:
        """Optional nested object; a non-object is reported and treated as absent."""
        value = self.obj.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.warn(BAD_OPTIONAL, self.prefix + name, value)
            return None
        return _Reader(
            value, endpoint=self.endpoint, where=self.where, warnings=self.warnings, prefix=f"{self.prefix}{name}."
        )


# Converters return None for a value of the wrong type.
def _as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _as_float(value: Any) -> float | None:
    # bool is an int subclass; true is not a price. NaN and infinities are no amounts either.
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _as_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _as_date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _as_utc_datetime(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    # A naive time is ambiguous across NEM time and UTC; refuse rather than guess.
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(dt.UTC)


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{_json_kind(value)} {text[:60]}" if not isinstance(value, (dict, list)) else _json_kind(value)


def _items(data: Any, endpoint: str) -> list[Any]:
    if not isinstance(data, list):
        raise AmberResponseError(
            f"Amber {endpoint} response is {_json_kind(data)}, expected an array", endpoint=endpoint
        )
    return data


def _parse_list(
    data: Any,
    endpoint: str,
    warnings: ParseWarnings | None,
    parse_one: Callable[[_Reader], T],
    known_types: frozenset[str],
) -> list[T]:
    sink = warnings if warnings is not None else ParseWarnings()
    result: list[T] = []
    for index, obj in enumerate(_items(data, endpoint)):
        reader = _Reader(obj, endpoint=endpoint, where=f"item {index}", warnings=sink)
        if (path := _non_finite(obj)) is not None:
            reader.warn(DROPPED_INTERVAL, path, "not a finite number")
            continue
        kind = reader.text("type")
        if kind in known_types:
            item = parse_one(reader)
        else:
            reader.warn(UNKNOWN_TYPE, "type", kind)
            try:
                item = parse_one(reader)
            except AmberResponseError as exc:
                reader.warn(SKIPPED_ITEM, exc.field or "type", kind)
                continue
        if (problem := _impossible(item)) is not None:
            reader.warn(DROPPED_INTERVAL, *problem)
            continue
        result.append(item)
    return result


def _non_finite(value: Any, path: str = "") -> str | None:
    """The path of the first number in `value` that is not finite (NaN, ±Infinity, 1e400), else None."""
    if isinstance(value, float) and not math.isfinite(value):
        return path or "(item)"
    if isinstance(value, dict):
        items = ((f"{path}.{k}" if path else str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for sub_path, sub in items:
        if (found := _non_finite(sub, sub_path)) is not None:
            return found
    return None


def _impossible(item: Any) -> tuple[str, str] | None:
    """(field, reason) when an interval cannot be stored as it is, else None."""
    start, end = getattr(item, "start_time", None), getattr(item, "end_time", None)
    if start is not None and end is not None and end <= start:
        return "endTime", "not after startTime"
    duration = getattr(item, "duration", None)
    if duration is not None and not 1 <= duration <= MAX_DURATION_MINUTES:
        return "duration", f"outside 1..{MAX_DURATION_MINUTES} minutes"
    return None


# --- interval pieces -------------------------------------------------------------------------------

_BASE_FIELDS = frozenset({"type", "duration", "date", "nemTime", "startTime", "endTime", "renewables", "descriptor"})
_PRICE_FIELDS = _BASE_FIELDS | {"spotPerKwh", "perKwh", "channelType", "tariffInformation", "spikeStatus"}
_INTERVAL_FIELDS = _PRICE_FIELDS | {"estimate", "range", "advancedPrice"}
_USAGE_FIELDS = _PRICE_FIELDS | {"channelIdentifier", "kwh", "quality", "cost"}


def _tariff(reader: _Reader) -> TariffInformation | None:
    sub = reader.nested("tariffInformation")
    if sub is None:
        return None
    sub.check_known(frozenset({"period", "season", "block", "demandWindow"}))
    return TariffInformation(
        period=sub.enum("period", TARIFF_PERIODS, required=False),
        season=sub.enum("season", TARIFF_SEASONS, required=False),
        block=sub.number("block", required=False),
        demand_window=sub.flag("demandWindow", required=False),
    )


def _range(reader: _Reader) -> Range | None:
    sub = reader.nested("range")
    if sub is None:
        return None
    sub.check_known(frozenset({"min", "max"}))
    return Range(min=sub.number("min"), max=sub.number("max"))


def _advanced_price(reader: _Reader) -> AdvancedPrice | None:
    sub = reader.nested("advancedPrice")
    if sub is None:
        return None
    sub.check_known(frozenset({"low", "predicted", "high"}))
    return AdvancedPrice(low=sub.number("low"), predicted=sub.number("predicted"), high=sub.number("high"))


def _price_fields(r: _Reader) -> dict[str, Any]:
    """Fields shared by price intervals and usage."""
    return {
        "duration": r.integer("duration"),
        "spot_per_kwh": r.number("spotPerKwh"),
        "per_kwh": r.number("perKwh"),
        "date": r.day("date"),
        "nem_time": r.instant("nemTime"),
        "start_time": r.instant("startTime"),
        "end_time": r.instant("endTime"),
        "renewables": r.number("renewables"),
        "channel_type": r.enum("channelType", CHANNEL_TYPES),
        "spike_status": r.enum("spikeStatus", SPIKE_STATUSES),
        "descriptor": r.enum("descriptor", PRICE_DESCRIPTORS),
        "tariff_information": _tariff(r),
    }


def _price_interval(r: _Reader) -> PriceInterval:
    r.check_known(_INTERVAL_FIELDS)
    return PriceInterval(
        interval_type=r.text("type"),
        **_price_fields(r),
        estimate=r.flag("estimate", required=False),
        range=_range(r),
        advanced_price=_advanced_price(r),
        raw=r.obj,
    )


def _usage(r: _Reader) -> Usage:
    r.check_known(_USAGE_FIELDS)
    return Usage(
        channel_identifier=r.text("channelIdentifier"),
        kwh=r.number("kwh"),
        quality=r.enum("quality", USAGE_QUALITIES),
        cost=r.number("cost"),
        **_price_fields(r),
        raw=r.obj,
    )


def _renewable(r: _Reader) -> Renewable:
    r.check_known(_BASE_FIELDS)
    return Renewable(
        interval_type=r.text("type"),
        duration=r.integer("duration"),
        date=r.day("date"),
        nem_time=r.instant("nemTime"),
        start_time=r.instant("startTime"),
        end_time=r.instant("endTime"),
        renewables=r.number("renewables"),
        descriptor=r.enum("descriptor", RENEWABLE_DESCRIPTORS),
        raw=r.obj,
    )


def _channel(r: _Reader) -> Channel:
    r.check_known(frozenset({"identifier", "type", "tariff"}))
    return Channel(
        identifier=r.text("identifier"),
        type=r.enum("type", CHANNEL_TYPES),
        tariff=r.text("tariff", required=False),
    )


def _site(r: _Reader) -> Site:
    r.check_known(frozenset({"id", "nmi", "channels", "network", "status", "activeFrom", "closedOn", "intervalLength"}))
    channels_json = r.obj.get("channels")
    if not isinstance(channels_json, list):
        state = "missing" if "channels" not in r.obj else f"{_json_kind(channels_json)}, expected an array"
        r.fail(f"required field 'channels' is {state}", "channels")
    channels = tuple(
        _channel(_Reader(c, endpoint=r.endpoint, where=r.where, warnings=r.warnings, prefix=f"channels[{i}]."))
        for i, c in enumerate(channels_json)
    )
    interval_length = r.integer("intervalLength", required=False)
    if interval_length is not None and interval_length not in RESOLUTIONS:
        r.warn(UNKNOWN_VALUE, "intervalLength", interval_length)
    return Site(
        id=r.text("id"),
        nmi=r.text("nmi"),
        channels=channels,
        network=r.text("network"),
        status=r.enum("status", SITE_STATUSES),
        active_from=r.day("activeFrom", required=False),
        closed_on=r.day("closedOn", required=False),
        interval_length=interval_length,
        raw=r.obj,
    )


# --- public entry points ---------------------------------------------------------------------------


def parse_sites(data: Any, *, endpoint: str = "sites", warnings: ParseWarnings | None = None) -> list[Site]:
    """`GET /sites` body -> sites. Sites have no `type`, so none is ever skipped."""
    sink = warnings if warnings is not None else ParseWarnings()
    return [
        _site(_Reader(obj, endpoint=endpoint, where=f"item {i}", warnings=sink))
        for i, obj in enumerate(_items(data, endpoint))
    ]


def parse_price_intervals(
    data: Any, *, endpoint: str = "prices", warnings: ParseWarnings | None = None
) -> list[PriceInterval]:
    """`/prices` or `/prices/current` body -> intervals, in the API's order."""
    return _parse_list(data, endpoint, warnings, _price_interval, INTERVAL_TYPES)


def parse_usage(data: Any, *, endpoint: str = "usage", warnings: ParseWarnings | None = None) -> list[Usage]:
    """`/usage` body -> usage rows, in the API's order."""
    return _parse_list(data, endpoint, warnings, _usage, frozenset({USAGE_TYPE}))


def parse_renewables(
    data: Any, *, endpoint: str = "current_renewables", warnings: ParseWarnings | None = None
) -> list[Renewable]:
    """`/state/{state}/renewables/current` body -> renewables intervals."""
    return _parse_list(data, endpoint, warnings, _renewable, RENEWABLE_TYPES)
