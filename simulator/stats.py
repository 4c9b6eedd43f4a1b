"""Request accounting for tests and benchmarks: requests per endpoint, statuses, 429s sent."""

from __future__ import annotations

import threading
from collections import Counter


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._statuses: Counter[int] = Counter()

    def record(self, endpoint: str, status: int) -> None:
        with self._lock:
            self._requests[endpoint] += 1
            self._statuses[status] += 1

    @property
    def requests(self) -> dict[str, int]:
        """Requests received per endpoint (sites, prices, prices_current, usage, renewables_current, other)."""
        with self._lock:
            return dict(self._requests)

    @property
    def statuses(self) -> dict[int, int]:
        with self._lock:
            return dict(self._statuses)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._requests.values())

    @property
    def rate_limited(self) -> int:
        """Number of 429 responses sent."""
        with self._lock:
            return self._statuses[429]

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "requests": dict(self._requests),
                "statuses": dict(self._statuses),
                "rate_limited": self._statuses[429],
                "total": sum(self._requests.values()),
            }

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._statuses.clear()
