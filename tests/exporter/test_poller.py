"""The poll loop against the Amber simulator over real HTTP on 127.0.0.1, with the simulator's clock frozen
and the loop driven by `poll_once(now)`: schedule, estimate re-polls, the request budget, failures and
staleness. Nothing sleeps: the client's sleeper fails the test if it is ever called."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
import respx

from amber import AmberClient
from exporter import poller as poller_module
from exporter.poller import MAX_REPOLLS, REPOLL_EVERY, WINDOW, Poller, forecast_count, next_boundary
from exporter.snapshot import DatabaseFacts, SnapshotStore, frozen_map, state_for_site
from simulator import SimulatorConfig, SimulatorServer
from tests.exporter.test_collector import load, registry_for, value

NEM = dt.timezone(dt.timedelta(hours=10))
# Five seconds after the 12:05 boundary (NEM) on Wednesday 15 January 2025: the new 5-minute interval
# is still an estimate (the simulator settles it 45 s in).
BOUNDARY = dt.datetime(2025, 1, 15, 12, 5, 5, tzinfo=NEM)


def no_sleep(seconds: float) -> None:
    raise AssertionError(f"the exporter must not sleep inside a request (asked for {seconds:.1f} s)")


class RecordingTransport(httpx.HTTPTransport):
    """A real HTTP transport that also remembers each request's URL."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[httpx.URL] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(request.url)
        return super().handle_request(request)


@dataclass
class Rig:
    sim: SimulatorServer
    client: AmberClient
    store: SnapshotStore
    poller: Poller
    transport: RecordingTransport

    def at(self, when: dt.datetime | float) -> float:
        """Set the simulated time and run the loop once; returns its next wake-up (Unix seconds)."""
        moment = when if isinstance(when, dt.datetime) else dt.datetime.fromtimestamp(when, dt.UTC)
        self.sim.clock.set(moment)
        return self.poller.poll_once(moment.timestamp())

    def requests(self, endpoint: str) -> int:
        return self.sim.stats.requests.get(endpoint, 0)

    @property
    def snap(self):
        return self.store.get()


@contextmanager
def rig(*, api_key: str | None = None, poller_kwargs: dict | None = None, **sim_overrides) -> Iterator[Rig]:
    # The simulator's rate window runs on the real clock while these tests live through hours in
    # milliseconds, so the account's limit is raised unless a test is about it.
    config = {"seed": 7, "sites": 1, "resolution": 5, "speed": 0.0, "start": BOUNDARY, "spike_probability": 0.0,
              "rate_limit": 100_000}
    config.update(sim_overrides)
    with SimulatorServer(SimulatorConfig(**config)) as sim:
        transport = RecordingTransport()
        client = AmberClient(api_key or sim.api_key, sim.base_url, transport=transport, sleeper=no_sleep,
                             max_retries=0, max_rate_limit_waits=0)  # fmt: skip
        store = SnapshotStore()
        try:
            yield Rig(sim, client, store, Poller(client, store, **(poller_kwargs or {})), transport)
        finally:
            client.close()


def at_nem(hour: int, minute: int, second: int = 0) -> dt.datetime:
    return dt.datetime(2025, 1, 15, hour, minute, second, tzinfo=NEM)


# --- pure helpers ----------------------------------------------------------------------------------------


def test_next_boundary_is_a_few_seconds_after_the_next_five_minutes():
    assert next_boundary(at_nem(12, 5, 4).timestamp()) == at_nem(12, 5, 5).timestamp()
    assert next_boundary(at_nem(12, 5, 5).timestamp()) == at_nem(12, 10, 5).timestamp()
    assert next_boundary(at_nem(12, 9, 59).timestamp()) == at_nem(12, 10, 5).timestamp()


def test_forecast_count_covers_a_day():
    assert forecast_count(5) == 288
    assert forecast_count(30) == 48


@pytest.mark.parametrize(
    ("network", "nmi", "state"),
    [
        ("Jemena", "6407000000", "vic"),
        ("SA Power Networks", "2001000000", "sa"),
        ("Endeavour Energy", "4310000000", "nsw"),
        ("Evoenergy", "7001000000", "nsw"),  # the ACT is in the NSW region
        ("Energex", "3114000000", "qld"),
        ("AusNet Services", "6305000000", "vic"),
        ("TasNetworks", "8000000000", "tas"),
        ("Some New Network", "3051000000", "qld"),  # unknown network: the NMI says
        ("Some New Network", "QB00000000", "qld"),
        ("", "9999999999", None),  # neither says
    ],
)
def test_state_for_site(network, nmi, state):
    assert state_for_site(network, nmi) == state


# --- schedule ------------------------------------------------------------------------------------------------


