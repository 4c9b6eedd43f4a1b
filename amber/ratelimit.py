"""The Amber account's request budget, seen from one process.

Amber allows about 50 requests per 5 minutes per account and says so in `RateLimit-*` headers.
`RateBudget` combines two views so it works with or without headers:
- its own sliding window of the requests this process sent (limit and window from the constructor,
  replaced by `RateLimit-Policy` when the server announces one);
- the server's latest `RateLimit-Remaining`/`RateLimit-Reset`, which also counts requests made by
  other processes on the same account (the loader and the exporter share one key).
`acquire()` sleeps until a request would be accepted instead of spending one on a 429, and can keep
`reserve` requests back for the other process. Clock and sleeper are injected so tests never sleep.

The one policy every caller asks (the backfill, the follow loop, the exporter):
    usable_reserve(share) -> int          the part of EXPORTER_REQUEST_SHARE a writer can keep back
    can_spare(remaining, keep) -> bool    an optional request fits (pure: for planners holding a count)
    budget.can_spare(keep=None) -> bool   ... on the live budget: not blocked by a 429, more than `keep` left
    budget.rate_limit_wait(hint) -> float seconds to pause after a request gave up on a 429
    budget.reset_in / budget.blocked_for  seconds, on the budget's own clock, for progress and metrics
    SlidingWindow(window)                 events in the last `window` seconds (the budget's own count,
                                          and the exporter's count of its optional requests)
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

DEFAULT_LIMIT = 50
DEFAULT_WINDOW = 300.0
# A reset further away than this is more likely an epoch timestamp or a server bug than a real wait.
MAX_WAIT = 3600.0


def usable_reserve(share: int, limit: int = DEFAULT_LIMIT) -> int:
    """The requests a writer keeps back for the exporter: `share`, but never the whole `limit` (the
    writer keeps one request per window for itself)."""
    return min(share, limit - 1)


def can_spare(remaining: int | None, keep: int) -> bool:
    """Whether an optional request (a re-poll, a retry) fits: more than `keep` requests are left in the
    account's window; an unknown count (None) fits."""
    return remaining is None or remaining > keep


class SlidingWindow:
    """Times of events in the last `window` seconds of a caller's clock. Not thread-safe on its own."""

    def __init__(self, window: float) -> None:
        self.window = float(window)
        self._times: deque[float] = deque()

    def expire(self, now: float) -> None:
        while self._times and self._times[0] + self.window <= now:
            self._times.popleft()

    def count(self, now: float) -> int:
        """Events within the window ending at `now`."""
        self.expire(now)
        return len(self._times)

    def add(self, now: float) -> None:
        self._times.append(now)

    def __len__(self) -> int:
        return len(self._times)

    def __getitem__(self, index: int) -> float:
        return self._times[index]


@dataclass(frozen=True, slots=True)
class RateLimitHeaders:
    """Rate-limit headers of one response; None where absent or unreadable."""

    limit: int | None = None
    remaining: int | None = None
    reset_seconds: float | None = None
    policy: str | None = None  # the header as sent, e.g. "50;w=300"
    policy_limit: int | None = None
    policy_window: float | None = None
    retry_after: float | None = None


_NUMBER = re.compile(r"\s*(\d+(?:\.\d+)?)")


def _number(text: str | None) -> float | None:
    match = _NUMBER.match(text) if text else None
    return float(match.group(1)) if match else None


def _integer(text: str | None) -> int | None:
    value = _number(text)
    return int(value) if value is not None else None


def _parse_policy(text: str | None) -> tuple[int | None, float | None]:
    """First policy of `50;w=300` (draft 6) or `"name";q=50;w=300` (later drafts)."""
    if not text:
        return None, None
    first, *params = (part.strip() for part in text.split(",")[0].split(";"))
    values = dict(p.split("=", 1) for p in params if "=" in p)
    quota = _integer(first) if first[:1].isdigit() else _integer(values.get("q"))
    return quota, _number(values.get("w"))


def _parse_retry_after(text: str | None, date: str | None) -> float | None:
    if not text:
        return None
    if text.strip().isdigit():
        return float(text.strip())
    # An HTTP-date needs "now"; the response's own Date header keeps this pure.
    try:
        return max(0.0, (parsedate_to_datetime(text) - parsedate_to_datetime(date or "")).total_seconds())
    except (TypeError, ValueError):
        return None


