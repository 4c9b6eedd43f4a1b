"""The exporter's poll loop: the only code that calls the Amber API (and the database) for metrics.

    poller = Poller(client, store, site_ids=None, clock=time.time)
    next_wake = poller.poll_once(now)      # do whatever is due at `now`; tests drive this with a fake clock
    poller.run_forever(stop_event)         # production: poll_once, then wait on the event until next_wake

Schedule
    - /sites at start and every SITES_EVERY (3 h). Sites that are not live (Site.is_live: pending, not yet
      active, closed), and sites not in AMBER_SITE_ID when it is set, are described (amber_site_info) but
      not polled.
    - A *round* BOUNDARY_OFFSET (5 s) after every 5-minute boundary (amber.polling.DISPLAY, which says why
      the exporter polls earlier than the loader): per polled site
      /sites/{id}/prices/current with previous=1 and next = 24 h of intervals at the site's resolution
      (288 at 5 min, 48 at 30 min: the metrics' headline needs 12 h, MQTT's forecast attribute 24 h); then /state/{state}/renewables/current once per state of those sites.
      30-minute sites are polled every 5 minutes too: Amber recomputes their current price and forecast
      at every 5-minute dispatch, and one schedule keeps this simple.
    - Estimate re-polls: while a site's current interval is still an estimate, poll that site again every
      REPOLL_EVERY (45 s), at most MAX_REPOLLS (3) times per interval. For 30-minute sites only in the
      interval's last 5 minutes, when the final dispatch price can settle it (amber.polling.can_settle);
      before that it stays an estimate however often we ask.
    - After a failed round, retry every RETRY_EVERY (60 s) until the next boundary.
    - The database (when configured), every DB_EVERY (60 s), after the API work.

Request budget (Amber: about 50 requests per 5 minutes per account, shared with the loader)
    Scheduled requests per 5-minute window: E = sites + states (one round); +1 every 3 h for /sites.
    Extra requests (re-polls and retries) are allowed only while extras in the last 5 minutes stay below
    `request_share` - E (EXPORTER_REQUEST_SHARE, default 12), and only while the account has more than a
    fifth of its window left (RateLimit-Remaining); amber.ratelimit decides both. So the exporter sends at most max(E, share) + 1
    requests per 5 minutes: for one site, 2 scheduled + up to 3 re-polls = 5 of 50 in practice, 12 at
    most; the loader should keep `share` requests in reserve (RateBudget.acquire(reserve=12)).
    Nothing waits for the budget: when the account is rate limited (a 429 blocks the budget) or has no
    requests left, a round is skipped, not delayed; the client is built with no 429 waits and one quick
    retry (see exporter/__main__.py), so the loop never sleeps inside a request for long.

Health: `up` is True after a round in which every polled site's prices arrived; renewables and the
database are secondary and only logged. Exceptions never escape poll_once: the thread must not die.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol
from zoneinfo import ZoneInfo

from amber import nemtime
from amber.advisor import Load
from amber.client import AmberClient
from amber.errors import AmberAuthError, AmberError
from amber.models import STATES, Site
from amber.polling import DISPLAY, can_settle
from amber.ratelimit import DEFAULT_WINDOW, SlidingWindow
from exporter.snapshot import (
    ChannelView,
    DatabaseFacts,
    GridRenewables,
    SiteEntry,
    SitePrices,
    SnapshotStore,
    channel_views,
    current_renewable,
    frozen_map,
    load_plans,
    state_for_site,
)

logger = logging.getLogger(__name__)

WINDOW = DEFAULT_WINDOW  # seconds: Amber's rate-limit window
BOUNDARY_OFFSET = DISPLAY.delay.total_seconds()  # after each boundary: the new interval is out within seconds
REPOLL_EVERY = DISPLAY.repoll_every.total_seconds()
MAX_REPOLLS = DISPLAY.max_repolls
RETRY_EVERY = 60.0
SITES_EVERY = 3 * 3600.0
DB_EVERY = 60.0
FORECAST_HOURS = 24
MIN_REMAINING_FRACTION = 0.2  # extras only while the account has more than this share of its window left
DEFAULT_REQUEST_SHARE = 12
DEFAULT_ZONE = ZoneInfo("Australia/Sydney")  # AMBER_TIMEZONE's default


class DatabaseReader(Protocol):
    def read(self, now: float) -> DatabaseFacts: ...


def next_boundary(now: float) -> float:
    """The first round strictly after `now`: BOUNDARY_OFFSET past a 5-minute dispatch boundary."""
    return nemtime.next_boundary(now, offset=BOUNDARY_OFFSET)


def forecast_count(resolution: int) -> int:
    """How many forecast intervals cover FORECAST_HOURS at `resolution` minutes."""
    return FORECAST_HOURS * 60 // resolution


class Poller:
    def __init__(
        self,
        client: AmberClient,
        store: SnapshotStore,
        *,
        site_ids: Sequence[str] | None = None,
        request_share: int = DEFAULT_REQUEST_SHARE,
        database: DatabaseReader | None = None,
        loads: Sequence[Load] = (),
        zone: ZoneInfo = DEFAULT_ZONE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._store = store
        self._site_ids = tuple(site_ids) if site_ids else None
        self._share = request_share
        self._database = database
        self._loads = tuple(loads)
        self._zone = zone  # AMBER_TIMEZONE: the loads' `by` deadlines are local times
        self._clock = clock
        # Due times (Unix seconds); 0 means "now", so the first call fetches sites and runs a round.
        self._sites_due = 0.0
        self._sites_retrying = False
        self._round_due = 0.0
        self._retrying = False  # the next round is a retry of what failed (an extra)
        self._pending_sites: set[str] = set()
        self._pending_states: set[str] = set()
        self._repolls: dict[str, tuple[float, int]] = {}  # site id -> (due, re-polls done this interval)
        self._db_due = 0.0
        self._db_failing = False
        self._extras = SlidingWindow(WINDOW)  # times of extra requests in the last WINDOW
        self._site_ok: dict[str, bool] = {}
        self._warned: set[str] = set()
        self.counts = {"scheduled": 0, "extra": 0, "skipped": 0}  # requests let through or skipped

    # -- the loop -----------------------------------------------------------------------------------

    def run_forever(self, stop: threading.Event, *, wait: Callable[[float], bool] | None = None) -> None:
        """Poll until `stop` is set. `wait(seconds)` returns True when stopping (default: stop.wait)."""
        wait = wait or stop.wait
        logger.info("poll loop started (request share %d per 5 min)", self._share)
        while not stop.is_set():
            next_wake = self.poll_once(self._clock())
            if wait(max(0.0, next_wake - self._clock())):
                break
        logger.info("poll loop stopped")

    def poll_once(self, now: float) -> float:
        """Do what is due at `now` (Unix seconds); return when to call again (> now unless work is left)."""
        try:
            self._poll(now)
        except Exception:  # a bug must not kill the thread, nor spin it: push what is due back a little
            logger.exception("poll loop error; continuing")
            self._sites_due = max(self._sites_due, now + RETRY_EVERY)
            self._round_due = max(self._round_due, now + RETRY_EVERY)
            self._db_due = max(self._db_due, now + RETRY_EVERY)
            self._repolls.clear()
        due = [self._sites_due]
        if self._store.get().sites:
            due += [self._round_due, *(d for d, _ in self._repolls.values())]
        if self._database is not None:
            due.append(self._db_due)
        return max(now, min(due))

    def _poll(self, now: float) -> None:
        if now >= self._sites_due:
            self._refresh_sites(now)
        if self._store.get().sites:
            if now >= self._round_due:
                self._round(now)
            else:
                for site_id, (due, done) in list(self._repolls.items()):
                    if now >= due:
                        self._repoll(site_id, done, now)
        self._poll_database(now)

    # -- sites --------------------------------------------------------------------------------------

    def _refresh_sites(self, now: float) -> None:
        extra, self._sites_retrying = self._sites_retrying, True
        self._sites_due = now + RETRY_EVERY  # unless it works
        if not self._may_send(now, extra=extra):
            return
        try:
            sites = self._client.sites()
        except AmberError as exc:
            if self._store.get().sites:
                logger.warning("refreshing the site list failed (%s); keeping the old one", exc)
            else:
                self._record(now, None, exc, "sites")
            return
        self._sites_due, self._sites_retrying = now + SITES_EVERY, False
        today = nemtime.nem_today(dt.datetime.fromtimestamp(now, dt.UTC))
        entries = tuple(self._entry(site, today) for site in sites)
        if self._site_ids:
            missing = sorted(set(self._site_ids) - {s.id for s in sites})
            if missing:
                self._warn_once(f"missing:{missing}", "AMBER_SITE_ID names sites this API key cannot see: %s",
                                ", ".join(missing))  # fmt: skip
        polled = {e.site.id for e in entries if e.polled}
        if not polled:
            self._warn_once("no-sites", "no site to poll: the API key sees %d site(s), none live%s", len(sites),
                            " and in AMBER_SITE_ID" if self._site_ids else "")  # fmt: skip
        self._site_ok = {k: v for k, v in self._site_ok.items() if k in polled}
        polled_entries = [e for e in entries if e.polled]
        scheduled = len(polled_entries) + len(self._states(polled_entries))
        if scheduled >= self._share:
            self._warn_once("share", "EXPORTER_REQUEST_SHARE=%d leaves nothing beyond the %d requests of each round "
                            "(%d sites, %d states): estimate re-polls and retries are off", self._share, scheduled,
                            len(polled_entries), scheduled - len(polled_entries))  # fmt: skip
        self._store.update(lambda s: replace(
            s, sites=entries, prices=frozen_map((k, v) for k, v in s.prices.items() if k in polled),
        ))  # fmt: skip

    def _entry(self, site: Site, today: dt.date) -> SiteEntry:
        state = state_for_site(site.network, site.nmi)
        if state is None:
            self._warn_once(f"state:{site.id}", "site %s: cannot tell its state from network %r or its NMI; "
                            "no grid renewables for it", site.id, site.network)  # fmt: skip
        elif state not in STATES:
            self._warn_once(f"state:{site.id}", "site %s is in %s, for which Amber publishes no grid renewables",
                            site.id, state)  # fmt: skip
        polled = (not self._site_ids or site.id in self._site_ids) and site.is_live(today)
        return SiteEntry(site, state, site.interval_minutes, polled)

    def _polled(self) -> list[SiteEntry]:
        return [e for e in self._store.get().sites if e.polled]

    @staticmethod
    def _states(sites: list[SiteEntry]) -> dict[str, int]:
        """State -> finest resolution among its sites, for states Amber publishes renewables for."""
        states: dict[str, int] = {}
        for entry in sites:
            if entry.state in STATES:
                states[entry.state] = min(states.get(entry.state, entry.resolution), entry.resolution)
        return states

    # -- rounds and re-polls ------------------------------------------------------------------------

    def _round(self, now: float) -> None:
        """The scheduled poll of every site and state after a boundary, or a retry of what failed."""
        extra, self._retrying = self._retrying, False
        boundary = next_boundary(now)
        self._round_due = boundary
        sites, states = self._polled(), self._states(self._polled())
        if not extra:
            self._pending_sites = {e.site.id for e in sites}
            self._pending_states = set(states)
            self._repolls.clear()
        for entry in sites:
            if entry.site.id in self._pending_sites:
                if not self._may_send(now, extra=extra):
                    break
                if self._poll_site(entry, now):
                    self._pending_sites.discard(entry.site.id)
        for state, resolution in sorted(states.items()):
            if state in self._pending_states:
                if not self._may_send(now, extra=extra):
                    break
                if self._poll_state(state, resolution, now):
                    self._pending_states.discard(state)
        # Retry failed or skipped sites (and any state left over with them) until the next boundary.
        if self._pending_sites and now + RETRY_EVERY < boundary:
            self._round_due, self._retrying = now + RETRY_EVERY, True

    def _repoll(self, site_id: str, done: int, now: float) -> None:
        del self._repolls[site_id]
        entry = next((e for e in self._polled() if e.site.id == site_id), None)
        if entry is not None and self._may_send(now, extra=True):
            self._poll_site(entry, now, repolls_done=done + 1)

    def _poll_site(self, entry: SiteEntry, now: float, *, repolls_done: int = 0) -> bool:
        site = entry.site
        try:
            intervals = self._client.current_prices(
                site.id, next=forecast_count(entry.resolution), previous=1, resolution=entry.resolution
            )
        except AmberError as exc:
            self._record(now, site.id, exc, f"site {site.id}")
            return False
        views = channel_views(intervals)
        if not views:
            self._record(now, site.id, None, f"site {site.id}: /prices/current had no CurrentInterval")
            return False
        plans = load_plans(intervals, self._loads, now, self._zone)  # recomputed with every new forecast
        self._store.update(lambda s: replace(s, prices=frozen_map({**s.prices, site.id: SitePrices(views, now, plans)})))
        self._record(now, site.id, None, None)
        self._schedule_repoll(entry, views, now, repolls_done)
        return True

    def _schedule_repoll(self, entry: SiteEntry, views: tuple[ChannelView, ...], now: float, done: int) -> None:
        estimating = [v.current.end_time.timestamp() for v in views if v.current.estimate]
        if not estimating or done >= MAX_REPOLLS:
            return
        end = min(estimating)
        if not can_settle(end, now):
            return  # a 30-minute interval can settle only in its last 5 minutes
        due = now + REPOLL_EVERY
        if due < end + BOUNDARY_OFFSET:  # else the boundary round comes first
            self._repolls[entry.site.id] = (due, done)

    def _poll_state(self, state: str, resolution: int, now: float) -> bool:
        try:
            item = current_renewable(self._client.current_renewables(state, resolution=resolution))
        except AmberError as exc:
            logger.warning("grid renewables for %s: %s", state, exc)
            return False
        if item is None:
            logger.warning("grid renewables for %s: the answer had no CurrentRenewable", state)
            return False
        grid = GridRenewables(state, item, now)
        self._store.update(lambda s: replace(s, renewables=frozen_map({**s.renewables, state: grid})))
        return True

    # -- budget -------------------------------------------------------------------------------------

    def _may_send(self, now: float, *, extra: bool) -> bool:
        """Whether one more request fits now; counts it when it does. Never waits."""
        budget = self._client.budget
        if not budget.can_spare(0):
            return self._skip("the account is rate limited or out of requests until its window resets")
        if extra:
            polled = self._polled()
            scheduled = len(polled) + len(self._states(polled))
            if self._extras.count(now) >= self._share - scheduled:
                return self._skip(f"the exporter's request share ({self._share} per 5 min) is used up")
            if not budget.can_spare(int(budget.limit * MIN_REMAINING_FRACTION)):
                return self._skip("the account's budget is low; leaving it to the loader")
            self._extras.add(now)
        self.counts["extra" if extra else "scheduled"] += 1
        return True

    def _skip(self, why: str) -> bool:
        self.counts["skipped"] += 1
        logger.info("skipping an Amber API request: %s", why)
        return False

    # -- database -----------------------------------------------------------------------------------

    def _poll_database(self, now: float) -> None:
        if self._database is None or now < self._db_due:
            return
        self._db_due = now + DB_EVERY
        try:
            facts = self._database.read(now)
        except Exception as exc:  # noqa: BLE001  optional: log, keep the last facts until they go stale
            if not self._db_failing:
                logger.warning("reading the database for metrics failed (%s: %s); retrying every %.0f s",
                               type(exc).__name__, exc, DB_EVERY)  # fmt: skip
            self._db_failing = True
            return
        if self._db_failing:
            logger.info("reading the database for metrics works again")
        self._db_failing = False
        self._store.update(lambda s: replace(s, database=facts))

    # -- health -------------------------------------------------------------------------------------

    def _record(self, now: float, site_id: str | None, exc: AmberError | None, problem: str | None) -> None:
        """Note one poll's outcome. up = the last poll of every polled site succeeded."""
        failed = problem is not None
        if site_id is not None:
            self._site_ok[site_id] = not failed
        polled = [e.site.id for e in self._polled()]
        up = bool(polled) and all(self._site_ok.get(i, False) for i in polled)
        if failed:
            message = f"{problem}: {exc}" if exc is not None else problem
            first = self._store.get().consecutive_failures == 0
            # Auth errors need the operator, so they stay loud; a run of other failures is logged quietly.
            log = logger.error if first or isinstance(exc, AmberAuthError) else logger.warning
            log("Amber API poll failed: %s", message)
            self._store.update(lambda s: replace(
                s, up=up, last_poll=now, last_error=message, consecutive_failures=s.consecutive_failures + 1
            ))  # fmt: skip
        elif up:
            if self._store.get().consecutive_failures:
                logger.info("Amber API polls succeed again")
            self._store.update(lambda s: replace(
                s, up=True, last_poll=now, last_success=now, last_error=None, consecutive_failures=0
            ))  # fmt: skip
        else:
            self._store.update(lambda s: replace(s, last_poll=now))

    def _warn_once(self, key: str, message: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(message, *args)
