"""Amber's request budget: a fixed window per API key, on the REAL monotonic clock.

A window opens with the first request after the previous one ended and admits `limit` requests;
further requests get 429 until it ends. Every decision carries the values for the IETF draft headers
Amber sends (`RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` in whole seconds rounded up,
`RateLimit-Policy: 50;w=300`) and, when refused, `Retry-After`. With `lockout=True` a refused request
restarts the window, so a client that ignores the reset hint keeps itself locked out.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    policy: str

    def headers(self) -> list[tuple[str, str]]:
        headers = [
            ("RateLimit-Limit", str(self.limit)),
            ("RateLimit-Remaining", str(self.remaining)),
            ("RateLimit-Reset", str(self.reset_seconds)),
            ("RateLimit-Policy", self.policy),
        ]
        if not self.allowed:
            headers.append(("Retry-After", str(self.reset_seconds)))
        return headers


class RateLimiter:
    def __init__(
        self,
        limit: int,
        window_seconds: float,
        *,
        lockout: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self.lockout = lockout
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}  # key -> (window start, requests admitted)
        window = int(window_seconds) if float(window_seconds).is_integer() else window_seconds
        self.policy = f"{limit};w={window}"

    def check(self, key: str) -> Decision:
        """Count one request for `key` and say whether it may proceed."""
        with self._lock:
            now = self._monotonic()
            start, used = self._windows.get(key, (now, 0))
            if now - start >= self.window_seconds:
                start, used = now, 0
            allowed = used < self.limit
            if allowed:
                used += 1
            elif self.lockout:
                start = now
            self._windows[key] = (start, used)
            reset = max(math.ceil(start + self.window_seconds - now), 1 if not allowed else 0)
            return Decision(allowed, self.limit, self.limit - used, reset, self.policy)

    def reset(self) -> None:
        """Forget every window (tests)."""
        with self._lock:
            self._windows.clear()