def test_first_call_fetches_sites_then_prices_and_renewables_and_wakes_after_the_boundary():
    with rig() as r:
        wake = r.at(at_nem(12, 7, 30))
        assert r.sim.stats.requests == {"sites": 1, "prices_current": 1, "renewables_current": 1}
        assert wake == at_nem(12, 10, 5).timestamp()
        prices_url = next(u for u in r.transport.urls if u.path.endswith("/prices/current"))
        assert dict(prices_url.params) == {"next": "288", "previous": "1", "resolution": "5"}
        snap = r.snap
        assert snap.up and snap.last_success == at_nem(12, 7, 30).timestamp()
        site_id = r.sim.site_ids[0]
        channels = {v.channel: v for v in snap.prices[site_id].channels}
        assert {"general", "feedIn"} <= set(channels)
        assert channels["general"].current.end_time == at_nem(12, 10).astimezone(dt.UTC)
        assert channels["general"].previous.end_time == at_nem(12, 5).astimezone(dt.UTC)
        assert len(snap.renewables) == 1


def test_a_thirty_minute_site_asks_for_a_day_of_thirty_minute_intervals():
    with rig(resolution=30) as r:
        r.at(at_nem(12, 7, 30))
        prices_url = next(u for u in r.transport.urls if u.path.endswith("/prices/current"))
        assert dict(prices_url.params) == {"next": "48", "previous": "1", "resolution": "30"}


def test_every_boundary_polls_again_and_sites_are_refreshed_every_few_hours():
    with rig(estimate_seconds=0) as r:
        wake = r.at(BOUNDARY)
        for _ in range(36):  # three hours of boundaries
            wake = r.at(wake)
        assert r.requests("prices_current") == 37
        assert r.requests("sites") == 2  # at start and after 3 h


# --- estimate re-polls ---------------------------------------------------------------------------------------


def test_an_estimate_is_polled_again_until_it_settles():
    with rig() as r:  # the simulator settles a 5-minute interval 45 s in
        wake = r.at(BOUNDARY)
        assert r.snap.prices[r.sim.site_ids[0]].channels[0].current.estimate is True
        assert wake == BOUNDARY.timestamp() + REPOLL_EVERY
        wake = r.at(wake)
        assert r.requests("prices_current") == 2
        assert not any(v.current.estimate for v in r.snap.prices[r.sim.site_ids[0]].channels)
        assert wake == at_nem(12, 10, 5).timestamp()  # settled: no more re-polls this interval
        assert r.requests("renewables_current") == 1  # re-polls ask only for prices


def test_re_polls_stop_after_a_few_per_interval():
    with rig(estimate_seconds=10_000) as r:  # never settles
        wake = r.at(BOUNDARY)
        while wake < at_nem(12, 10, 5).timestamp():
            wake = r.at(wake)
        assert r.requests("prices_current") == 1 + MAX_REPOLLS
        assert r.poller.counts["extra"] == MAX_REPOLLS


def test_a_thirty_minute_interval_is_re_polled_only_in_its_last_five_minutes():
    with rig(resolution=30, estimate_seconds=10_000) as r:
        wake = r.at(BOUNDARY)  # 12:05:05 in the 12:00-12:30 interval
        assert wake == at_nem(12, 10, 5).timestamp()  # no re-poll: the interval cannot settle yet
        for _ in range(3):
            wake = r.at(wake)  # 12:10:05, 12:15:05, 12:20:05
        assert r.requests("prices_current") == 4
        wake = r.at(wake)  # 12:25:05: the last 5 minutes
        assert wake == at_nem(12, 25, 50).timestamp()


# --- request budget --------------------------------------------------------------------------------------------


def test_requests_stay_within_the_share_in_every_five_minute_window():
    share = 5
    with rig(sites=2, estimate_seconds=10_000, poller_kwargs={"request_share": share}) as r:
        sent: list[float] = []
        wake = r.at(BOUNDARY)
        sent += [BOUNDARY.timestamp()] * r.sim.stats.total
        end = BOUNDARY.timestamp() + 3600
        while wake < end:
            before = r.sim.stats.total
            wake_next = r.at(wake)
            sent += [wake] * (r.sim.stats.total - before)
            wake = wake_next
        scheduled = len(r.sim.site_ids) + len(r.snap.renewables)
        assert r.poller.counts["extra"] > 0 and r.poller.counts["skipped"] > 0
        for t in sent:
            in_window = [s for s in sent if t <= s < t + WINDOW]
            # +1: the /sites request at start-up shares the first window with the first round.
            assert len(in_window) <= max(share, scheduled) + 1, (t, len(in_window))


def test_a_share_too_small_for_the_sites_turns_extras_off_with_one_warning(caplog):
    with rig(poller_kwargs={"request_share": 2}) as r:  # 1 site + 1 state already take 2
        with caplog.at_level(logging.WARNING, logger="exporter.poller"):
            wake = r.at(BOUNDARY)
            r.at(wake)  # the estimate re-poll is due, but there is no room for it
        assert r.requests("prices_current") == 1 and r.poller.counts["skipped"] == 1
        assert caplog.text.count("EXPORTER_REQUEST_SHARE=2 leaves nothing") == 1