def parse_rate_limit_headers(headers: Mapping[str, str]) -> RateLimitHeaders:
    """Read the rate-limit headers; never raises (a bad header must not fail a good response)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    policy = lowered.get("ratelimit-policy")
    policy_limit, policy_window = _parse_policy(policy)
    return RateLimitHeaders(
        limit=_integer(lowered.get("ratelimit-limit")),
        remaining=_integer(lowered.get("ratelimit-remaining")),
        reset_seconds=_number(lowered.get("ratelimit-reset")),
        policy=policy,
        policy_limit=policy_limit,
        policy_window=policy_window,
        retry_after=_parse_retry_after(lowered.get("retry-after"), lowered.get("date")),
    )


class RateBudget:
    """Thread-safe request budget. Call `acquire()` before each request and `observe()` after each
    response; call `rate_limited()` on a 429."""

    def __init__(
        self,
        limit: int = DEFAULT_LIMIT,
        window: float = DEFAULT_WINDOW,
        *,
        reserve: int = 0,
        clock: Callable[[], float] = time.monotonic,
        sleeper: Callable[[float], Any] = time.sleep,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self._check_reserve(reserve, limit)
        self._limit = limit
        self._window = float(window)
        self._reserve = reserve
        self._clock = clock
        self._sleeper = sleeper
        self._lock = threading.Lock()
        self._sent = SlidingWindow(window)  # clock() of each request in the current window
        self._requests_sent = 0
        self._remaining: int | None = None  # server's count, minus what we sent since
        self._reset_at: float | None = None
        self._blocked_until: float | None = None

    @staticmethod
    def _check_reserve(reserve: int, limit: int) -> None:
        if not 0 <= reserve < limit:
            raise ValueError(f"reserve must be between 0 and limit - 1 ({limit - 1}), got {reserve}")

    # -- sending ------------------------------------------------------------------------------------

    def acquire(self, reserve: int | None = None) -> float:
        """Block until one request may be sent, leaving `reserve` (default: the constructor's) for
        others; record it and return the seconds waited."""
        keep = self._reserve if reserve is None else reserve
        if keep < 0:
            raise ValueError(f"reserve must be >= 0, got {keep}")
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                wait = self._wait_needed(now, keep)
                if wait <= 0:
                    self._sent.add(now)
                    self._requests_sent += 1
                    if self._remaining is not None:
                        self._remaining -= 1
                    return waited
            # Sleep outside the lock so other threads can observe responses meanwhile.
            self._sleeper(wait)
            waited += wait

    def _expire(self, now: float) -> None:
        self._sent.expire(now)
        if self._reset_at is not None and now >= self._reset_at:
            self._remaining = self._reset_at = None
        if self._blocked_until is not None and now >= self._blocked_until:
            self._blocked_until = None

    def _wait_needed(self, now: float, keep: int) -> float:
        self._expire(now)
        waits = [0.0]
        if self._blocked_until is not None:
            waits.append(self._blocked_until - now)
        # Always allow one request per window, even if a server policy shrinks the limit below reserve.
        usable = max(1, self._limit - keep)
        if len(self._sent) >= usable:
            waits.append(self._sent[len(self._sent) - usable] + self._window - now)
        if self._remaining is not None and self._reset_at is not None and self._remaining <= keep:
            waits.append(self._reset_at - now)
        return max(waits)

    # -- learning from responses --------------------------------------------------------------------

    def observe(self, headers: RateLimitHeaders) -> None:
        """Adopt what a response's headers say about the account's budget."""
        with self._lock:
            now = self._clock()
            if headers.policy_limit is not None and headers.policy_limit >= 1:
                self._limit = headers.policy_limit
            elif headers.limit is not None and headers.limit >= 1:
                self._limit = headers.limit
            if headers.policy_window is not None and headers.policy_window > 0:
                self._window = self._sent.window = headers.policy_window
            if headers.remaining is not None:
                self._remaining = headers.remaining
                reset = headers.reset_seconds if headers.reset_seconds is not None else self._window
                self._reset_at = now + min(reset, MAX_WAIT)

    def rate_limited(self, headers: RateLimitHeaders) -> float:
        """Record a 429: nothing more is sent until the server's reset (or one window when it gave no
        hint). Returns the seconds until then."""
        self.observe(headers)
        hints = [s for s in (headers.retry_after, headers.reset_seconds) if s is not None]
        wait = min(max(hints) if hints else self._window, MAX_WAIT)
        with self._lock:
            until = self._clock() + wait
            self._blocked_until = max(until, self._blocked_until or until)
        return wait

    # -- the policy callers ask -----------------------------------------------------------------------

    def can_spare(self, keep: int | None = None) -> bool:
        """Whether an optional request fits now without waiting: no 429 blocks sending and more than
        `keep` (default: the reserve) requests are left."""
        return self.blocked_until is None and can_spare(self.remaining, self._reserve if keep is None else keep)

    def rate_limit_wait(self, hint: float | None) -> float:
        """Seconds to pause after a request gave up on a 429: the server's hint
        (AmberRateLimitedError.wait_seconds), else one window, as `rate_limited()` blocks."""
        return min(hint, MAX_WAIT) if hint is not None else self._window

    # -- read-only state for metrics ----------------------------------------------------------------

    def _read(self) -> None:
        self._expire(self._clock())

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def window(self) -> float:
        return self._window

    @property
    def reserve(self) -> int:
        return self._reserve

    @property
    def remaining(self) -> int:
        """Best estimate of requests the account has left now (server's view when known)."""
        with self._lock:
            self._read()
            own = max(0, self._limit - len(self._sent))
            return own if self._remaining is None else max(0, min(own, self._remaining))

    @property
    def reset_at(self) -> float | None:
        """Clock time at which the server's remaining count resets, if it told us."""
        with self._lock:
            self._read()
            return self._reset_at

    @property
    def blocked_until(self) -> float | None:
        """Clock time until which a 429 blocks sending, if any."""
        with self._lock:
            self._read()
            return self._blocked_until

    def _seconds_to(self, name: str) -> float | None:
        with self._lock:
            now = self._clock()
            self._expire(now)
            until = getattr(self, name)
            return None if until is None else max(0.0, until - now)

    @property
    def reset_in(self) -> float | None:
        """Seconds until the server's remaining count resets, if it told us."""
        return self._seconds_to("_reset_at")

    @property
    def blocked_for(self) -> float | None:
        """Seconds a 429 still blocks sending, if any."""
        return self._seconds_to("_blocked_until")

    @property
    def requests_sent(self) -> int:
        """Requests let through since creation."""
        return self._requests_sent

    def snapshot(self) -> dict[str, float | int | None]:
        return {
            "limit": self.limit,
            "window_seconds": self.window,
            "reserve": self.reserve,
            "remaining": self.remaining,
            "reset_at": self.reset_at,
            "blocked_until": self.blocked_until,
            "requests_sent": self.requests_sent,
        }
