"""RateBudget on a fake clock: it waits instead of overspending, and never really sleeps."""

from __future__ import annotations

import threading

import pytest

from amber import RateBudget, RateLimitHeaders, parse_rate_limit_headers
from amber.ratelimit import SlidingWindow, can_spare, usable_reserve


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def make_budget(clock: FakeClock, **kwargs) -> RateBudget:
    return RateBudget(clock=clock, sleeper=clock.sleep, **kwargs)


def max_in_any_window(times: list[float], window: float) -> int:
    """Most requests inside any half-open window [t, t + window)."""
    times = sorted(times)
    best = 0
    for i, start in enumerate(times):
        best = max(best, sum(1 for t in times[i:] if t < start + window))
    return best


# --- header parsing -------------------------------------------------------------------------------


def test_parse_amber_headers():
    parsed = parse_rate_limit_headers(
        {"RateLimit-Limit": "50", "RateLimit-Remaining": "7", "RateLimit-Reset": "113", "RateLimit-Policy": "50;w=300"}
    )
    assert parsed == RateLimitHeaders(
        limit=50, remaining=7, reset_seconds=113.0, policy="50;w=300", policy_limit=50, policy_window=300.0
    )


def test_header_names_are_case_insensitive():
    parsed = parse_rate_limit_headers({"ratelimit-remaining": "3", "RETRY-AFTER": "42"})
    assert (parsed.remaining, parsed.retry_after) == (3, 42.0)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("50;w=300", (50, 300.0)),
        ("50;w=300, 1000;w=86400", (50, 300.0)),  # several policies: the first is the tightest window
        ('"default";q=20;w=60', (20, 60.0)),  # later draft syntax
        ("50", (50, None)),
        ("garbage", (None, None)),
        ("", (None, None)),
    ],
)
def test_parse_policy(policy, expected):
    parsed = parse_rate_limit_headers({"RateLimit-Policy": policy})
    assert (parsed.policy_limit, parsed.policy_window) == expected


def test_retry_after_http_date_is_relative_to_the_response_date():
    parsed = parse_rate_limit_headers(
        {"Retry-After": "Wed, 05 May 2021 02:31:30 GMT", "Date": "Wed, 05 May 2021 02:30:00 GMT"}
    )
    assert parsed.retry_after == 90.0
    assert parse_rate_limit_headers({"Retry-After": "Wed, 05 May 2021 02:31:30 GMT"}).retry_after is None


def test_unreadable_headers_are_none_not_errors():
    parsed = parse_rate_limit_headers(
        {"RateLimit-Limit": "lots", "RateLimit-Remaining": "", "RateLimit-Reset": "-", "Retry-After": "soon"}
    )
    assert parsed == RateLimitHeaders(limit=None, remaining=None, reset_seconds=None, policy=None, retry_after=None)


# --- the sliding window -------------------------------------------------------------------------


def test_never_more_than_50_in_any_300_seconds_and_waits_instead():
    clock = FakeClock()
    budget = make_budget(clock)
    sent = []
    for _ in range(175):
        budget.acquire()
        sent.append(clock.now)
    assert max_in_any_window(sent, 300.0) == 50
    # The first 50 go at once; every later one waited for the oldest to leave the window.
    assert sent[:50] == [1000.0] * 50
    assert sent[50] == 1300.0
    assert clock.sleeps and sum(clock.sleeps) == pytest.approx(sent[-1] - 1000.0)
    assert budget.requests_sent == 175


def test_spread_out_requests_never_wait():
    clock = FakeClock()
    budget = make_budget(clock)
    for _ in range(200):
        assert budget.acquire() == 0.0
        clock.now += 6.0  # exactly 50 per 300 s
    assert clock.sleeps == []


def test_limit_and_window_are_configurable():
    clock = FakeClock()
    budget = make_budget(clock, limit=5, window=60.0)
    sent = []
    for _ in range(12):
        budget.acquire()
        sent.append(clock.now)
    assert max_in_any_window(sent, 60.0) == 5
    assert sent[5] == 1060.0