def test_a_low_account_budget_skips_re_polls_without_waiting():
    with rig(rate_limit=10) as r:
        with httpx.Client(base_url=r.sim.base_url, headers={"Authorization": f"Bearer {r.sim.api_key}"}) as loader:
            for _ in range(6):  # "the loader" spends most of the account's window
                loader.get("/sites").raise_for_status()
        wake = r.at(BOUNDARY)  # 3 requests: 1 left of 10, below a fifth
        assert r.client.budget.remaining == 1
        before = r.sim.stats.total
        r.at(wake)  # the estimate re-poll is due
        assert r.sim.stats.total == before
        assert r.poller.counts["skipped"] == 1
        assert r.snap.up  # skipping is not failing


def test_a_rate_limited_account_skips_polls_instead_of_waiting(caplog):
    with rig(rate_limit=2) as r:
        with httpx.Client(base_url=r.sim.base_url, headers={"Authorization": f"Bearer {r.sim.api_key}"}) as loader:
            for _ in range(2):
                loader.get("/sites").raise_for_status()
        wake = r.at(BOUNDARY)  # /sites gets 429
        assert r.sim.stats.rate_limited == 1
        assert r.snap.up is False and "rate limited" in r.snap.last_error
        assert wake == BOUNDARY.timestamp() + poller_module.RETRY_EVERY
        before = r.sim.stats.total
        r.at(wake)  # the budget is blocked until the reset: skipped, no request, no sleep
        assert r.sim.stats.total == before
        assert r.poller.counts["skipped"] >= 1


# --- failures and staleness -----------------------------------------------------------------------------------


def test_an_api_failure_keeps_the_last_values_and_marks_down_then_recovers():
    with rig(estimate_seconds=0) as r:
        site_id = r.sim.site_ids[0]
        wake = r.at(BOUNDARY)
        first_price = r.snap.prices[site_id]
        r.sim.faults.fail_next(100, 503, endpoint="prices_current")
        wake = r.at(wake)  # 12:10:05 fails
        snap = r.snap
        assert snap.up is False and "unavailable" in snap.last_error and snap.consecutive_failures == 1
        assert snap.prices[site_id] is first_price  # last values kept
        assert snap.last_success == BOUNDARY.timestamp()
        assert wake == at_nem(12, 11, 5).timestamp()  # retried within the interval

        reg = registry_for(snap, now=BOUNDARY.timestamp() + 899, stale_after=900)
        assert value(reg, "amber_up") == 0.0
        assert value(reg, "amber_price_dollars_per_kwh", site_id=site_id, channel="general") is not None
        reg = registry_for(snap, now=BOUNDARY.timestamp() + 901, stale_after=900)
        assert value(reg, "amber_price_dollars_per_kwh", site_id=site_id, channel="general") is None

        r.sim.faults.clear()
        r.at(at_nem(12, 15, 5))
        assert r.snap.up is True and r.snap.last_error is None and r.snap.prices[site_id] is not first_price


def test_a_wrong_api_key_is_reported_and_the_loop_keeps_going(caplog):
    with rig(api_key="psk_wrong_key_123") as r:
        with caplog.at_level(logging.ERROR, logger="exporter.poller"):
            wake = r.at(BOUNDARY)
        assert r.snap.up is False and "refused the API key" in r.snap.last_error
        assert "psk_wrong_key_123" not in r.snap.last_error and "psk_wrong_key_123" not in caplog.text
        assert "refused the API key" in caplog.text
        assert wake == BOUNDARY.timestamp() + poller_module.RETRY_EVERY  # retried, not spun


def test_closed_sites_and_sites_outside_amber_site_id_are_described_but_not_polled(caplog):
    with rig(sites=3, closed_sites=1) as r:
        r.at(BOUNDARY)
        open_ids = {e.site.id for e in r.snap.sites if e.site.status != "closed"}
        assert {e.site.id for e in r.snap.sites if e.polled} == open_ids and len(open_ids) == 2
        assert set(r.snap.prices) == open_ids
    with rig(sites=3) as r:
        chosen = r.sim.site_ids[1]
        r.poller = Poller(r.client, r.store, site_ids=[chosen, "NOT_MINE"])  # AMBER_SITE_ID
        with caplog.at_level(logging.WARNING):
            r.at(BOUNDARY)
        assert set(r.snap.prices) == {chosen}
        assert "NOT_MINE" in caplog.text


