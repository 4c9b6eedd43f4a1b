"""Simulator configuration: one frozen dataclass, validated as a whole.

`SimulatorConfig(...).validate()` reports every problem in one `ValueError`. Defaults give a
realistic-looking account on 127.0.0.1 with a free port; the CLI (`simulator.__main__`) maps its
options onto these fields.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

CONTROLLED_LOAD_CHOICES = ("alternate", "all", "none")


@dataclass(frozen=True)
class SimulatorConfig:
    # Transport
    host: str = "127.0.0.1"
    port: int = 0  # 0: pick a free port
    api_key: str = "sim-key"  # the one Bearer token accepted

    # The account
    seed: int = 1
    sites: int = 1
    resolution: int = 30  # every site's intervalLength, minutes (5 or 30)
    controlled_load: str = "alternate"  # which sites have an E2 channel: alternate (0, 2, ...) | all | none
    history_days: int = 120  # site 0 became active this many days before the start date
    closed_sites: int = 0  # the last this-many sites are closed (status "closed", closedOn in the past)

    # Time
    start: dt.datetime | None = None  # simulated now at start (aware); None: real now
    speed: float = 1.0  # simulated seconds per real second; 0 freezes the clock
    forecast_hours: float = 36.0  # forecast intervals reach this far past now
    estimate_seconds: float = 45.0  # a Current interval is an estimate until its last 5 minutes ran this long

    # Market behaviour
    spike_probability: float = 0.15  # share of days with an evening spike event, per region
    revision_rate: float = 0.0  # share of actuals first shown with a preliminary value (0: none)
    revision_seconds: float = 600.0  # how long after its end a revised actual keeps its preliminary value
    yesterday_estimated_fraction: float = 0.5  # the last this-share of yesterday's usage is 'estimated'
    usage_estimate_error: float = 0.0  # relative error of estimated usage versus its final value (0: same)

    # Limits (Amber's)
    rate_limit: int = 50  # requests per window
    rate_window_seconds: float = 300.0  # measured on the real monotonic clock
    rate_lockout: bool = False  # a refused request restarts the window (a client that ignores Reset stays out)
    max_range_days: int = 7  # 422 when endDate - startDate is more than this
    max_intervals: int = 2048  # 422 when next + previous is more than this

    # Faults (seeded, so a run is reproducible)
    fault_5xx_rate: float = 0.0
    fault_latency_ms: float = 0.0
    fault_truncate_rate: float = 0.0

    def validate(self) -> SimulatorConfig:
        problems = []

        def check(ok: bool, message: str) -> None:
            if not ok:
                problems.append(message)

        check(0 <= self.port <= 65535, f"port must be 0-65535, got {self.port}")
        check(bool(self.api_key), "api_key must not be empty")
        check(self.sites >= 1, f"sites must be at least 1, got {self.sites}")
        check(self.resolution in (5, 30), f"resolution must be 5 or 30, got {self.resolution}")
        check(
            self.controlled_load in CONTROLLED_LOAD_CHOICES,
            f"controlled_load must be one of {', '.join(CONTROLLED_LOAD_CHOICES)}, got {self.controlled_load!r}",
        )
        check(self.history_days >= 1, f"history_days must be at least 1, got {self.history_days}")
        check(0 <= self.closed_sites <= self.sites, f"closed_sites must be 0-{self.sites}, got {self.closed_sites}")
        check(
            self.start is None or (self.start.tzinfo is not None and self.start.utcoffset() is not None),
            "start must be timezone-aware (e.g. 2025-01-15T10:00:00+10:00)",
        )
        check(self.speed >= 0, f"speed must be >= 0, got {self.speed}")
        check(self.forecast_hours >= 0, f"forecast_hours must be >= 0, got {self.forecast_hours}")
        check(self.estimate_seconds >= 0, f"estimate_seconds must be >= 0, got {self.estimate_seconds}")
        for name in ("spike_probability", "revision_rate", "yesterday_estimated_fraction", "fault_5xx_rate",
                     "fault_truncate_rate"):  # fmt: skip
            value = getattr(self, name)
            check(0.0 <= value <= 1.0, f"{name} must be between 0 and 1, got {value}")
        check(self.revision_seconds >= 0, f"revision_seconds must be >= 0, got {self.revision_seconds}")
        check(self.usage_estimate_error >= 0, f"usage_estimate_error must be >= 0, got {self.usage_estimate_error}")
        check(self.rate_limit >= 1, f"rate_limit must be at least 1, got {self.rate_limit}")
        check(self.rate_window_seconds > 0, f"rate_window_seconds must be > 0, got {self.rate_window_seconds}")
        check(self.max_range_days >= 0, f"max_range_days must be >= 0, got {self.max_range_days}")
        check(self.max_intervals >= 0, f"max_intervals must be >= 0, got {self.max_intervals}")
        check(self.fault_latency_ms >= 0, f"fault_latency_ms must be >= 0, got {self.fault_latency_ms}")
        if problems:
            raise ValueError("invalid simulator configuration: " + "; ".join(problems))
        return self