def test_reserve_from_constructor_keeps_requests_back():
    clock = FakeClock()
    budget = make_budget(clock, reserve=10)
    for _ in range(40):
        budget.acquire()
    assert clock.sleeps == []
    budget.acquire()  # the 41st must wait: 10 are kept for the other process
    assert clock.now == 1300.0


def test_reserve_per_call_overrides_constructor():
    clock = FakeClock()
    budget = make_budget(clock)
    for _ in range(45):
        budget.acquire(reserve=5)
    waited = budget.acquire(reserve=5)
    assert waited == pytest.approx(300.0)
    # The exporter's own budget (no reserve) in the same window could still go.
    clock2 = FakeClock()
    other = make_budget(clock2)
    for _ in range(50):
        other.acquire(reserve=0)
    assert clock2.sleeps == []


def test_reserve_must_leave_room():
    with pytest.raises(ValueError):
        RateBudget(limit=50, reserve=50)
    with pytest.raises(ValueError):
        RateBudget(reserve=-1)
    budget = RateBudget(clock=FakeClock(), sleeper=lambda s: None)
    with pytest.raises(ValueError):
        budget.acquire(reserve=-1)


# --- what the server says -----------------------------------------------------------------------


def test_server_remaining_counts_other_processes():
    clock = FakeClock()
    budget = make_budget(clock)
    budget.acquire()
    # Another process has used most of the account's budget.
    budget.observe(parse_rate_limit_headers({"RateLimit-Remaining": "2", "RateLimit-Reset": "120"}))
    budget.acquire()
    budget.acquire()
    assert clock.sleeps == []
    budget.acquire()  # remaining reached 0: wait for the server's reset, not our own window
    assert clock.now == pytest.approx(1120.0)


def test_server_remaining_with_reserve():
    clock = FakeClock()
    budget = make_budget(clock, reserve=3)
    budget.observe(parse_rate_limit_headers({"RateLimit-Remaining": "4", "RateLimit-Reset": "30"}))
    budget.acquire()  # 4 -> 3
    budget.acquire()  # 3 left, all reserved: wait for the reset
    assert clock.now == pytest.approx(1030.0)


def test_policy_header_is_adopted():
    clock = FakeClock()
    budget = make_budget(clock)
    budget.observe(parse_rate_limit_headers({"RateLimit-Policy": "10;w=60"}))
    assert (budget.limit, budget.window) == (10, 60.0)
    sent = []
    for _ in range(25):
        budget.acquire()
        sent.append(clock.now)
    assert max_in_any_window(sent, 60.0) == 10


def test_limit_header_is_adopted_without_policy():
    budget = make_budget(FakeClock())
    budget.observe(parse_rate_limit_headers({"RateLimit-Limit": "30"}))
    assert budget.limit == 30


def test_policy_smaller_than_reserve_still_lets_one_request_per_window():
    clock = FakeClock()
    budget = make_budget(clock, reserve=10)
    budget.observe(parse_rate_limit_headers({"RateLimit-Policy": "5;w=60"}))
    budget.acquire()
    budget.acquire()
    assert clock.now == pytest.approx(1060.0)


def test_429_blocks_until_reset():
    clock = FakeClock()
    budget = make_budget(clock)
    budget.acquire()
    wait = budget.rate_limited(
        parse_rate_limit_headers({"RateLimit-Remaining": "0", "RateLimit-Reset": "77", "RateLimit-Limit": "50"})
    )
    assert wait == 77.0
    assert budget.blocked_until == pytest.approx(1077.0)
    assert budget.acquire() == pytest.approx(77.0)
    assert clock.now == pytest.approx(1077.0)


def test_429_honours_the_longer_of_retry_after_and_reset():
    clock = FakeClock()
    budget = make_budget(clock)
    assert budget.rate_limited(parse_rate_limit_headers({"Retry-After": "90", "RateLimit-Reset": "30"})) == 90.0