def test_only_live_sites_are_polled_the_rule_the_loader_shares():
    # Site.is_live decides for both services: pending, not yet active and past closedOn are not polled,
    # a site closing later today still is (BOUNDARY is 15 January 2025, NEM).
    site = load("sites.json")[0]
    sites = [dict(site, id="LIVE"), dict(site, id="PENDING", status="pending"),
             dict(site, id="NOT_YET", activeFrom="2025-01-16"), dict(site, id="GONE", closedOn="2025-01-14"),
             dict(site, id="LAST_DAY", closedOn="2025-01-15")]  # fmt: skip
    with respx.mock(base_url="https://api.example/v1", assert_all_called=False) as api:
        api.get("/sites").respond(json=sites)
        prices = api.get(url__regex=r"/sites/\w+/prices/current").respond(json=load("current_prices.json"))
        api.get(url__regex=r"/state/").respond(json=load("renewables_current.json"))
        client = AmberClient("psk_test", "https://api.example/v1", sleeper=no_sleep, max_retries=0)
        store = SnapshotStore()
        Poller(client, store).poll_once(BOUNDARY.timestamp())
        assert {e.site.id for e in store.get().sites if e.polled} == {"LIVE", "LAST_DAY"}
        assert {call.request.url.path.split("/")[3] for call in prices.calls} == {"LIVE", "LAST_DAY"}
        client.close()


def test_unknown_or_unsupported_states_skip_renewables_with_one_warning(caplog):
    sites = load("sites.json")[:1]
    sites = [dict(sites[0], id="SITE_A", network="Mystery Grid", nmi="9000000000"),
             dict(sites[0], id="SITE_B", network="TasNetworks", nmi="8000000000")]  # fmt: skip
    with respx.mock(base_url="https://api.example/v1", assert_all_called=False) as api:
        api.get("/sites").respond(json=sites)
        prices = api.get(url__regex=r"/sites/SITE_[AB]/prices/current").respond(json=load("current_prices.json"))
        renewables = api.get(url__regex=r"/state/").respond(json=load("renewables_current.json"))
        client = AmberClient("psk_test", "https://api.example/v1", sleeper=no_sleep, max_retries=0)
        store = SnapshotStore()
        poller = Poller(client, store)
        with caplog.at_level(logging.WARNING, logger="exporter.poller"):
            wake = poller.poll_once(BOUNDARY.timestamp())
            poller.poll_once(wake)
        assert prices.call_count == 4 and renewables.call_count == 0
        assert caplog.text.count("SITE_A: cannot tell its state") == 1
        assert caplog.text.count("SITE_B is in tas") == 1
        assert {e.site.id: e.state for e in store.get().sites} == {"SITE_A": None, "SITE_B": "tas"}
        client.close()


def test_poll_once_survives_unexpected_errors(caplog, monkeypatch):
    with rig() as r:
        monkeypatch.setattr(r.client, "sites", lambda: 1 / 0)
        wake = r.at(BOUNDARY)
        assert "poll loop error" in caplog.text
        assert wake >= BOUNDARY.timestamp() + poller_module.RETRY_EVERY  # no busy loop


# --- the database ------------------------------------------------------------------------------------------------


class FlakyDatabase:
    def __init__(self) -> None:
        self.calls = 0
        self.fail = False

    def read(self, now: float) -> DatabaseFacts:
        self.calls += 1
        if self.fail:
            raise OSError("connection refused")
        return DatabaseFacts(frozen_map({"S": now - 300}), frozen_map({}), frozen_map({}), frozen_map({}), now)


def test_the_database_is_read_about_once_a_minute_and_failures_keep_the_last_facts(caplog):
    database = FlakyDatabase()
    with rig(estimate_seconds=0, poller_kwargs={"database": database}) as r:
        wake = r.at(BOUNDARY)
        assert database.calls == 1
        assert wake == BOUNDARY.timestamp() + poller_module.DB_EVERY
        first = r.snap.database
        database.fail = True
        with caplog.at_level(logging.WARNING, logger="exporter.poller"):
            for _ in range(3):
                wake = r.at(wake)
        assert database.calls == 4
        assert r.snap.database is first and r.snap.up
        assert caplog.text.count("reading the database for metrics failed") == 1


# --- run_forever ------------------------------------------------------------------------------------------------


def test_run_forever_waits_on_the_injected_wait_until_stopped():
    with rig(estimate_seconds=0) as r:
        clock = [BOUNDARY.timestamp()]
        r.poller._clock = lambda: clock[0]
        waits: list[float] = []
        stop = threading.Event()

        def wait(seconds: float) -> bool:
            waits.append(seconds)
            clock[0] += seconds
            r.sim.clock.set(dt.datetime.fromtimestamp(clock[0], dt.UTC))
            return len(waits) >= 3

        r.poller.run_forever(stop, wait=wait)
        assert waits == [300.0, 300.0, 300.0]  # boundary to boundary
        assert r.requests("prices_current") == 3
