"""Simulated Amber sites: identity, channels, tariff and household, generated from the seed.

A `SiteSpec` is immutable; changes a test makes (close a site, add a channel from a date, script a
spike) replace the spec in the simulation's registry, so a request in flight sees one consistent site.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from simulator import seeded
from simulator.tariff import CONTROLLED_LOAD, FEED_IN, GENERAL, Tariff, channel_sort_key

# (network, region, NMI prefix)
NETWORKS = (
    ("Ausgrid", "nsw", "41"),
    ("Endeavour Energy", "nsw", "43"),
    ("Energex", "qld", "31"),
    ("Jemena", "vic", "64"),
    ("CitiPower", "vic", "61"),
    ("United Energy", "vic", "63"),
    ("SA Power Networks", "sa", "20"),
)
DEFAULT_TARIFF_CODES = {GENERAL: "EA116", CONTROLLED_LOAD: "EA030", FEED_IN: "EA116"}
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ID_EPOCH_MS = 1_577_836_800_000  # 2020-01-01, the earliest time an id encodes


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    identifier: str  # E1, E2, B1 ...
    type: str  # general | controlledLoad | feedIn
    tariff: str
    active_from: dt.date | None = None  # None: as long as the site; else the channel exists from this NEM date

    def exists_on(self, day: dt.date) -> bool:
        return self.active_from is None or day >= self.active_from


@dataclass(frozen=True, slots=True)
class ScriptedSpike:
    start: int  # Unix seconds, inclusive
    end: int  # exclusive
    spot: float  # c/kWh


@dataclass(frozen=True, slots=True)
class Household:
    base_kw: float
    morning_kw: float
    evening_kw: float
    solar_kw: float
    controlled_load_kw: float
    controlled_load_start_hour: float  # NEM hour the hot water switches on (solar-sponge block)


@dataclass(frozen=True, slots=True)
class SiteSpec:
    index: int
    id: str
    nmi: str
    network: str
    region: str
    interval_length: int
    active_from: dt.date
    closed_on: dt.date | None
    channels: tuple[ChannelSpec, ...]
    tariff: Tariff
    household: Household
    spikes: tuple[ScriptedSpike, ...] = field(default=())

    def status_on(self, today: dt.date) -> str:
        return "closed" if self.closed_on is not None and today >= self.closed_on else "active"

    def channels_on(self, day: dt.date) -> list[ChannelSpec]:
        """Channels that exist on `day`, in Amber's return order (general, controlled load, feed-in)."""
        existing = (c for c in self.channels if c.exists_on(day))
        return sorted(existing, key=lambda c: (channel_sort_key(c.type), c.identifier))

    def supplied_on(self, day: dt.date) -> bool:
        """Whether Amber supplied the site on `day` (so usage exists)."""
        return day >= self.active_from and (self.closed_on is None or day <= self.closed_on)


def ulid_like(seed: int, index: int) -> str:
    """A 26-character Crockford base32 id shaped like a ULID (48-bit time + 80 random bits)."""
    millis = _ID_EPOCH_MS + int(seeded.unit(seed, "site-id-time", index) * 3 * 365 * 86400 * 1000)
    rand = int(seeded.unit(seed, "site-id-a", index) * (1 << 40)) << 40 | int(
        seeded.unit(seed, "site-id-b", index) * (1 << 40)
    )
    value = millis << 80 | rand
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def build_sites(
    seed: int,
    count: int,
    *,
    today: dt.date,
    interval_length: int,
    history_days: int,
    controlled_load: str,
    closed: int = 0,
) -> list[SiteSpec]:
    """`count` sites. Controlled load (E2): every second site from the first ("alternate"), "all" or
    "none". The last `closed` sites closed on a seeded date between their activeFrom and yesterday."""
    sites = []
    for i in range(count):
        network, region, prefix = seeded.choice(seed, NETWORKS, "network", i)
        nmi = prefix + "".join(str(int(seeded.unit(seed, "nmi", i, d) * 10)) for d in range(8))
        has_cl = controlled_load == "all" or (controlled_load == "alternate" and i % 2 == 0)
        channels = [ChannelSpec("E1", GENERAL, DEFAULT_TARIFF_CODES[GENERAL])]
        if has_cl:
            channels.append(ChannelSpec("E2", CONTROLLED_LOAD, DEFAULT_TARIFF_CODES[CONTROLLED_LOAD]))
        channels.append(ChannelSpec("B1", FEED_IN, DEFAULT_TARIFF_CODES[FEED_IN]))
        lag = int(seeded.unit(seed, "active-lag", i) * max(history_days // 4, 1)) if i else 0
        active_from = today - dt.timedelta(days=history_days - lag)
        closed_on = None
        if i >= count - closed:
            supplied_days = (today - active_from).days
            closed_on = active_from + dt.timedelta(days=int(seeded.unit(seed, "closed-on", i) * supplied_days))
        tariff = Tariff(
            loss_factor=round(1.03 + 0.05 * seeded.unit(seed, "loss", i), 4),
            network_scale=round(0.85 + 0.3 * seeded.unit(seed, "network-scale", i), 4),
            fees=round(2.5 + 1.0 * seeded.unit(seed, "fees", i), 4),
        )
        household = Household(
            base_kw=0.25 + 0.35 * seeded.unit(seed, "base-kw", i),
            morning_kw=0.6 + 0.8 * seeded.unit(seed, "morning-kw", i),
            evening_kw=1.0 + 1.5 * seeded.unit(seed, "evening-kw", i),
            solar_kw=3.0 + 7.0 * seeded.unit(seed, "solar-kw", i),
            controlled_load_kw=3.6,
            controlled_load_start_hour=10.5 + 1.5 * seeded.unit(seed, "cl-start", i),
        )
        sites.append(
            SiteSpec(
                index=i,
                id=ulid_like(seed, i),
                nmi=nmi,
                network=network,
                region=region,
                interval_length=interval_length,
                active_from=active_from,
                closed_on=closed_on,
                channels=tuple(channels),
                tariff=tariff,
                household=household,
            )
        )
    return sites
