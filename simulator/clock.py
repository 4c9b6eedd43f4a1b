"""The simulated clock: settable, advanceable and optionally accelerated.

Simulated time = anchor + (real monotonic seconds since the anchor) x speed. `speed=0` freezes the
clock, which is what tests want: they `set()` or `advance()` it and live through days in milliseconds.
`speed=60` makes one real second one simulated minute. The rate limiter does NOT use this clock; it
measures the real monotonic clock, because it governs a real client's pacing.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

from simulator.nemtime import from_epoch, to_epoch


class SimClock:
    def __init__(
        self,
        start: dt.datetime | None = None,
        speed: float = 1.0,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._anchor_sim = to_epoch(start) if start is not None else time.time()
        self._anchor_real = monotonic()
        self._speed = float(speed)

    def timestamp(self) -> float:
        """Simulated now as Unix seconds."""
        with self._lock:
            return self._anchor_sim + (self._monotonic() - self._anchor_real) * self._speed

    def now(self) -> dt.datetime:
        """Simulated now, timezone-aware UTC."""
        return from_epoch(self.timestamp())

    def set(self, when: dt.datetime) -> None:
        """Jump to `when` (aware). Time may go backwards; the simulator recomputes everything from now."""
        target = to_epoch(when)
        with self._lock:
            self._anchor_sim = target
            self._anchor_real = self._monotonic()

    def advance(self, delta: dt.timedelta | float) -> dt.datetime:
        """Move forward by `delta` (a timedelta or seconds); returns the new now."""
        seconds = delta.total_seconds() if isinstance(delta, dt.timedelta) else float(delta)
        with self._lock:
            real = self._monotonic()
            self._anchor_sim += (real - self._anchor_real) * self._speed + seconds
            self._anchor_real = real
            now = self._anchor_sim
        return from_epoch(now)

    @property
    def speed(self) -> float:
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        if value < 0:
            raise ValueError("speed must be >= 0")
        with self._lock:
            real = self._monotonic()
            self._anchor_sim += (real - self._anchor_real) * self._speed
            self._anchor_real = real
            self._speed = float(value)
