"""Injected failures: seeded random ones from the configuration, and scripted ones from tests.

Per request the injector decides a `Fault`: an HTTP error status to answer with instead of the real
response, whether to truncate the JSON body (a 200 whose body is cut short, with a matching
Content-Length, so the client sees invalid JSON), and how long to delay. Scripted faults
(`fail_next`, `truncate_next`, `delay_next`) are used first, in the order they were scripted;
random ones are drawn from a `random.Random(seed)` once per request, so the same sequence of requests
meets the same faults.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass

RANDOM_STATUSES = (500, 502, 503, 504)


@dataclass(frozen=True, slots=True)
class Fault:
    status: int | None = None  # answer with this error instead
    truncate: bool = False
    delay_seconds: float = 0.0


@dataclass(slots=True)
class _Scripted:
    remaining: int
    fault: Fault
    endpoint: str | None


class FaultInjector:
    def __init__(
        self,
        seed: int = 0,
        *,
        error_rate: float = 0.0,
        latency_ms: float = 0.0,
        truncate_rate: float = 0.0,
    ) -> None:
        self.error_rate = error_rate
        self.latency_ms = latency_ms
        self.truncate_rate = truncate_rate
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._script: deque[_Scripted] = deque()
        self.injected = 0  # faults served (errors and truncations)

    # -- scripting (tests) -------------------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 503, *, endpoint: str | None = None) -> None:
        """The next `n` requests (to `endpoint`, e.g. "prices", if given) get `status`."""
        self._add(n, Fault(status=status), endpoint)

    def truncate_next(self, n: int = 1, *, endpoint: str | None = None) -> None:
        """The next `n` successful responses (to `endpoint`, if given) have their body cut in half."""
        self._add(n, Fault(truncate=True), endpoint)

    def delay_next(self, n: int = 1, seconds: float = 1.0, *, endpoint: str | None = None) -> None:
        """The next `n` requests (to `endpoint`, if given) are answered `seconds` late."""
        self._add(n, Fault(delay_seconds=seconds), endpoint)

    def clear(self) -> None:
        with self._lock:
            self._script.clear()

    def _add(self, n: int, fault: Fault, endpoint: str | None) -> None:
        if n < 1:
            raise ValueError("n must be at least 1")
        with self._lock:
            self._script.append(_Scripted(n, fault, endpoint))

    # -- per request -------------------------------------------------------------------------------

    def draw(self, endpoint: str) -> Fault:
        with self._lock:
            latency = self.latency_ms / 1000.0
            # One draw per request whatever the outcome keeps the random sequence reproducible.
            u_error, u_status, u_truncate = self._rng.random(), self._rng.random(), self._rng.random()
            for entry in self._script:
                if entry.endpoint is None or entry.endpoint == endpoint:
                    entry.remaining -= 1
                    if entry.remaining == 0:
                        self._script.remove(entry)
                    fault = entry.fault
                    if fault.status is not None or fault.truncate:
                        self.injected += 1
                    return Fault(fault.status, fault.truncate, fault.delay_seconds + latency)
            if u_error < self.error_rate:
                self.injected += 1
                return Fault(status=RANDOM_STATUSES[int(u_status * len(RANDOM_STATUSES))], delay_seconds=latency)
            if u_truncate < self.truncate_rate:
                self.injected += 1
                return Fault(truncate=True, delay_seconds=latency)
            return Fault(delay_seconds=latency)
