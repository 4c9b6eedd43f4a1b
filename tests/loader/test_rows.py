"""loader.rows: models to row tuples — alignment, exact decimals, column order, raw passed through."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from amber.models import ACTUAL_INTERVAL, CURRENT_INTERVAL, FORECAST_INTERVAL
from loader import rows as R
from tests.loader import T0, parse_prices, parse_site, parse_usages, price_item, site_item, usage_item

FETCHED = dt.datetime(2025, 1, 15, 0, 7, 3, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "value, text",
    [(26.60356, "26.60356"), (0.1, "0.1"), (-0.0123, "-0.0123"), (10.78286, "10.78286"), (1e-05, "0.00001"),
     (45.0, "45.0"), (7, "7"), (123456.123456, "123456.123456")],
)
def test_exact_keeps_the_decimal_the_api_sent(value, text):
    got = R.exact(value)
    assert isinstance(got, str) and Decimal(got) == Decimal(text)  # e.g. "1e-05": PostgreSQL reads it as 0.00001


def test_exact_is_not_the_binary_expansion():
    assert Decimal(R.exact(0.1)) == Decimal("0.1") != Decimal(0.1)  # noqa: RUF032 - the point of the test


def test_exact_of_json_numbers_round_trips_through_repr():
    # What the parser sees: json.loads floats. The Decimal equals the JSON text for typical API values.
    for text in ("26.60356", "-5.52356", "0.30000", "0.1", "1234.56789", "-0.00001", "99.99999", "10.782863"):
        assert Decimal(R.exact(json.loads(text))) == Decimal(text)
    assert R.exact(None) is None
    assert R.exact(Decimal("1.50")) == "1.50"


def test_price_row_columns_in_order():
    (interval,) = parse_prices(
        price_item(T0, type=CURRENT_INTERVAL, per_kwh=26.60356, spot_per_kwh=5.81233, renewables=45.1,
                   tariff={"period": "peak", "season": "summer", "block": 2, "demandWindow": True},
                   advanced=(24.663, 27.063, 33.263), price_range=(20.1, 30.2))
    )
    row = R.price_row("site", interval, FETCHED)
    assert len(row) == len(R.PRICE_COLUMNS)
    got = dict(zip(R.PRICE_COLUMNS, row, strict=True))
    assert got == {
        "site_id": "site",
        "channel_type": "general",
        "interval_start": T0,
        "interval_end": T0 + dt.timedelta(minutes=5),
        "nem_time": T0 + dt.timedelta(minutes=5),
        "nem_date": dt.date(2025, 1, 15),
        "duration_minutes": 5,
        "per_kwh": "26.60356",
        "spot_per_kwh": "5.81233",
        "renewables": "45.1",
        "descriptor": "low",
        "spike_status": "none",
        "estimate": True,
        "interval_type": CURRENT_INTERVAL,
        "tariff_period": "peak",
        "tariff_season": "summer",
        "tariff_block": "2.0",
        "demand_window": True,
        "advanced_price_low": "24.663",
        "advanced_price_predicted": "27.063",
        "advanced_price_high": "33.263",
        "range_min": "20.1",
        "range_max": "30.2",
        "raw": interval.raw,
        "fetched_at": FETCHED,
    }
    assert got["raw"] is interval.raw


def test_price_row_without_optional_parts():
    item = price_item(T0, tariff={})
    del item["tariffInformation"]
    (interval,) = parse_prices(item)
    got = dict(zip(R.PRICE_COLUMNS, R.price_row("s", interval, FETCHED), strict=True))
    for column in ("estimate", "tariff_period", "tariff_season", "tariff_block", "demand_window",
                   "advanced_price_low", "advanced_price_predicted", "advanced_price_high", "range_min", "range_max"):
        assert got[column] is None, column


def test_nem_time_and_date_are_stored_as_given():
    # An interval ending at 00:00 NEM time belongs to the previous NEM date; nem_time stays the API's instant.
    start = dt.datetime(2025, 1, 15, 13, 55, tzinfo=dt.UTC)  # 23:55 NEM
    (interval,) = parse_prices(price_item(start))
    got = dict(zip(R.PRICE_COLUMNS, R.price_row("s", interval, FETCHED), strict=True))
    assert got["nem_date"] == dt.date(2025, 1, 15)
    assert got["nem_time"] == dt.datetime(2025, 1, 16, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=10)))
    assert got["interval_end"] == got["nem_time"]


def test_values_are_rows_without_the_batch_constants():
    (interval,) = parse_prices(price_item(T0, type=CURRENT_INTERVAL, advanced=(1.5, 2.5, 3.5)))
    (usage,) = parse_usages(usage_item(T0))
    for values, row, value_columns, columns in (
        (R.price_values(interval), R.price_row("s", interval, FETCHED), R.PRICE_VALUE_COLUMNS, R.PRICE_COLUMNS),
        (R.forecast_values(interval), R.forecast_row("s", interval, FETCHED), R.FORECAST_VALUE_COLUMNS,
         R.FORECAST_COLUMNS),
        (R.usage_values(usage), R.usage_row("s", usage, FETCHED), R.USAGE_VALUE_COLUMNS, R.USAGE_COLUMNS),
    ):  # fmt: skip
        full = dict(zip(columns, row, strict=True))
        assert dict(zip(value_columns, values, strict=True)) == {c: full[c] for c in value_columns}
        assert set(columns) - set(value_columns) <= {"site_id", "fetched_at", "issued_at"}


def test_forecast_row_has_issued_at_and_no_horizon():
    (interval,) = parse_prices(price_item(T0, type=FORECAST_INTERVAL, advanced=(1.5, 2.5, 3.5)))
    row = R.forecast_row("s", interval, FETCHED)
    assert "horizon_minutes" not in R.FORECAST_COLUMNS
    got = dict(zip(R.FORECAST_COLUMNS, row, strict=True))
    assert got["issued_at"] == FETCHED
    assert got["interval_start"] == T0
    assert got["advanced_price_predicted"] == "2.5"
    assert got["raw"] is interval.raw


def test_usage_row_keeps_cost_decimals():
    (usage,) = parse_usages(usage_item(T0, identifier="B1", channel="feedIn", kwh=-0.0177, cost=-0.123456, quality="estimated"))
    got = dict(zip(R.USAGE_COLUMNS, R.usage_row("s", usage, FETCHED), strict=True))
    assert got["channel_identifier"] == "B1"
    assert got["channel_type"] == "feedIn"
    assert got["kwh"] == "-0.0177"
    assert got["cost"] == "-0.123456"
    assert got["quality"] == "estimated"
    assert got["interval_start"] == T0
    assert got["interval_end"] == T0 + dt.timedelta(minutes=30)
    assert got["duration_minutes"] == 30
    assert got["fetched_at"] == FETCHED
    assert got["raw"] is usage.raw


def test_price_rank_and_forecast_split():
    assert R.price_rank(ACTUAL_INTERVAL) > R.price_rank(CURRENT_INTERVAL) > R.price_rank("SomethingNew") == 0
    actual, forecast, new = parse_prices(
        price_item(T0), price_item(T0, type=FORECAST_INTERVAL), price_item(T0, type="SomethingNew")
    )
    assert not R.is_forecast(actual) and R.is_forecast(forecast) and not R.is_forecast(new)


def test_site_and_channel_rows():
    site = parse_site(site_item("abc", status="closed", closed_on="2024-02-29", interval_length=30))
    got = dict(zip(R.SITE_COLUMNS, R.site_row(site), strict=True))
    assert got == {
        "site_id": "abc", "nmi": "6407000000", "network": "Jemena", "status": "closed",
        "active_from": dt.date(2021, 3, 1), "closed_on": dt.date(2024, 2, 29), "interval_length_minutes": 30,
        "raw": site.raw,
    }  # fmt: skip
    assert R.channel_rows(site) == [("abc", "E1", "general", "A100"), ("abc", "B1", "feedIn", "A100")]
