"""AmberClient over real httpx with respx standing in for api.amber.com.au.

A fake clock and sleeper stand in for time, and a fixed rng for jitter, so retries and rate-limit
waits are asserted exactly and nothing really sleeps.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import time
from pathlib import Path

import httpx
import pytest
import respx

from amber import (
    ENDPOINTS,
    OUTCOMES,
    AmberAuthError,
    AmberBadRequestError,
    AmberClient,
    AmberError,
    AmberNotFoundError,
    AmberRateLimitedError,
    AmberResponseError,
    AmberUnavailableError,
    RateBudget,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "amber"
BASE = "https://api.amber.com.au/v1"
SITE = "01F5A5CRKMZ5BCX9P1S4V990AM"
KEY = "psk_0dd5ecre7-key-that-must-never-leak-9c41"
DAY = dt.date(2021, 5, 5)
RATE_HEADERS = {
    "RateLimit-Limit": "50",
    "RateLimit-Remaining": "0",
    "RateLimit-Reset": "42",
    "RateLimit-Policy": "50;w=300",
}


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


class FakeClock:
    def __init__(self) -> None:
        self.now = 5000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FixedRng:
    """uniform(a, b) returns the same fraction of the way from a to b, and records the bounds."""

    def __init__(self, fraction: float = 0.5) -> None:
        self.fraction = fraction
        self.bounds: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.bounds.append((a, b))
        return a + (b - a) * self.fraction


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def api():
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def make_client(clock, api):
    clients = []

    def make(**kwargs) -> AmberClient:
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("sleeper", clock.sleep)
        kwargs.setdefault("rng", FixedRng())
        client = AmberClient(KEY, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client):
    return make_client()


def requests_count(client: AmberClient, endpoint: str) -> dict[str, int]:
    return {k: v for k, v in client.stats()["requests"][endpoint].items() if v}


# --- happy paths: requests are shaped like Amber expects ------------------------------------------


def test_sites_request_headers_and_result(client, api):
    route = api.get("/sites").respond(200, json=fixture("sites.json"))
    sites = client.sites()
    assert [s.id for s in sites] == [SITE, "01E9A0X5MZGN3PAAVTH5TSB3W8"]
    request = route.calls.last.request
    assert request.url == f"{BASE}/sites"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["User-Agent"].startswith("amber-home/")
    assert request.headers["Accept"] == "application/json"
    assert requests_count(client, "sites") == {"ok": 1}


def test_prices_query(client, api):
    route = api.get(f"/sites/{SITE}/prices").respond(200, json=fixture("prices_5min.json"))
    intervals = client.prices(SITE, DAY, DAY + dt.timedelta(days=6), resolution=5)
    assert len(intervals) == 10
    assert dict(route.calls.last.request.url.params) == {
        "startDate": "2021-05-05",
        "endDate": "2021-05-11",
        "resolution": "5",
    }


def test_current_prices_query(client, api):
    route = api.get(f"/sites/{SITE}/prices/current").respond(200, json=fixture("current_prices.json"))
    intervals = client.current_prices(SITE, next=2, previous=1, resolution=30)
    assert {i.interval_type for i in intervals} == {"ActualInterval", "CurrentInterval", "ForecastInterval"}
    assert dict(route.calls.last.request.url.params) == {"next": "2", "previous": "1", "resolution": "30"}
    client.current_prices(SITE)
    assert dict(route.calls.last.request.url.params) == {}  # the API's defaults


def test_usage_query(client, api):
    route = api.get(f"/sites/{SITE}/usage").respond(200, json=fixture("usage.json"))
    rows = client.usage(SITE, DAY, DAY)
    assert {r.channel_identifier for r in rows} == {"E1", "B1"}
    assert dict(route.calls.last.request.url.params) == {"startDate": "2021-05-05", "endDate": "2021-05-05"}


def test_current_renewables_query(client, api):
    route = api.get("/state/vic/renewables/current").respond(200, json=fixture("renewables_current.json"))
    rows = client.current_renewables("VIC", next=2, previous=1)
    assert len(rows) == 4
    assert dict(route.calls.last.request.url.params) == {"next": "2", "previous": "1"}


def test_site_id_is_escaped(client, api):
    route = api.get("/sites/a%2Fb/usage").respond(200, json=[])
    assert client.usage("a/b", DAY, DAY) == []
    assert route.called


def test_limits_at_the_edge_are_allowed(client, api):
    api.get(f"/sites/{SITE}/prices/current").respond(200, json=[])
    api.get(f"/sites/{SITE}/usage").respond(200, json=[])
    client.current_prices(SITE, next=2000, previous=48)
    client.usage(SITE, DAY - dt.timedelta(days=6), DAY)


# --- arguments Amber would refuse are refused locally, without a request ----------------------------


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda c: c.prices(SITE, DAY, DAY + dt.timedelta(days=7)), "spans 8 days"),
        (lambda c: c.usage(SITE, DAY, DAY + dt.timedelta(days=30)), "spans 31 days"),
        (lambda c: c.prices(SITE, DAY, DAY - dt.timedelta(days=1)), "before start"),
        (lambda c: c.prices(SITE, dt.datetime(2021, 5, 5, 10), DAY), "datetime.date"),  # noqa: DTZ001 - a datetime, refused
        (lambda c: c.usage(SITE, "2021-05-05", DAY), "datetime.date"),
        (lambda c: c.current_prices(SITE, next=2000, previous=49), "2049"),
        (lambda c: c.current_prices(SITE, next=-1), "non-negative"),
        (lambda c: c.current_prices(SITE, next=True), "non-negative"),
        (lambda c: c.current_prices(SITE, resolution=15), "resolution"),
        (lambda c: c.prices("", DAY, DAY), "site_id"),
        (lambda c: c.current_renewables("tas"), "state must be one of"),
        (lambda c: c.current_renewables("vic", next=1500, previous=1500), "3000"),
    ],
)
def test_invalid_arguments_raise_before_sending(client, api, call, match):
    with pytest.raises(AmberBadRequestError, match=match) as info:
        call(client)
    assert info.value.status is None
    assert len(api.calls) == 0  # respx would also refuse any unmocked request
    assert all(not any(c.values()) for c in client.stats()["requests"].values())


# --- HTTP errors map onto the tree and are never retried -----------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_are_fatal_and_say_how_to_get_a_key(client, api, status):
    route = api.get("/sites").respond(status, json={"message": "Unauthorized"})
    with pytest.raises(AmberAuthError) as info:
        client.sites()
    assert info.value.status == status
    assert "app.amber.com.au/developers" in str(info.value)
    assert route.call_count == 1
    assert requests_count(client, "sites") == {"auth": 1}


def test_not_found(client, api):
    route = api.get("/sites/nope/prices").respond(404, json={"message": "Site not found"})
    with pytest.raises(AmberNotFoundError, match="Site not found") as info:
        client.prices("nope", DAY, DAY)
    assert info.value.status == 404 and info.value.endpoint == "prices"
    assert route.call_count == 1
    assert requests_count(client, "prices") == {"not_found": 1}


@pytest.mark.parametrize("status", [400, 422])
def test_bad_request_carries_the_api_message(client, api, status):
    message = "endDate must be within 7 days of startDate"
    route = api.get(f"/sites/{SITE}/usage").respond(status, json={"message": message})
    with pytest.raises(AmberBadRequestError) as info:
        client.usage(SITE, DAY, DAY)
    assert info.value.api_message == message
    assert message in str(info.value)
    assert info.value.status == status
    assert route.call_count == 1
    assert requests_count(client, "usage") == {"bad_request": 1}


def test_bad_request_with_plain_text_body(client, api):
    api.get("/sites").respond(400, text="Bad Request\n")
    with pytest.raises(AmberBadRequestError) as info:
        client.sites()
    assert info.value.api_message == "Bad Request"


def test_redirect_is_a_bad_response(client, api):
    api.get("/sites").respond(301, headers={"Location": "https://example.invalid/"})
    with pytest.raises(AmberResponseError, match="unexpected HTTP 301"):
        client.sites()
    assert requests_count(client, "sites") == {"bad_response": 1}


# --- 429: wait for the reset, then retry (bounded) -------------------------------------------------


def test_429_waits_for_reset_then_succeeds(client, api, clock, caplog):
    caplog.set_level(logging.WARNING, logger="amber")
    route = api.get("/sites").mock(
        side_effect=[httpx.Response(429, headers=RATE_HEADERS), httpx.Response(200, json=fixture("sites.json"))]
    )
    assert len(client.sites()) == 2
    assert route.call_count == 2
    assert clock.sleeps == [pytest.approx(42.0)]
    assert requests_count(client, "sites") == {"rate_limited": 1, "ok": 1}
    assert client.stats()["retries"]["sites"] == 0  # 429 waits are not backoff retries
    assert "rate limited" in caplog.text


def test_429_forever_raises_with_header_values(make_client, api, clock):
    client = make_client(max_rate_limit_waits=2)
    headers = dict(RATE_HEADERS, **{"Retry-After": "60"})
    route = api.get("/sites").respond(429, headers=headers)
    with pytest.raises(AmberRateLimitedError) as info:
        client.sites()
    error = info.value
    assert (error.reset_seconds, error.remaining, error.limit, error.policy, error.retry_after) == (
        42.0,
        0,
        50,
        "50;w=300",
        60.0,
    )
    assert error.wait_seconds == 60.0
    assert route.call_count == 3
    assert clock.sleeps == [pytest.approx(60.0), pytest.approx(60.0)]
    assert requests_count(client, "sites") == {"rate_limited": 3}


def test_response_headers_feed_the_budget(client, api):
    api.get("/sites").respond(200, json=[], headers={"RateLimit-Remaining": "12", "RateLimit-Reset": "200"})
    client.sites()
    assert client.budget.remaining == 12
    assert client.budget.requests_sent == 1


def test_client_waits_for_its_budget_instead_of_sending(make_client, api, clock):
    budget = RateBudget(limit=5, window=60.0, reserve=2, clock=clock, sleeper=clock.sleep)
    client = make_client(budget=budget)
    route = api.get("/sites").respond(200, json=[])
    sent_at = []
    for _ in range(7):
        client.sites()
        sent_at.append(clock.now)
    assert route.call_count == 7
    # 5 per minute, 2 kept back for the exporter: 3 now, 3 a minute later, 1 after that.
    assert sent_at == [5000.0] * 3 + [5060.0] * 3 + [5120.0]


# --- unavailable: bounded exponential backoff with full jitter -------------------------------------


def test_5xx_burst_then_success(client, api, clock):
    route = api.get("/sites").mock(
        side_effect=[httpx.Response(503), httpx.Response(502, text="Bad Gateway"), httpx.Response(200, json=[])]
    )
    assert client.sites() == []
    assert route.call_count == 3
    # FixedRng(0.5): half of base * 2**n
    assert clock.sleeps == [0.5, 1.0]
    assert requests_count(client, "sites") == {"unavailable": 2, "ok": 1}
    assert client.stats()["retries"]["sites"] == 2


def test_5xx_forever_gives_up_after_bounded_retries(make_client, api, clock):
    rng = FixedRng(1.0)
    client = make_client(max_retries=4, backoff_base=1.0, backoff_cap=5.0, rng=rng)
    route = api.get(f"/sites/{SITE}/prices").respond(500, json={"message": "Internal server error"})
    started = time.perf_counter()
    with pytest.raises(AmberUnavailableError, match=r"after 5 attempts.*HTTP 500: Internal server error") as info:
        client.prices(SITE, DAY, DAY)
    assert time.perf_counter() - started < 1.0  # nothing really slept
    assert info.value.status == 500
    assert route.call_count == 5
    assert clock.sleeps == [1.0, 2.0, 4.0, 5.0]  # capped at backoff_cap
    assert rng.bounds[:4] == [(0.0, 1.0), (0.0, 2.0), (0.0, 4.0), (0.0, 5.0)]
    assert requests_count(client, "prices") == {"unavailable": 5}
    assert client.stats()["retries"]["prices"] == 4


def test_total_backoff_is_bounded(make_client, api, clock):
    client = make_client(max_retries=10, max_retry_seconds=5.0, rng=FixedRng(1.0))
    route = api.get("/sites").respond(503)
    with pytest.raises(AmberUnavailableError):
        client.sites()
    assert clock.sleeps == [1.0, 2.0]  # the next (4.0) would pass 5 s in total
    assert route.call_count == 3


def test_jitter_comes_from_the_injected_rng(make_client, api, clock):
    client = make_client(max_retries=2, rng=FixedRng(0.1))
    api.get("/sites").respond(503)
    with pytest.raises(AmberUnavailableError):
        client.sites()
    assert clock.sleeps == [pytest.approx(0.1), pytest.approx(0.2)]


def test_zero_retries(make_client, api, clock):
    client = make_client(max_retries=0)
    route = api.get("/sites").respond(503)
    with pytest.raises(AmberUnavailableError):
        client.sites()
    assert route.call_count == 1 and clock.sleeps == []


def test_timeout_then_success(client, api, clock, caplog):
    caplog.set_level(logging.WARNING, logger="amber")
    route = api.get("/sites").mock(side_effect=[httpx.ReadTimeout("read timed out"), httpx.Response(200, json=[])])
    assert client.sites() == []
    assert route.call_count == 2
    assert clock.sleeps == [0.5]
    assert "timed out (ReadTimeout)" in caplog.text


def test_timeout_forever(make_client, api):
    client = make_client(max_retries=2)
    api.get("/sites").mock(side_effect=httpx.ConnectTimeout("connect timed out"))
    with pytest.raises(AmberUnavailableError, match="timed out") as info:
        client.sites()
    assert isinstance(info.value.__cause__, httpx.ConnectTimeout)
    assert info.value.status is None
    assert requests_count(client, "sites") == {"unavailable": 3}


def test_connect_error(make_client, api):
    client = make_client(max_retries=1)
    api.get("/sites").mock(side_effect=httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(AmberUnavailableError, match="Connection refused") as info:
        client.sites()
    assert isinstance(info.value.__cause__, httpx.ConnectError)


def test_real_timeouts_are_set(client):
    timeout = client._http.timeout
    assert timeout.read == 30.0 and timeout.connect == 10.0


# --- bodies we cannot use ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "match"),
    [
        (httpx.Response(200, html="<html><body>Gateway maintenance</body></html>"), "not valid JSON"),
        (httpx.Response(200, content=b'[{"type": "ActualInterval", "dura'), "not valid JSON"),
        (httpx.Response(200, content=b"\xff\xfe\x00garbage"), "not valid JSON"),
        (httpx.Response(200, json={"sites": []}), "is an object, expected an array"),
    ],
)
def test_bad_bodies_raise_response_error_without_retry(client, api, response, match):
    route = api.get("/sites").mock(return_value=response)
    with pytest.raises(AmberResponseError, match=match):
        client.sites()
    assert route.call_count == 1
    assert requests_count(client, "sites") == {"bad_response": 1}


def test_missing_field_names_the_field(client, api):
    data = fixture("usage.json")
    del data[2]["kwh"]
    api.get(f"/sites/{SITE}/usage").respond(200, json=data)
    with pytest.raises(AmberResponseError, match="item 2: required field 'kwh' is missing") as info:
        client.usage(SITE, DAY, DAY)
    assert info.value.field == "kwh" and info.value.endpoint == "usage"


# --- lenient parsing is logged once per distinct value ----------------------------------------------


def test_unknown_values_warned_once_across_intervals_and_calls(client, api, caplog):
    caplog.set_level(logging.WARNING, logger="amber")
    data = copy.deepcopy(fixture("prices_5min.json"))
    for obj in data:
        obj["descriptor"] = "superLow"
        obj["spikeStatus"] = "brewing"
        obj["newThing"] = {"x": 1}
    api.get(f"/sites/{SITE}/prices").respond(200, json=data)
    first = client.prices(SITE, DAY, DAY)
    second = client.prices(SITE, DAY, DAY)
    assert {i.descriptor for i in first + second} == {"superLow"}
    assert first[0].raw["newThing"] == {"x": 1}
    messages = [r.getMessage() for r in caplog.records]
    assert sum("'superLow'" in m for m in messages) == 1
    assert sum("'brewing'" in m for m in messages) == 1
    assert sum("newThing" in m for m in messages) == 1
    assert len(messages) == 3
    assert client.stats()["parse_warnings"]["prices"] == 2 * 3 * len(data)


def test_unknown_interval_type_does_not_sink_the_batch(client, api, caplog):
    caplog.set_level(logging.WARNING, logger="amber")
    data = [*fixture("current_prices.json"), {"type": "MarketNotice", "text": "LOR2 in SA"}]
    api.get(f"/sites/{SITE}/prices/current").respond(200, json=data)
    assert len(client.current_prices(SITE, next=2, previous=1)) == len(data) - 1
    assert "MarketNotice" in caplog.text
    assert requests_count(client, "current_prices") == {"ok": 1}


# --- the key never leaks --------------------------------------------------------------------------


def test_the_key_never_appears_in_logs_errors_or_repr(make_client, api, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, httpx's included
    client = make_client(max_retries=1, max_rate_limit_waits=0)
    assert KEY not in repr(client) and KEY not in str(client)
    echo = {"message": f"Invalid token {KEY}"}  # a server that echoes the token back
    scenarios = [
        ("/sites", httpx.Response(401, json=echo)),
        ("/sites", httpx.Response(403, text=f"Forbidden for Bearer {KEY}")),
        ("/sites", httpx.Response(400, json=echo)),
        ("/sites", httpx.Response(422, json={"errors": [echo]})),
        ("/sites", httpx.Response(404, json=echo)),
        ("/sites", httpx.Response(429, headers=RATE_HEADERS, json=echo)),
        ("/sites", httpx.Response(503, json=echo)),
        ("/sites", httpx.Response(200, text=f"not json {KEY}")),
        ("/sites", httpx.Response(200, json={"key": KEY})),
        ("/sites", httpx.ConnectError(f"refused for {KEY}")),
        ("/sites", httpx.ReadTimeout("read timed out")),
    ]
    errors: list[AmberError] = []
    for path, outcome in scenarios:
        api.routes.clear()
        route = api.get(path)
        if isinstance(outcome, Exception):
            route.mock(side_effect=outcome)
        else:
            route.mock(return_value=outcome)
        with pytest.raises(AmberError) as info:
            client.sites()
        errors.append(info.value)
    assert len(errors) == len(scenarios)
    for error in errors:
        assert KEY not in str(error)
        assert KEY not in repr(error)
        assert all(KEY not in str(arg) for arg in error.args)
    assert "***" in str(errors[0])  # the echo was redacted, not dropped
    for record in caplog.records:
        assert KEY not in record.getMessage()
    assert KEY not in caplog.text


def test_empty_key_is_refused():
    with pytest.raises(ValueError, match=r"app.amber.com.au/developers"):
        AmberClient("  ")


def test_key_whitespace_from_secret_files_is_stripped(api):
    route = api.get("/sites").respond(200, json=[])
    with AmberClient(f"{KEY}\n", sleeper=lambda s: None) as client:
        client.sites()
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {KEY}"


# --- counters and lifecycle ----------------------------------------------------------------------


def test_stats_start_at_zero_for_every_endpoint_and_outcome(client):
    stats = client.stats()
    assert stats["requests"] == {e: dict.fromkeys(OUTCOMES, 0) for e in ENDPOINTS}
    assert stats["retries"] == dict.fromkeys(ENDPOINTS, 0)
    assert stats["parse_warnings"] == dict.fromkeys(ENDPOINTS, 0)
    stats["requests"]["sites"]["ok"] = 99  # a snapshot, not a live view
    assert client.stats()["requests"]["sites"]["ok"] == 0


def test_context_manager_closes(api, clock):
    api.get("/sites").respond(200, json=[])
    with AmberClient(KEY, clock=clock, sleeper=clock.sleep) as client:
        assert client.sites() == []
    with pytest.raises(RuntimeError):
        client.sites()


def test_one_connection_pool_for_many_requests(client, api):
    api.get("/sites").respond(200, json=[])
    pool = client._http
    for _ in range(3):
        client.sites()
    assert client._http is pool and not pool.is_closed


def test_impossible_intervals_are_dropped_logged_once_and_counted(client, api, caplog):
    """NaN, Infinity and 1e400 arrive as JSON text (Python's parser accepts them); a reversed interval and
    a duration beyond smallint too. Each such interval is dropped, the others kept, each kind logged once."""
    caplog.set_level(logging.WARNING, logger="amber")
    data = copy.deepcopy(fixture("prices_5min.json"))
    good = len(data)
    bad = copy.deepcopy(data[:5])
    bad[1]["endTime"] = bad[1]["startTime"]
    bad[2]["duration"] = 40000
    items = data + bad
    items[good]["perKwh"] = float("nan")
    items[good + 3]["spotPerKwh"] = float("inf")
    items[good + 4]["advancedPrice"] = {"low": 1, "predicted": 1e400, "high": 2}
    text = json.dumps(items)  # writes NaN and Infinity, as a broken server would
    assert "NaN" in text and "Infinity" in text
    api.get(f"/sites/{SITE}/prices").respond(200, content=text.encode(), headers={"Content-Type": "application/json"})
    first = client.prices(SITE, DAY, DAY)
    second = client.prices(SITE, DAY, DAY)
    assert len(first) == len(second) == good
    assert client.stats()["dropped_intervals"]["prices"] == 10
    messages = [r.getMessage() for r in caplog.records if "dropped an interval" in r.getMessage()]
    assert sorted(messages) == sorted([
        "Amber prices: dropped an interval whose perKwh is not a finite number (first at prices item %d); the others"
        " are kept" % good,
        "Amber prices: dropped an interval whose spotPerKwh is not a finite number (first at prices item %d); the"
        " others are kept" % (good + 3),
        "Amber prices: dropped an interval whose advancedPrice.predicted is not a finite number (first at prices item"
        " %d); the others are kept" % (good + 4),
        "Amber prices: dropped an interval whose endTime is not after startTime (first at prices item %d); the"
        " others are kept" % (good + 1),
        "Amber prices: dropped an interval whose duration is outside 1..32767 minutes (first at prices item %d); the"
        " others are kept" % (good + 2),
    ])