def test_429_without_hints_waits_one_window():
    clock = FakeClock()
    budget = make_budget(clock, window=120.0)
    assert budget.rate_limited(RateLimitHeaders()) == 120.0
    budget.acquire()
    assert clock.now == pytest.approx(1120.0)


def test_absurd_reset_is_capped():
    clock = FakeClock()
    budget = make_budget(clock)
    assert budget.rate_limited(parse_rate_limit_headers({"RateLimit-Reset": "1620181800"})) == 3600.0


# --- read-only state for metrics ------------------------------------------------------------------


def test_metrics_state():
    clock = FakeClock()
    budget = make_budget(clock)
    assert budget.snapshot() == {
        "limit": 50,
        "window_seconds": 300.0,
        "reserve": 0,
        "remaining": 50,
        "reset_at": None,
        "blocked_until": None,
        "requests_sent": 0,
    }
    for _ in range(3):
        budget.acquire()
    assert budget.remaining == 47
    budget.observe(parse_rate_limit_headers({"RateLimit-Remaining": "20", "RateLimit-Reset": "100"}))
    assert budget.remaining == 20
    assert budget.reset_at == pytest.approx(1100.0)
    budget.acquire()
    assert budget.remaining == 19
    clock.now += 100  # the server's reset passed: fall back to our own count
    assert budget.reset_at is None
    assert budget.remaining == 46
    clock.now += 300
    assert budget.remaining == 50
    assert budget.requests_sent == 4


def test_threads_share_the_budget():
    lock = threading.Lock()
    clock = FakeClock()

    def sleep(seconds: float) -> None:
        with lock:
            clock.now += seconds

    budget = RateBudget(limit=20, window=60.0, clock=lambda: clock.now, sleeper=sleep)
    sent: list[float] = []

    def worker() -> None:
        for _ in range(10):
            budget.acquire()
            with lock:
                sent.append(clock.now)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(sent) == 60
    assert budget.requests_sent == 60


# -- the policy the backfill, the follow loop and the exporter ask -------------------------------------


def test_usable_reserve_never_takes_the_whole_limit():
    assert usable_reserve(12) == 12
    assert usable_reserve(50) == 49
    assert usable_reserve(80, limit=10) == 9


def test_can_spare_means_more_than_keep_left_and_unknown_fits():
    assert can_spare(None, 15)
    assert can_spare(16, 15)
    assert not can_spare(15, 15)


def test_budget_can_spare_counts_the_reserve_and_a_429():
    clock = FakeClock()
    budget = make_budget(clock, limit=5, reserve=2)
    assert budget.can_spare()
    for _ in range(3):
        budget.acquire()
    assert budget.remaining == 2 and not budget.can_spare() and budget.can_spare(1)
    clock.now += 300
    assert budget.can_spare()
    budget.rate_limited(RateLimitHeaders(reset_seconds=30))
    assert not budget.can_spare(0)
    assert budget.blocked_for == 30
    clock.now += 10
    assert budget.blocked_for == 20
    clock.now += 20
    assert budget.blocked_for is None and budget.can_spare()


def test_reset_in_is_on_the_budgets_own_clock():
    clock = FakeClock()
    budget = make_budget(clock)
    assert budget.reset_in is None
    budget.observe(RateLimitHeaders(remaining=10, reset_seconds=100))
    clock.now += 40
    assert budget.reset_in == 60


def test_rate_limit_wait_is_the_hint_else_one_window():
    budget = make_budget(FakeClock(), window=120)
    assert budget.rate_limit_wait(7.0) == 7.0
    assert budget.rate_limit_wait(None) == 120
    assert budget.rate_limit_wait(1e9) == 3600.0  # MAX_WAIT, as rate_limited() blocks


def test_sliding_window_counts_the_last_window_only():
    window = SlidingWindow(300)
    for t in (0.0, 100.0, 299.0):
        window.add(t)
    assert window.count(299.0) == 3
    assert window.count(300.0) == 2  # the event at 0 left the window [0, 300) ending at 300
    assert window.count(600.0) == 0
