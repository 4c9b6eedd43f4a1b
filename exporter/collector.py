"""Prometheus metrics built per scrape from the poll loop's Snapshot (docs/metrics-contract.md).

client_python's custom-collector pattern: `collect()` reads `store.get()` once and yields fresh metric
families; nothing here calls the Amber API or the database, so a scrape costs the same whether the API
is up or down. Units are converted at this edge only: c/kWh -> $/kWh (/100), percent -> ratio (/100),
cents -> dollars (/100).

Staleness is applied here, against `clock()`: a site's price series (and a state's renewables, and the
database facts) disappear once their last successful poll is older than `stale_after` seconds, so a
stuck poll loop cannot keep serving old prices. `amber_up` says whether the last poll worked.

Each group of families is built separately; a bug in one group is logged, counted in
`amber_exporter_scrape_errors_total`, and the rest of the scrape is still served (never a 500).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from amber.client import ENDPOINTS, OUTCOMES
from exporter.snapshot import (
    HORIZONS,
    NEXT_SPIKE_STATUSES,
    BackfillStatus,
    ChannelView,
    Snapshot,
    SnapshotStore,
    fresh,
)

logger = logging.getLogger(__name__)

# State sets: every state is exported (0/1), in this order; an unknown value from the API is added.
SPIKE_STATUSES = ("none", "potential", "spike")
DESCRIPTORS = ("negative", "extremelyLow", "veryLow", "low", "neutral", "high", "spike")
TARIFF_PERIODS = ("offPeak", "shoulder", "solarSponge", "peak")
BOUNDS = ("low", "predicted", "high")

_CACHED = "Cached by the exporter's poll loop; scrapes never call the API."
_PRICES = f"From Amber /sites/{{id}}/prices/current. {_CACHED}"
_DB = "From the loader's database, read by the exporter about once a minute; scrapes never query it."


class _Budget(Protocol):
    @property
    def remaining(self) -> int: ...

    @property
    def limit(self) -> int: ...


def _dollars(cents: float) -> float:
    # Rounded so 26.755 c reads 0.26755, not 0.26755000000000001; 10 places keep every digit Amber sends.
    return round(cents / 100.0, 10)


def _ratio(percent: float) -> float:
    return round(percent / 100.0, 10)


def _states(current: str, known: tuple[str, ...]) -> tuple[str, ...]:
    return known if current in known else (*known, current)


class AmberCollector(Collector):
    """Register on a CollectorRegistry; every scrape reads the store's current Snapshot.

    `api_stats` is AmberClient.stats and `budget` its RateBudget (both in-process counters, no I/O).
    Thresholds are in c/kWh as configured (ALERT_PRICE_ABOVE, ALERT_FEED_IN_ABOVE).
    """

    def __init__(
        self,
        store: SnapshotStore,
        *,
        price_threshold: float | None = None,
        feed_in_threshold: float | None = None,
        stale_after: float = 900.0,
        api_stats: Callable[[], Mapping[str, Any]] | None = None,
        budget: _Budget | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._price_threshold = price_threshold
        self._feed_in_threshold = feed_in_threshold
        self._stale_after = stale_after
        self._api_stats = api_stats
        self._budget = budget
        self._clock = clock
        self._errors = 0
        self._errors_lock = threading.Lock()

    def collect(self) -> Iterator[Metric]:
        snapshot = self._store.get()
        now = self._clock()
        for group in (self._site_families, self._plan_families, self._renewables_families, self._health_families,
                      self._threshold_families, self._database_families):  # fmt: skip
            try:
                # Built fully before yielding, so a failing group adds nothing half-made.
                families = list(group(snapshot, now))
            except Exception:
                with self._errors_lock:
                    self._errors += 1
                    first = self._errors == 1
                # The first failure with its traceback; later ones briefly (scrapes come every 30 s).
                if first:
                    logger.exception("building metrics failed in %s; serving the rest", group.__name__)
                else:
                    logger.warning("building metrics failed in %s; serving the rest", group.__name__)
                continue
            yield from families
        errors = CounterMetricFamily(
            "amber_exporter_scrape_errors",
            "Failures while building a scrape from the cache (should stay 0; see the exporter log).",
            value=self._errors,
        )
        yield errors

    # -- sites and prices ---------------------------------------------------------------------------

    def _fresh(self, fetched_at: float, now: float) -> bool:
        return fresh(fetched_at, now, self._stale_after)

    def _site_families(self, snap: Snapshot, now: float) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "amber_site_info",
            f"Amber site (from /sites; value always 1). {_CACHED}",
            # No NMI: Prometheus and Grafana's Explore serve every label to anonymous viewers, and the NMI
            # identifies the household's meter to the network and retailer (SECURITY.md).
            labels=["site_id", "network", "state", "status", "interval_length_minutes"],
        )
        for entry in snap.sites:
            site = entry.site
            info.add_metric([site.id, site.network or "", entry.state or "unknown", site.status, str(entry.resolution)], 1)
        yield info

        ch = ["site_id", "channel"]
        price = GaugeMetricFamily("amber_price_dollars_per_kwh",
                                  f"Current interval's price in AUD/kWh incl. GST (feed-in: negative = paid). {_PRICES}",
                                  labels=ch)
        spot = GaugeMetricFamily("amber_spot_price_dollars_per_kwh",
                                 f"Current interval's NEM wholesale spot price in AUD/kWh. {_PRICES}", labels=ch)
        estimate = GaugeMetricFamily("amber_price_estimate",
                                     f"1 while the current interval's price is still an estimate. {_PRICES}", labels=ch)
        advanced = GaugeMetricFamily("amber_advanced_price_dollars_per_kwh",
                                     f"Amber's advanced price for the current interval in AUD/kWh. {_PRICES}",
                                     labels=[*ch, "bound"])
        spike = GaugeMetricFamily("amber_spike_status",
                                  f"Current spike status as a state set (1 for the current status). {_PRICES}",
                                  labels=[*ch, "status"])
        descriptor = GaugeMetricFamily("amber_price_descriptor",
                                       f"Current price descriptor as a state set. {_PRICES}",
                                       labels=[*ch, "descriptor"])
        period = GaugeMetricFamily("amber_tariff_period",
                                   f"Current time-of-use period as a state set (absent without tariff information). {_PRICES}",
                                   labels=[*ch, "period"])
        demand = GaugeMetricFamily("amber_demand_window",
                                   f"1 inside the network's demand window. {_PRICES}", labels=ch)
        renewables = GaugeMetricFamily("amber_renewables_ratio",
                                       f"Renewables share of the site's region in the current interval, 0-1. {_PRICES}",
                                       labels=["site_id"])
        end = GaugeMetricFamily("amber_interval_end_timestamp_seconds",
                                f"End of the current interval (Unix time). {_PRICES}", labels=ch)
        fmax = GaugeMetricFamily("amber_forecast_price_max_dollars_per_kwh",
                                 f"Highest predicted price over the horizon after the current interval, AUD/kWh "
                                 f"(advanced predicted price, else perKwh). {_PRICES}", labels=[*ch, "horizon"])
        fmean = GaugeMetricFamily("amber_forecast_price_mean_dollars_per_kwh",
                                  f"Mean predicted price over the horizon after the current interval, AUD/kWh. {_PRICES}",
                                  labels=[*ch, "horizon"])
        nspike = GaugeMetricFamily("amber_forecast_next_spike_timestamp_seconds",
                                   f"Start of the next forecast interval with this spike status (Unix time); "
                                   f"absent when none is forecast. {_PRICES}", labels=[*ch, "status"])  # fmt: skip

        for site_id, prices in sorted(snap.prices.items()):
            if not self._fresh(prices.fetched_at, now):
                continue
            for view in prices.channels:
                self._add_channel(site_id, view, price, spot, estimate, advanced, spike, descriptor, period, demand,
                                  end, fmax, fmean, nspike)  # fmt: skip
            if prices.channels:
                renewables.add_metric([site_id], _ratio(prices.channels[0].current.renewables))
        yield from (price, spot, estimate, advanced, spike, descriptor, period, demand, renewables, end, fmax, fmean,
                    nspike)  # fmt: skip

    @staticmethod
    def _add_channel(site_id: str, view: ChannelView, price, spot, estimate, advanced, spike, descriptor, period,
                     demand, end, fmax, fmean, nspike) -> None:  # fmt: skip
        labels = [site_id, view.channel]
        cur = view.current
        price.add_metric(labels, _dollars(cur.per_kwh))
        spot.add_metric(labels, _dollars(cur.spot_per_kwh))
        estimate.add_metric(labels, 1.0 if cur.estimate else 0.0)
        if cur.advanced_price is not None:
            for bound in BOUNDS:
                advanced.add_metric([*labels, bound], _dollars(getattr(cur.advanced_price, bound)))
        for status in _states(cur.spike_status, SPIKE_STATUSES):
            spike.add_metric([*labels, status], 1.0 if status == cur.spike_status else 0.0)
        for name in _states(cur.descriptor, DESCRIPTORS):
            descriptor.add_metric([*labels, name], 1.0 if name == cur.descriptor else 0.0)
        tariff = cur.tariff_information
        if tariff is not None and tariff.period is not None:
            for name in _states(tariff.period, TARIFF_PERIODS):
                period.add_metric([*labels, name], 1.0 if name == tariff.period else 0.0)
        if tariff is not None:
            demand.add_metric(labels, 1.0 if tariff.demand_window else 0.0)
        end.add_metric(labels, cur.end_time.timestamp())
        order = {name: i for i, (name, _) in enumerate(HORIZONS)}
        for horizon, value in sorted(view.forecast_max, key=lambda hv: order[hv[0]]):
            fmax.add_metric([*labels, horizon], _dollars(value))
        for horizon, value in sorted(view.forecast_mean, key=lambda hv: order[hv[0]]):
            fmean.add_metric([*labels, horizon], _dollars(value))
        for status, start in sorted(view.next_spike, key=lambda sv: NEXT_SPIKE_STATUSES.index(sv[0])):
            nspike.add_metric([*labels, status], start)

    def _plan_families(self, snap: Snapshot, now: float) -> Iterator[Metric]:
        """The cheapest window of each AMBER_LOADS load in the cached forecast (amber/advisor.py)."""
        labels = ["site_id", "load", "channel"]
        plan = f"Cheapest window of the load (AMBER_LOADS) in the forecast, computed at each poll. {_PRICES}"
        start = GaugeMetricFamily("amber_plan_window_start_timestamp_seconds", f"Start (Unix time). {plan}",
                                  labels=labels)
        end = GaugeMetricFamily("amber_plan_window_end_timestamp_seconds", f"End (Unix time). {plan}", labels=labels)
        price = GaugeMetricFamily("amber_plan_price_dollars_per_kwh",
                                  f"Mean predicted price over the window, AUD/kWh (feedIn: negative = paid). {plan}",
                                  labels=labels)
        saving = GaugeMetricFamily("amber_plan_saving_dollars_per_kwh",
                                   f"Mean price of starting now minus the window's, AUD/kWh (0: now is best). {plan}",
                                   labels=labels)
        saving_total = GaugeMetricFamily("amber_plan_saving_dollars",
                                         f"The saving in AUD for a load with a power (kW in AMBER_LOADS). {plan}",
                                         labels=labels)
        band = GaugeMetricFamily("amber_plan_advanced_price_dollars_per_kwh",
                                 f"Mean advancedPrice low/high over the window, AUD/kWh: how sure the forecast is; "
                                 f"absent when Amber sends none. {plan}", labels=[*labels, "bound"])  # fmt: skip
        for site_id, prices in sorted(snap.prices.items()):
            if not self._fresh(prices.fetched_at, now):
                continue
            for window in prices.plans:
                key = [site_id, window.load.name, window.load.channel]
                start.add_metric(key, window.start.timestamp())
                end.add_metric(key, window.end.timestamp())
                price.add_metric(key, _dollars(float(window.mean_price)))
                saving.add_metric(key, _dollars(float(window.saving_per_kwh)))
                if window.saving_cents is not None:
                    saving_total.add_metric(key, _dollars(float(window.saving_cents)))
                for bound in ("low", "high"):
                    if getattr(window, bound) is not None:
                        band.add_metric([*key, bound], _dollars(float(getattr(window, bound))))
        yield from (start, end, price, saving, saving_total, band)

    def _renewables_families(self, snap: Snapshot, now: float) -> Iterator[Metric]:
        grid = GaugeMetricFamily(
            "amber_grid_renewables_ratio",
            f"Renewables share of the state's grid in the current interval, 0-1. "
            f"From Amber /state/{{state}}/renewables/current. {_CACHED}",
            labels=["state"],
        )
        for state, item in sorted(snap.renewables.items()):
            if self._fresh(item.fetched_at, now):
                grid.add_metric([state], _ratio(item.current.renewables))
        yield grid

    # -- health -------------------------------------------------------------------------------------

    def _health_families(self, snap: Snapshot, now: float) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "amber_up", f"1 when the exporter's last poll of the Amber API succeeded. {_CACHED}", value=1.0 if snap.up else 0.0
        )
        if snap.last_success is not None:
            yield GaugeMetricFamily(
                "amber_last_poll_success_timestamp_seconds",
                f"Time of the exporter's last successful Amber API poll (Unix time). {_CACHED}",
                value=snap.last_success,
            )
        if self._api_stats is not None:
            requests = CounterMetricFamily(
                "amber_api_requests",
                "Amber API requests sent by this exporter's poll loop, by endpoint and outcome (HTTP attempts, "
                f"retries included), counted in-process by its Amber client. {_CACHED}",
                labels=["endpoint", "outcome"],
            )
            counts = self._api_stats().get("requests", {})
            endpoints = list(ENDPOINTS) + sorted(set(counts) - set(ENDPOINTS))
            for endpoint in endpoints:
                by_outcome = counts.get(endpoint, {})
                outcomes = list(OUTCOMES) + sorted(set(by_outcome) - set(OUTCOMES))
                for outcome in outcomes:
                    requests.add_metric([endpoint, outcome], float(by_outcome.get(outcome, 0)))
            yield requests
            dropped = CounterMetricFamily(
                "amber_api_dropped_intervals",
                "Intervals from the Amber API that this exporter's client dropped because their data was impossible "
                f"(a number that is not finite, endTime not after startTime, a duration out of range). {_CACHED}",
                labels=["endpoint"],
            )
            by_endpoint = self._api_stats().get("dropped_intervals", {})
            for endpoint in list(ENDPOINTS) + sorted(set(by_endpoint) - set(ENDPOINTS)):
                dropped.add_metric([endpoint], float(by_endpoint.get(endpoint, 0)))
            yield dropped
        if self._budget is not None:
            yield GaugeMetricFamily(
                "amber_rate_limit_remaining",
                f"Amber API requests left in the account's current window (RateLimit-* headers, shared with the "
                f"loader), as this exporter's client last saw it. {_CACHED}",
                value=self._budget.remaining,
            )
            yield GaugeMetricFamily(
                "amber_rate_limit_limit",
                f"Amber API requests allowed per window for the account (RateLimit-Policy/Limit headers). {_CACHED}",
                value=self._budget.limit,
            )

    def _threshold_families(self, snap: Snapshot, now: float) -> Iterator[Metric]:
        if self._price_threshold is not None:
            yield GaugeMetricFamily(
                "amber_alert_price_threshold_dollars_per_kwh",
                "Alert threshold for the general price in AUD/kWh (ALERT_PRICE_ABOVE, set in c/kWh).",
                value=_dollars(self._price_threshold),
            )
        if self._feed_in_threshold is not None:
            yield GaugeMetricFamily(
                "amber_alert_feed_in_curtail_threshold_dollars_per_kwh",
                "Feed-in price in AUD/kWh above which exporting should be curtailed (ALERT_FEED_IN_ABOVE, set in c/kWh).",
                value=_dollars(self._feed_in_threshold),
            )

    # -- database -----------------------------------------------------------------------------------

    def _database_families(self, snap: Snapshot, now: float) -> Iterator[Metric]:
        facts = snap.database
        if facts is None or not self._fresh(facts.fetched_at, now):
            return
        site = ["site_id"]
        for name, help_text, values, convert in (
            ("amber_loader_newest_actual_price_timestamp_seconds",
             "End of the newest ActualInterval price stored by the loader (Unix time).",
             facts.newest_actual_price_end, float),
            ("amber_loader_newest_usage_timestamp_seconds",
             "End of the newest usage interval stored by the loader (Unix time).",
             facts.newest_usage_end, float),
            ("amber_cost_yesterday_dollars",
             ("Yesterday's net cost in AUD incl. GST (local day in AMBER_TIMEZONE; imports minus feed-in credits, "
              "from cost_daily)."),
             facts.cost_yesterday_cents, _dollars),
            ("amber_cost_month_to_date_dollars",
             "This month's net cost so far in AUD incl. GST (local days in AMBER_TIMEZONE, from cost_daily).",
             facts.cost_month_to_date_cents, _dollars),
        ):  # fmt: skip
            family = GaugeMetricFamily(name, f"{help_text} {_DB}", labels=site)
            for site_id, value in sorted(values.items()):
                family.add_metric([site_id], convert(value))
            yield family
        yield from self._job_families(facts.jobs)
        yield from _backfill_families(facts.backfill, now)

    def _job_families(self, jobs) -> Iterator[Metric]:
        labels = ["policy", "relation"]
        ok = GaugeMetricFamily(
            "amber_timescaledb_job_ok",
            "1 while the TimescaleDB background job does its work, 0 when it fails, is stale or overdue "
            f"(amber-home doctor says why). {_DB}",
            labels=labels,
        )
        done = GaugeMetricFamily(
            "amber_timescaledb_job_last_work_done_timestamp_seconds",
            "When the job last did its work (Unix time; runs ending with the known 'cannot drop portal' error "
            f"count). {_DB}",
            labels=labels,
        )
        known = GaugeMetricFamily(
            "amber_timescaledb_job_known_failure",
            "1 when the job's last run ended with a known, harmless error (cannot drop portal after its work; a "
            f"TSL job on the Apache build). {_DB}",
            labels=labels,
        )
        failures = CounterMetricFamily(
            "amber_timescaledb_job_failures",
            f"Runs of the job that TimescaleDB counted as failed. {_DB}",
            labels=labels,
        )
        for job in sorted(jobs, key=lambda j: (j.policy, j.relation)):
            key = [job.policy, job.relation]
            ok.add_metric(key, 1.0 if job.ok else 0.0)
            if job.last_work_done is not None:
                done.add_metric(key, job.last_work_done)
            known.add_metric(key, 1.0 if job.known_failure else 0.0)
            failures.add_metric(key, job.failures)
        yield from (ok, done, known, failures)


def _backfill_families(backfill: Mapping[str, BackfillStatus], now: float) -> Iterator[Metric]:
    """The backfill's progress per site (backfill_status, sql/012): the share of the history stored, how
    much history is still to fetch, and the seconds left of the run, counted down from when the backfill
    last wrote its estimate."""
    site = ["site_id"]
    progress = GaugeMetricFamily("amber_backfill_progress_ratio",
                                 f"Share of the wanted history (prices and usage) the backfill has stored; 1 when "
                                 f"it has finished. {_DB}", labels=site)  # fmt: skip
    remaining = GaugeMetricFamily("amber_backfill_remaining_history_seconds",
                                  f"Length of the history the backfill still has to fetch (prices and usage "
                                  f"counted separately); 0 when it has finished. {_DB}", labels=site)  # fmt: skip
    eta = GaugeMetricFamily("amber_backfill_eta_seconds",
                            f"Estimated seconds until the running backfill finishes (rate limit included). {_DB}",
                            labels=site)  # fmt: skip
    updated = GaugeMetricFamily("amber_backfill_updated_timestamp_seconds",
                                f"When the backfill last recorded its progress (Unix time). {_DB}", labels=site)  # fmt: skip
    for site_id, status in sorted(backfill.items()):
        wanted = status.done_days + status.remaining_days
        progress.add_metric([site_id], status.done_days / wanted if wanted else 1.0)
        remaining.add_metric([site_id], float(status.remaining_days * 86400))
        if status.eta_seconds is not None:
            eta.add_metric([site_id], max(0.0, status.eta_seconds - max(0.0, now - status.updated_at)))
        updated.add_metric([site_id], status.updated_at)
    yield from (progress, remaining, eta, updated)
