"""amber.parse against the fixture contract and against the ways a response can go wrong."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import pytest

from amber import (
    AmberResponseError,
    ParseWarnings,
    parse_price_intervals,
    parse_renewables,
    parse_sites,
    parse_usage,
)
from amber.parse import BAD_OPTIONAL, EXTRA_FIELD, SKIPPED_ITEM, UNKNOWN_TYPE, UNKNOWN_VALUE

FIXTURES = Path(__file__).parents[1] / "fixtures" / "amber"
UTC = dt.UTC


def load(name: str):
    return json.loads((FIXTURES / name).read_text())


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


# --- the fixtures parse cleanly, into the values they contain ------------------------------------


@pytest.mark.parametrize(
    ("name", "parser"),
    [
        ("sites.json", parse_sites),
        ("prices_5min.json", parse_price_intervals),
        ("current_prices.json", parse_price_intervals),
        ("usage.json", parse_usage),
        ("renewables_current.json", parse_renewables),
    ],
)
def test_fixtures_parse_without_warnings(name, parser):
    data = load(name)
    warnings = ParseWarnings()
    items = parser(data, warnings=warnings)
    assert len(items) == len(data)
    assert list(warnings) == []
    for item, obj in zip(items, data, strict=True):
        assert item.raw is obj  # exactly as received, not a copy


def test_sites():
    sites = parse_sites(load("sites.json"))
    active, closed = sites
    assert active.id == "01F5A5CRKMZ5BCX9P1S4V990AM"
    assert active.nmi == "6407000000"
    assert active.network == "Jemena"
    assert active.status == "active"
    assert active.active_from == dt.date(2021, 3, 1)
    assert active.closed_on is None
    assert active.interval_length == 5
    assert [(c.identifier, c.type, c.tariff) for c in active.channels] == [
        ("E1", "general", "A100"),
        ("B1", "feedIn", "A100"),
    ]
    assert closed.status == "closed"
    assert closed.closed_on == dt.date(2021, 2, 28)
    assert closed.channels[1].type == "controlledLoad"
    assert closed.interval_length == 30


def test_price_intervals_of_each_kind_and_channel():
    intervals = parse_price_intervals(load("prices_5min.json"))
    kinds = [(i.interval_type, i.channel_type) for i in intervals]
    for kind in ("ActualInterval", "CurrentInterval", "ForecastInterval"):
        for channel in ("general", "feedIn"):
            assert (kind, channel) in kinds

    current = next(i for i in intervals if i.interval_type == "CurrentInterval" and i.channel_type == "general")
    assert current.duration == 5
    assert current.spot_per_kwh == pytest.approx(6.40122)
    assert current.per_kwh == pytest.approx(27.25134)
    assert current.date == dt.date(2021, 5, 5)
    assert current.start_time == utc(2021, 5, 5, 2, 25, 1)
    assert current.end_time == utc(2021, 5, 5, 2, 30)
    # nemTime "12:30+10:00" is the same instant as endTime, normalised to UTC.
    assert current.nem_time == current.end_time
    assert current.nem_time.utcoffset() == dt.timedelta(0)
    assert current.renewables == pytest.approx(46.0)
    assert current.spike_status == "none"
    assert current.descriptor == "low"
    assert current.estimate is True
    assert current.range is not None and (current.range.min, current.range.max) == (5.12, 8.97)
    assert current.advanced_price is not None and current.advanced_price.predicted == pytest.approx(27.25134)
    assert current.tariff_information is not None
    assert current.tariff_information.period == "solarSponge"
    assert current.tariff_information.season == "default"
    assert current.tariff_information.demand_window is False
    assert current.tariff_information.block is None

    actual = intervals[0]
    assert actual.interval_type == "ActualInterval"
    assert actual.estimate is None and actual.advanced_price is None and actual.range is None


def test_feed_in_prices_keep_their_sign():
    intervals = parse_price_intervals(load("prices_5min.json"))
    feed_in = [i for i in intervals if i.channel_type == "feedIn"]
    assert feed_in and all(i.per_kwh < 0 for i in feed_in)


def test_thirty_minute_intervals():
    intervals = parse_price_intervals(load("current_prices.json"), endpoint="current_prices")
    current = next(i for i in intervals if i.interval_type == "CurrentInterval")
    assert current.duration == 30
    assert current.start_time == utc(2021, 5, 5, 2, 0, 1)
    assert current.nem_time == utc(2021, 5, 5, 2, 30)


def test_usage_general_and_feed_in():
    rows = parse_usage(load("usage.json"))
    e1 = [r for r in rows if r.channel_identifier == "E1"]
    b1 = [r for r in rows if r.channel_identifier == "B1"]
    assert e1 and b1
    assert all(r.kwh > 0 and r.cost > 0 and r.channel_type == "general" for r in e1)
    assert all(r.kwh < 0 and r.cost < 0 and r.channel_type == "feedIn" for r in b1)
    assert b1[0].kwh == pytest.approx(-0.812)
    assert b1[0].cost == pytest.approx(-4.1347)
    assert {r.quality for r in rows} == {"billable", "estimated"}
    assert e1[0].start_time == utc(2021, 5, 5, 0, 30, 1)
    assert e1[0].duration == 30


def test_renewables():
    rows = parse_renewables(load("renewables_current.json"))
    assert [r.interval_type for r in rows] == [
        "ActualRenewable",
        "CurrentRenewable",
        "ForecastRenewable",
        "ForecastRenewable",
    ]
    assert rows[1].renewables == pytest.approx(45.9)
    assert rows[-1].descriptor == "great"
    assert rows[1].end_time == utc(2021, 5, 5, 2, 30)


def test_models_are_frozen_and_raw_is_not_compared():
    a, b = parse_price_intervals(load("prices_5min.json"))[:2]
    with pytest.raises(AttributeError):
        a.per_kwh = 0.0  # type: ignore[misc]
    twin = parse_price_intervals([dict(a.raw, ignored_extra=1)])[0]
    assert twin == a  # the extra field lives only in raw
    assert a != b


# --- leniency: keep what is new, report it -------------------------------------------------------


def test_unknown_enum_values_are_kept_and_reported():
    data = copy.deepcopy(load("prices_5min.json"))
    for obj in data:
        obj["descriptor"] = "ultraLow"
        obj["spikeStatus"] = "imminent"
        obj["channelType"] = "battery"
        obj["tariffInformation"]["period"] = "superOffPeak"
    warnings = ParseWarnings()
    intervals = parse_price_intervals(data, warnings=warnings)
    assert len(intervals) == len(data)
    assert {i.descriptor for i in intervals} == {"ultraLow"}
    assert {i.spike_status for i in intervals} == {"imminent"}
    assert {i.channel_type for i in intervals} == {"battery"}
    assert {i.tariff_information.period for i in intervals} == {"superOffPeak"}
    # one warning per interval per field, but one distinct warning per (field, value)
    assert len(warnings) == 4 * len(data)
    distinct = {(w.kind, w.field, w.value) for w in warnings.distinct()}
    assert distinct == {
        (UNKNOWN_VALUE, "descriptor", "ultraLow"),
        (UNKNOWN_VALUE, "spikeStatus", "imminent"),
        (UNKNOWN_VALUE, "channelType", "battery"),
        (UNKNOWN_VALUE, "tariffInformation.period", "superOffPeak"),
    }


def test_extra_fields_are_kept_in_raw_and_reported():
    data = copy.deepcopy(load("usage.json"))
    data[0]["carbonIntensity"] = 0.62
    data[0]["tariffInformation"]["tier"] = 3
    warnings = ParseWarnings()
    rows = parse_usage(data, warnings=warnings)
    assert rows[0].raw["carbonIntensity"] == 0.62
    assert {(w.kind, w.field) for w in warnings} == {
        (EXTRA_FIELD, "carbonIntensity"),
        (EXTRA_FIELD, "tariffInformation.tier"),
    }
    assert all(w.where == "usage item 0" for w in warnings)


def test_unknown_interval_type_is_kept():
    data = copy.deepcopy(load("prices_5min.json"))
    data[0]["type"] = "PredictedInterval"
    warnings = ParseWarnings()
    intervals = parse_price_intervals(data, warnings=warnings)
    assert len(intervals) == len(data)
    assert intervals[0].interval_type == "PredictedInterval"
    assert [(w.kind, w.value) for w in warnings] == [(UNKNOWN_TYPE, "PredictedInterval")]


def test_unreadable_item_of_unknown_type_is_skipped_not_fatal():
    data = copy.deepcopy(load("prices_5min.json"))
    data.insert(2, {"type": "MarketNotice", "text": "Lack of reserve in SA"})
    warnings = ParseWarnings()
    intervals = parse_price_intervals(data, warnings=warnings)
    assert len(intervals) == len(data) - 1
    assert SKIPPED_ITEM in {w.kind for w in warnings}
    skipped = next(w for w in warnings if w.kind == SKIPPED_ITEM)
    assert skipped.value == "MarketNotice" and skipped.where == "prices item 2"


def test_ill_typed_optional_field_is_reported_and_read_as_missing():
    data = copy.deepcopy(load("current_prices.json"))
    data[1]["estimate"] = "yes"
    data[1]["advancedPrice"] = [1, 2, 3]
    warnings = ParseWarnings()
    interval = parse_price_intervals(data, warnings=warnings)[1]
    assert interval.estimate is None and interval.advanced_price is None
    assert {(w.kind, w.field) for w in warnings} == {(BAD_OPTIONAL, "estimate"), (BAD_OPTIONAL, "advancedPrice")}


def test_optional_fields_may_be_absent_or_null():
    data = copy.deepcopy(load("prices_5min.json"))[:1]
    del data[0]["tariffInformation"]
    sites = copy.deepcopy(load("sites.json"))
    del sites[0]["intervalLength"]
    del sites[0]["activeFrom"]
    sites[0]["channels"][0]["tariff"] = None
    assert parse_price_intervals(data)[0].tariff_information is None
    site = parse_sites(sites)[0]
    assert (site.interval_length, site.active_from, site.channels[0].tariff) == (None, None, None)


def test_integral_float_duration_is_accepted():
    data = copy.deepcopy(load("renewables_current.json"))
    data[0]["duration"] = 30.0
    assert parse_renewables(data)[0].duration == 30


# --- strictness: required fields ------------------------------------------------------------------


@pytest.mark.parametrize(
    "field",
    [
        "perKwh",
        "spotPerKwh",
        "startTime",
        "endTime",
        "nemTime",
        "date",
        "duration",
        "channelType",
        "descriptor",
        "spikeStatus",
        "renewables",
        "type",
    ],
)
def test_missing_required_price_field_names_field_and_endpoint(field):
    data = copy.deepcopy(load("prices_5min.json"))
    del data[3][field]
    with pytest.raises(AmberResponseError) as info:
        parse_price_intervals(data, endpoint="prices")
    assert info.value.field == field
    assert info.value.endpoint == "prices"
    assert f"'{field}'" in str(info.value)
    assert "item 3" in str(info.value)
    assert "prices" in str(info.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("perKwh", "24.3"),
        ("perKwh", True),
        ("duration", "5"),
        ("duration", 5.5),
        ("startTime", "yesterday"),
        ("startTime", "2021-05-05T02:25:01"),  # naive: NEM or UTC? refuse to guess
        ("date", "05/05/2021"),
        ("descriptor", 3),
        ("kwh", None),
        ("channelIdentifier", 1),
    ],
)
def test_ill_typed_required_usage_field_raises(field, value):
    data = copy.deepcopy(load("usage.json"))
    data[4][field] = value
    with pytest.raises(AmberResponseError) as info:
        parse_usage(data)
    assert info.value.field == field
    assert "item 4" in str(info.value)


def test_nested_required_field():
    data = copy.deepcopy(load("current_prices.json"))
    del data[1]["advancedPrice"]["predicted"]
    with pytest.raises(AmberResponseError) as info:
        parse_price_intervals(data)
    assert info.value.field == "advancedPrice.predicted"


def test_site_channel_field():
    sites = copy.deepcopy(load("sites.json"))
    del sites[1]["channels"][1]["identifier"]
    with pytest.raises(AmberResponseError) as info:
        parse_sites(sites)
    assert info.value.field == "channels[1].identifier"
    assert "item 1" in str(info.value)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"message": "hello"}, "an object, expected an array"),
        (None, "null, expected an array"),
        ("[]", "a str, expected an array"),
    ],
)
def test_wrong_top_level_shape(data, expected):
    with pytest.raises(AmberResponseError, match=expected):
        parse_sites(data)


def test_item_that_is_not_an_object():
    with pytest.raises(AmberResponseError, match="item 0: item is an array"):
        parse_usage([[1, 2]])


def test_channels_must_be_a_list():
    sites = copy.deepcopy(load("sites.json"))
    sites[0]["channels"] = {"E1": "general"}
    with pytest.raises(AmberResponseError) as info:
        parse_sites(sites)
    assert info.value.field == "channels"
