"""AmberCollector: metrics built from a Snapshot (fixtures in tests/fixtures/amber/), one fresh registry per
test, the golden exposition, `promtool check metrics`, and the database metrics on the real TimescaleDB.

Regenerate the golden file after an intended change, then review its diff:
    AMBER_UPDATE_GOLDEN=1 uv run pytest tests/exporter/test_collector.py -k golden
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from amber import AmberClient, RateBudget, parse_price_intervals, parse_renewables, parse_sites
from amber.advisor import parse_loads
from amber.nemtime import nem_today
from amber.ratelimit import RateLimitHeaders
from exporter.collector import DESCRIPTORS, SPIKE_STATUSES, TARIFF_PERIODS, AmberCollector
from exporter.db_metrics import DatabaseMetricsReader, local_days
from exporter.mqtt import MqttCollector
from exporter.snapshot import (
    BackfillStatus,
    DatabaseFacts,
    GridRenewables,
    JobStatus,
    SiteEntry,
    SitePrices,
    Snapshot,
    SnapshotStore,
    channel_views,
    current_renewable,
    frozen_map,
    load_plans,
    state_for_site,
)
from runtime.settings import Settings

ROOT = Path(__file__).parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "amber"
GOLDEN = Path(__file__).with_name("golden_metrics.txt")
SITE = "01F5A5CRKMZ5BCX9P1S4V990AM"  # the active site in sites.json
CLOSED_SITE = "01E9A0X5MZGN3PAAVTH5TSB3W8"
# The fixtures' current interval is 12:00-12:30 NEM on 2021-05-05 (02:00-02:30 UTC); poll at 02:05:05.
POLLED_AT = dt.datetime(2021, 5, 5, 2, 5, 5, tzinfo=dt.UTC).timestamp()
SCRAPED_AT = POLLED_AT + 20
# Two loads for the amber_plan_* metrics: a dishwasher (now is its best hour) and a battery exporting in the
# fixture's best feed-in half hour, 13:00-13:30 NEM.
LOADS = parse_loads("dishwasher 1h 2kW, battery 30m feedIn")
SYDNEY = ZoneInfo("Australia/Sydney")


def load(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def fixture_intervals(*, spikes: bool = True):
    """current_prices.json; with `spikes`, the 13:00 general forecast is a potential spike and the 13:30 one
    a spike, so the next-spike metrics have something to show."""
    intervals = parse_price_intervals(load("current_prices.json"))
    if not spikes:
        return intervals
    marked = {"2021-05-05T03:00:00+00:00": "potential", "2021-05-05T03:30:00+00:00": "spike"}
    return [
        dataclasses.replace(i, spike_status=marked[i.end_time.isoformat()])
        if i.channel_type == "general" and i.interval_type == "ForecastInterval"
        else i
        for i in intervals
    ]


def fixture_snapshot(*, polled_at: float = POLLED_AT, spikes: bool = True, database: bool = True) -> Snapshot:
    sites = parse_sites(load("sites.json"))
    today = nem_today(dt.datetime.fromtimestamp(polled_at, dt.UTC))
    entries = tuple(SiteEntry(s, state_for_site(s.network, s.nmi), s.interval_minutes, s.is_live(today)) for s in sites)
    renewable = current_renewable(parse_renewables(load("renewables_current.json")))
    facts = DatabaseFacts(
        newest_actual_price_end=frozen_map({SITE: polled_at - 305}),
        newest_usage_end=frozen_map({SITE: polled_at - 86400}),
        cost_yesterday_cents=frozen_map({SITE: 412.5}),
        cost_month_to_date_cents=frozen_map({SITE: 1234.56789}),
        fetched_at=polled_at,
        jobs=(
            JobStatus("refresh", "price_hourly", True, polled_at - 600, 0, False),
            JobStatus("compression", "prices", False, polled_at - 5 * 86400, 7, False),
            JobStatus("job_history", "", True, None, 1, True),
        ),
        backfill=frozen_map({SITE: BackfillStatus(done_days=90, remaining_days=640, eta_seconds=1800.0,
                                                  updated_at=polled_at - 60)}),  # fmt: skip
    )
    return Snapshot(
        sites=entries,
        prices=frozen_map({SITE: SitePrices(channel_views(fixture_intervals(spikes=spikes)), polled_at,
                                            load_plans(fixture_intervals(spikes=spikes), LOADS, polled_at, SYDNEY))}),
        renewables=frozen_map({"vic": GridRenewables("vic", renewable, polled_at)}),
        database=facts if database else None,
        up=True,
        last_poll=polled_at,
        last_success=polled_at,
    )


class FixedBudget:
    remaining = 37
    limit = 50


def fixed_stats():
    return {"requests": {"sites": {"ok": 1}, "current_prices": {"ok": 12, "unavailable": 1}}}


def registry_for(snapshot: Snapshot, *, now: float = SCRAPED_AT, **kwargs) -> CollectorRegistry:
    registry = CollectorRegistry()
    kwargs.setdefault("price_threshold", 30.0)
    kwargs.setdefault("feed_in_threshold", 0.0)
    kwargs.setdefault("api_stats", fixed_stats)
    kwargs.setdefault("budget", FixedBudget())
    registry.register(AmberCollector(SnapshotStore(snapshot), clock=lambda: now, **kwargs))
    return registry


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def samples(registry: CollectorRegistry, name: str) -> list:
    return [s for m in registry.collect() for s in m.samples if s.name == name]


# --- prices and units --------------------------------------------------------------------------------


def test_prices_are_dollars_per_kwh():
    reg = registry_for(fixture_snapshot())
    assert value(reg, "amber_price_dollars_per_kwh", site_id=SITE, channel="general") == pytest.approx(0.27063)
    assert value(reg, "amber_price_dollars_per_kwh", site_id=SITE, channel="feedIn") == pytest.approx(-0.05983)
    assert value(reg, "amber_spot_price_dollars_per_kwh", site_id=SITE, channel="general") == pytest.approx(0.0623)
    for bound, cents in (("low", 24.663), ("predicted", 27.063), ("high", 33.263)):
        got = value(reg, "amber_advanced_price_dollars_per_kwh", site_id=SITE, channel="general", bound=bound)
        assert got == pytest.approx(cents / 100)


def test_conversion_leaves_no_float_noise():
    text = generate_latest(registry_for(fixture_snapshot())).decode()
    assert 'amber_price_dollars_per_kwh{channel="feedIn",site_id="%s"} -0.05983\n' % SITE in text


def test_estimate_interval_end_and_renewables_ratios():
    reg = registry_for(fixture_snapshot())
    assert value(reg, "amber_price_estimate", site_id=SITE, channel="general") == 1.0
    end = dt.datetime(2021, 5, 5, 2, 30, tzinfo=dt.UTC).timestamp()
    assert value(reg, "amber_interval_end_timestamp_seconds", site_id=SITE, channel="feedIn") == end
    assert value(reg, "amber_renewables_ratio", site_id=SITE) == pytest.approx(0.459)
    assert value(reg, "amber_grid_renewables_ratio", state="vic") == pytest.approx(0.459)


@pytest.mark.parametrize(
    ("name", "label", "states", "current"),
    [
        ("amber_spike_status", "status", SPIKE_STATUSES, "none"),
        ("amber_price_descriptor", "descriptor", DESCRIPTORS, "low"),
        ("amber_tariff_period", "period", TARIFF_PERIODS, "solarSponge"),
    ],
)
def test_state_sets_have_every_state_and_one_set(name, label, states, current):
    reg = registry_for(fixture_snapshot())
    for channel in ("general", "feedIn"):
        got = {s.labels[label]: s.value for s in samples(reg, name) if s.labels["channel"] == channel}
        assert set(got) == set(states)
        assert sum(got.values()) == 1.0
    general = {s.labels[label]: s.value for s in samples(reg, name) if s.labels["channel"] == "general"}
    assert general[current] == 1.0


def test_an_unknown_state_from_the_api_is_added_not_dropped():
    intervals = [
        dataclasses.replace(i, descriptor="superLow") if i.interval_type == "CurrentInterval" else i
        for i in fixture_intervals()
    ]
    snap = dataclasses.replace(fixture_snapshot(), prices=frozen_map({SITE: SitePrices(channel_views(intervals), POLLED_AT)}))
    reg = registry_for(snap)
    assert value(reg, "amber_price_descriptor", site_id=SITE, channel="general", descriptor="superLow") == 1.0
    assert value(reg, "amber_price_descriptor", site_id=SITE, channel="general", descriptor="low") == 0.0


def test_demand_window_and_no_tariff_information():
    reg = registry_for(fixture_snapshot())
    assert value(reg, "amber_demand_window", site_id=SITE, channel="general") == 0.0
    bare = [dataclasses.replace(i, tariff_information=None) for i in fixture_intervals()]
    snap = dataclasses.replace(fixture_snapshot(), prices=frozen_map({SITE: SitePrices(channel_views(bare), POLLED_AT)}))
    reg = registry_for(snap)
    assert samples(reg, "amber_tariff_period") == []
    assert samples(reg, "amber_demand_window") == []


# --- forecast headline ---------------------------------------------------------------------------------


def test_forecast_headline_uses_the_advanced_predicted_price():
    reg = registry_for(fixture_snapshot())
    # General forecasts after the current interval: 27.69 (13:00) and 33.85 (13:30), both within 1 h.
    for horizon in ("1h", "4h", "12h"):
        labels = dict(site_id=SITE, channel="general", horizon=horizon)
        assert value(reg, "amber_forecast_price_max_dollars_per_kwh", **labels) == pytest.approx(0.3385)
        assert value(reg, "amber_forecast_price_mean_dollars_per_kwh", **labels) == pytest.approx((0.2769 + 0.3385) / 2)


def test_forecast_headline_falls_back_to_per_kwh_and_respects_the_horizon():
    intervals = [
        dataclasses.replace(i, advanced_price=None, per_kwh=50.0 if i.end_time.hour == 3 and i.end_time.minute == 30 else i.per_kwh)
        for i in fixture_intervals()
    ]
    views = channel_views(intervals)
    general = next(v for v in views if v.channel == "general")
    # 13:30's interval ends 1 h after the current one ends: inside 1h. Half an hour less and it is not.
    assert dict(general.forecast_max)["1h"] == 50.0
    assert dict(general.forecast_mean)["1h"] == pytest.approx((27.69 + 50.0) / 2)
    short = [i for i in intervals if not (i.interval_type == "ForecastInterval" and i.end_time.minute == 0)]
    shifted = channel_views(
        [dataclasses.replace(i, end_time=i.end_time + dt.timedelta(minutes=30)) if i.interval_type == "ForecastInterval" else i
         for i in short]
    )
    assert "1h" not in dict(next(v for v in shifted if v.channel == "general").forecast_max)


def test_next_spike_timestamps_are_interval_starts():
    reg = registry_for(fixture_snapshot())
    potential = dt.datetime(2021, 5, 5, 2, 30, tzinfo=dt.UTC).timestamp()
    spike = dt.datetime(2021, 5, 5, 3, 0, tzinfo=dt.UTC).timestamp()
    assert value(reg, "amber_forecast_next_spike_timestamp_seconds", site_id=SITE, channel="general", status="potential") == potential
    assert value(reg, "amber_forecast_next_spike_timestamp_seconds", site_id=SITE, channel="general", status="spike") == spike
    # None forecast on feed-in: absent, not 0.
    assert value(reg, "amber_forecast_next_spike_timestamp_seconds", site_id=SITE, channel="feedIn", status="spike") is None


# --- site info, thresholds, health -------------------------------------------------------------------


def test_site_info_has_every_site_with_its_state():
    reg = registry_for(fixture_snapshot())
    infos = {s.labels["site_id"]: s.labels for s in samples(reg, "amber_site_info")}
    assert set(infos) == {SITE, CLOSED_SITE}
    assert infos[SITE] == {
        "site_id": SITE, "network": "Jemena", "state": "vic", "status": "active",
        "interval_length_minutes": "5",
    }  # fmt: skip
    assert infos[CLOSED_SITE]["status"] == "closed"
    # The NMI identifies the household's meter: no label may carry it, whatever the metric.
    exposition = generate_latest(reg).decode()
    assert "6407000000" not in exposition and "nmi" not in exposition.lower()


def test_thresholds_come_from_settings_in_dollars():
    defaults = Settings.from_env({})
    reg = registry_for(fixture_snapshot(), price_threshold=defaults.alert_price_above,
                       feed_in_threshold=defaults.alert_feed_in_above)  # fmt: skip
    assert value(reg, "amber_alert_price_threshold_dollars_per_kwh") == pytest.approx(0.30)
    assert value(reg, "amber_alert_feed_in_curtail_threshold_dollars_per_kwh") == 0.0
    custom = Settings.from_env({"ALERT_PRICE_ABOVE": "45.5", "ALERT_FEED_IN_ABOVE": "-2"})
    reg = registry_for(fixture_snapshot(), price_threshold=custom.alert_price_above,
                       feed_in_threshold=custom.alert_feed_in_above)  # fmt: skip
    assert value(reg, "amber_alert_price_threshold_dollars_per_kwh") == pytest.approx(0.455)
    assert value(reg, "amber_alert_feed_in_curtail_threshold_dollars_per_kwh") == pytest.approx(-0.02)


def test_api_request_counters_exist_at_zero_for_every_endpoint_and_outcome():
    client = AmberClient("psk_test_key", transport=None)
    try:
        reg = registry_for(fixture_snapshot(), api_stats=client.stats, budget=client.budget)
        got = {(s.labels["endpoint"], s.labels["outcome"]): s.value for s in samples(reg, "amber_api_requests_total")}
        assert len(got) == 5 * 7
        assert set(got.values()) == {0.0}
        assert value(reg, "amber_rate_limit_limit") == 50
        assert value(reg, "amber_rate_limit_remaining") == 50
    finally:
        client.close()


def test_rate_limit_gauges_follow_the_budget():
    budget = RateBudget(clock=lambda: 0.0)
    budget.observe(RateLimitHeaders(limit=60, remaining=17, reset_seconds=120, policy_limit=60, policy_window=300))
    reg = registry_for(fixture_snapshot(), budget=budget)
    assert value(reg, "amber_rate_limit_remaining") == 17
    assert value(reg, "amber_rate_limit_limit") == 60


def test_up_and_last_success():
    reg = registry_for(fixture_snapshot())
    assert value(reg, "amber_up") == 1.0
    assert value(reg, "amber_last_poll_success_timestamp_seconds") == POLLED_AT
    never = registry_for(Snapshot())
    assert value(never, "amber_up") == 0.0
    assert value(never, "amber_last_poll_success_timestamp_seconds") is None  # no success yet: absent, not 1970


# --- staleness and robustness ------------------------------------------------------------------------------


def test_prices_disappear_after_the_staleness_bound_but_up_and_info_stay():
    snap = dataclasses.replace(fixture_snapshot(), up=False)
    fresh = registry_for(snap, now=POLLED_AT + 900, stale_after=900)
    assert value(fresh, "amber_price_dollars_per_kwh", site_id=SITE, channel="general") == pytest.approx(0.27063)
    stale = registry_for(snap, now=POLLED_AT + 901, stale_after=900)
    for name in ("amber_price_dollars_per_kwh", "amber_spike_status", "amber_forecast_price_max_dollars_per_kwh",
                 "amber_grid_renewables_ratio", "amber_cost_yesterday_dollars"):  # fmt: skip
        assert samples(stale, name) == [], name
    assert value(stale, "amber_up") == 0.0
    assert len(samples(stale, "amber_site_info")) == 2


def test_a_failing_group_is_counted_and_the_rest_is_served(caplog):
    class Broken:
        @property
        def remaining(self):
            raise RuntimeError("boom")

        limit = 50

    reg = registry_for(fixture_snapshot(), budget=Broken())
    text = generate_latest(reg).decode()  # one scrape: no exception escapes it
    assert 'amber_price_dollars_per_kwh{channel="general",site_id="%s"} 0.27063' % SITE in text
    assert "amber_alert_price_threshold_dollars_per_kwh 0.3" in text
    assert "amber_exporter_scrape_errors_total 1.0" in text
    assert "amber_up " not in text  # the health group failed as a whole: nothing half-made
    assert "building metrics failed" in caplog.text


def test_no_secret_in_the_exposition():
    key = "psk_SECRET_KEY_z81"
    settings = Settings.from_env({"AMBER_API_KEY": key, "DATABASE_URL": "postgresql://amber:dbPW_secret_55@db/amber"})
    client = AmberClient(settings.api_key.reveal())
    try:
        reg = registry_for(fixture_snapshot(), api_stats=client.stats, budget=client.budget)
        text = generate_latest(reg).decode()
    finally:
        client.close()
    assert key not in text and "dbPW_secret_55" not in text


# --- the golden exposition and promtool --------------------------------------------------------------------


def golden_exposition() -> str:
    registry = registry_for(fixture_snapshot())
    registry.register(MqttCollector(SimpleNamespace(connected=True, published=42)))  # with MQTT_URL set
    return generate_latest(registry).decode()


def test_golden_exposition():
    text = golden_exposition()
    if os.environ.get("AMBER_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text, encoding="utf-8")
    assert GOLDEN.exists(), "golden file missing: AMBER_UPDATE_GOLDEN=1 uv run pytest tests/exporter/test_collector.py -k golden"
    assert text == GOLDEN.read_text(encoding="utf-8"), (
        "the exposition changed; if intended: AMBER_UPDATE_GOLDEN=1 uv run pytest tests/exporter/test_collector.py"
        " -k golden, and review the diff of tests/exporter/golden_metrics.txt"
    )


def test_golden_has_every_contract_metric():
    contract = (ROOT / "docs" / "metrics-contract.md").read_text(encoding="utf-8")
    names = {line.split("`")[1] for line in contract.splitlines() if line.startswith("| `amber_")}
    exported = {line.split(" ")[2] for line in golden_exposition().splitlines() if line.startswith("# TYPE")}
    assert names <= exported, f"contract metrics missing from the exposition: {sorted(names - exported)}"
    assert exported <= names, f"exported but not in docs/metrics-contract.md: {sorted(exported - names)}"


def promtool() -> str:
    """The promtool binary: $AMBER_PROMETHEUS_BIN, else `scripts/prometheus-tools bin`. Missing is a failure."""
    bin_dir = os.environ.get("AMBER_PROMETHEUS_BIN") or subprocess.run(
        [str(ROOT / "scripts" / "prometheus-tools"), "bin"], capture_output=True, text=True, check=True
    ).stdout.strip()
    path = Path(bin_dir) / "promtool"
    if not os.access(path, os.X_OK):
        pytest.fail(f"promtool not found at {path}: run scripts/prometheus-tools install (or ./scripts/test), "
                    "or set AMBER_PROMETHEUS_BIN to a directory holding promtool", pytrace=False)  # fmt: skip
    return str(path)


def test_promtool_check_metrics_accepts_the_exposition():
    # With the process and platform collectors too, as `amber-home export` serves it.
    from prometheus_client import GCCollector, PlatformCollector, ProcessCollector

    reg = registry_for(fixture_snapshot())
    ProcessCollector(registry=reg)
    PlatformCollector(registry=reg)
    GCCollector(registry=reg)
    for text in (golden_exposition(), generate_latest(reg).decode()):
        result = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.strip() == "" and result.stderr.strip() == "", result.stdout + result.stderr


# --- database metrics ---------------------------------------------------------------------------------------


def test_local_days_use_the_configured_zone():
    sydney = ZoneInfo("Australia/Sydney")
    # 2025-03-01 00:30 in Sydney is still 28 February in UTC.
    now = dt.datetime(2025, 3, 1, 0, 30, tzinfo=sydney).timestamp()
    days = local_days(now, sydney)
    assert (days["today"], days["yesterday"], days["month_start"]) == (
        dt.date(2025, 3, 1), dt.date(2025, 2, 28), dt.date(2025, 3, 1))  # fmt: skip
    assert days["since"] == dt.datetime(2025, 2, 28, tzinfo=sydney)
    mid = local_days(dt.datetime(2025, 3, 17, 9, tzinfo=sydney).timestamp(), sydney)
    assert mid["since"] == dt.datetime(2025, 3, 1, tzinfo=sydney)


def _seed(conn, site_id: str, now_local: dt.datetime) -> None:
    conn.execute(
        "INSERT INTO sites (site_id, nmi, network, status, interval_length_minutes, raw) "
        "VALUES (%s, '6407000000', 'Jemena', 'active', 30, '{}')", (site_id,)
    )
    for ident, kind in (("E1", "general"), ("B1", "feedIn")):
        conn.execute("INSERT INTO channels (site_id, identifier, type) VALUES (%s, %s, %s)", (site_id, ident, kind))

    def price(start: dt.datetime, kind: str, interval_type: str) -> None:
        end = start + dt.timedelta(minutes=30)
        conn.execute(
            "INSERT INTO prices (site_id, channel_type, interval_start, interval_end, nem_time, nem_date,"
            " duration_minutes, per_kwh, spot_per_kwh, renewables, descriptor, spike_status, interval_type, raw)"
            " VALUES (%s, %s, %s, %s, %s, %s, 30, 25, 5, 40, 'low', 'none', %s, '{}')",
            (site_id, kind, start, end, end, end.date(), interval_type),
        )

    def usage(start: dt.datetime, ident: str, kind: str, kwh: str, cost: str) -> None:
        end = start + dt.timedelta(minutes=30)
        conn.execute(
            "INSERT INTO usage (site_id, channel_identifier, channel_type, interval_start, interval_end, nem_time,"
            " nem_date, duration_minutes, kwh, cost, quality, per_kwh, spot_per_kwh, renewables, descriptor,"
            " spike_status, raw)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, 30, %s, %s, 'billable', 25, 5, 40, 'low', 'none', '{}')",
            (site_id, ident, kind, start, end, end, end.date(), Decimal(kwh), Decimal(cost)),
        )

    today = now_local.replace(hour=0, minute=0)
    # Actual prices up to 09:00 local today; forecasts after them must not count as "newest actual".
    price(today + dt.timedelta(hours=8, minutes=30), "general", "ActualInterval")
    price(today + dt.timedelta(hours=8), "feedIn", "ActualInterval")
    price(today + dt.timedelta(hours=9), "general", "CurrentInterval")
    price(today + dt.timedelta(hours=9, minutes=30), "general", "ForecastInterval")
    # Usage: two days before the month (must not count), yesterday, and earlier this month.
    usage(today - dt.timedelta(days=20), "E1", "general", "1.0", "9999")  # previous month
    usage(today - dt.timedelta(days=1) + dt.timedelta(hours=18), "E1", "general", "2.5", "250.125")
    usage(today - dt.timedelta(days=1) + dt.timedelta(hours=12), "B1", "feedIn", "-3.0", "-15.5")
    usage(today - dt.timedelta(days=5) + dt.timedelta(hours=7), "E1", "general", "1.2", "100")
    usage(today + dt.timedelta(hours=1), "E1", "general", "0.5", "10")


def test_database_metrics_from_timescaledb(apache_db):
    import psycopg

    from loader.aggregates import refresh_aggregates
    from loader.migrate import migrate

    zone = ZoneInfo("Australia/Sydney")
    migrate(apache_db, timezone="Australia/Sydney")
    now_local = dt.datetime(2025, 3, 17, 9, 10, tzinfo=zone)  # the 17th: yesterday and the month's start differ
    with psycopg.connect(apache_db) as conn:
        _seed(conn, SITE, now_local)
        conn.execute("INSERT INTO backfill_status VALUES (%s, 30, 10, 120.5, %s, NULL)", (SITE, now_local))
        conn.commit()
        refresh_aggregates(conn)
        conn.commit()

    now = now_local.timestamp()
    facts = DatabaseMetricsReader(apache_db, zone).read(now)
    nine = dt.datetime(2025, 3, 17, 9, 0, tzinfo=zone).timestamp()
    assert facts.newest_actual_price_end == {SITE: nine}
    assert facts.newest_usage_end == {SITE: dt.datetime(2025, 3, 17, 1, 30, tzinfo=zone).timestamp()}
    assert facts.cost_yesterday_cents[SITE] == pytest.approx(250.125 - 15.5)
    assert facts.cost_month_to_date_cents[SITE] == pytest.approx(250.125 - 15.5 + 100 + 10)
    assert facts.backfill == {SITE: BackfillStatus(30, 10, 120.5, now_local.timestamp())}

    snap = dataclasses.replace(fixture_snapshot(polled_at=now, database=False), database=facts)
    reg = registry_for(snap, now=now + 30)
    assert value(reg, "amber_loader_newest_actual_price_timestamp_seconds", site_id=SITE) == nine
    assert value(reg, "amber_cost_yesterday_dollars", site_id=SITE) == pytest.approx(2.34625)
    assert value(reg, "amber_cost_month_to_date_dollars", site_id=SITE) == pytest.approx(3.44625)


def test_database_metrics_of_an_empty_database_are_absent(apache_db):
    from loader.migrate import migrate

    migrate(apache_db, timezone="Australia/Sydney")
    now = dt.datetime(2025, 3, 17, tzinfo=dt.UTC).timestamp()
    facts = DatabaseMetricsReader(apache_db, ZoneInfo("Australia/Sydney")).read(now)
    assert facts.newest_actual_price_end == {} and facts.newest_usage_end == {}
    assert facts.cost_yesterday_cents == {} and facts.cost_month_to_date_cents == {}
    assert facts.backfill == {}
    reg = registry_for(dataclasses.replace(fixture_snapshot(polled_at=now), database=facts), now=now)
    assert samples(reg, "amber_cost_yesterday_dollars") == []  # no data: absent, never a made-up 0


def test_backfill_progress_counts_down_its_eta_and_reaches_zero():
    registry = registry_for(fixture_snapshot(), now=POLLED_AT)
    assert value(registry, "amber_backfill_remaining_history_seconds", site_id=SITE) == 640 * 86400
    assert value(registry, "amber_backfill_progress_ratio", site_id=SITE) == 90 / 730
    # Written a minute before the scrape with 30 minutes to go.
    assert value(registry, "amber_backfill_eta_seconds", site_id=SITE) == 1740
    late = registry_for(fixture_snapshot(), now=POLLED_AT + 3600)
    assert value(late, "amber_backfill_eta_seconds", site_id=SITE) in (None, 0.0)
