"""Ground truth for tests: the final value of every interval that exists, in the API's JSON shape.

- `prices()`: every interval that has ended by simulated now (an ActualInterval on the wire), with
  its settled value, whatever order or time a client asked in. A served actual differs only while a
  revision is pending (`revision_rate` > 0, within `revision_seconds` of its end).
- `usage()`: every interval the usage endpoint serves now (days before today on which the site was
  supplied), with final energy and cost and the quality served now.
- `renewables()`: settled renewables share for a state.

Intervals are selected when they lie wholly inside [start_utc, end_utc).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from simulator.nemtime import iso_utc, nem_date, to_epoch

if TYPE_CHECKING:
    from simulator.simulation import Simulation


class Truth:
    def __init__(self, simulation: Simulation) -> None:
        self._sim = simulation

    def _site(self, site_id: str):
        site = self._sim.site(site_id)
        if site is None:
            raise KeyError(f"unknown site {site_id!r}")
        return site

    @staticmethod
    def _starts(start_utc: dt.datetime, end_utc: dt.datetime, minutes: int, stop_at: float) -> range:
        step = minutes * 60
        first = -(-int(to_epoch(start_utc) // 1) // step) * step  # first boundary at or after start
        stop = min(to_epoch(end_utc), stop_at)
        return range(first, int(stop // 1) - step + 1, step)

    def prices(
        self,
        site_id: str,
        start_utc: dt.datetime,
        end_utc: dt.datetime,
        *,
        resolution: int | None = None,
        channel_type: str | None = None,
    ) -> list[dict]:
        """Final ActualInterval objects, grouped by channel (general, controlled load, feed-in).
        `resolution` defaults to the site's intervalLength."""
        site = self._site(site_id)
        minutes = resolution or site.interval_length
        now = self._sim.clock.timestamp()
        starts = self._starts(start_utc, end_utc, minutes, now)
        return self._sim.price_records(site, starts, minutes, now, final=True, channel_type=channel_type)

    def usage(
        self,
        site_id: str,
        start_utc: dt.datetime,
        end_utc: dt.datetime,
        *,
        resolution: int = 30,
        channel_identifier: str | None = None,
    ) -> list[dict]:
        """Final Usage objects, grouped by channel, as the usage endpoint would serve them now."""
        site = self._site(site_id)
        now = self._sim.clock.timestamp()
        starts = self._starts(start_utc, end_utc, resolution, float("inf"))
        if not starts:
            return []
        records = self._sim.usage_records(
            site,
            nem_date(starts[0]),
            nem_date(starts[-1]),
            resolution,
            now,
            final=True,
            channel_identifier=channel_identifier,
        )
        # startTime is ISO 8601 UTC with a Z, so its text sorts in time order.
        first, last = iso_utc(starts[0] + 1), iso_utc(starts[-1] + 1)
        return [r for r in records if first <= r["startTime"] <= last]

    def renewables(
        self, state: str, start_utc: dt.datetime, end_utc: dt.datetime, *, resolution: int = 30
    ) -> list[dict]:
        """Settled ActualRenewable objects for a state (nsw, vic, qld, sa)."""
        now = self._sim.clock.timestamp()
        starts = self._starts(start_utc, end_utc, resolution, now)
        return self._sim.renewable_records(state.lower(), starts, resolution, now)
