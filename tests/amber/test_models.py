"""amber.models: the site rules both services ask (Site.interval_minutes, Site.is_live)."""

from __future__ import annotations

import datetime as dt

import pytest

from amber.models import DEFAULT_INTERVAL_MINUTES, Channel, Site

D = dt.date
TODAY = D(2025, 1, 15)
LONG_AGO = D(2024, 1, 1)


def make_site(
    site_id: str = "SITE1",
    *,
    minutes: int | None = 5,
    active_from: dt.date | None = LONG_AGO,
    closed_on: dt.date | None = None,
    status: str = "active",
    channels: tuple[tuple[str, str], ...] = (("E1", "general"), ("E2", "controlledLoad"), ("B1", "feedIn")),
) -> Site:
    """A Site as parse_sites would build it (also the loader tests' site)."""
    return Site(
        id=site_id,
        nmi="4100000000",
        channels=tuple(Channel(i, t, None) for i, t in channels),
        network="Ausgrid",
        status=status,
        active_from=active_from,
        closed_on=closed_on,
        interval_length=minutes,
        raw={},
    )


# -- interval length ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("length", "minutes"), [(5, 5), (30, 30), (None, 30), (15, 30), (0, 30)])
def test_interval_minutes_is_the_sites_length_or_ambers_default(length, minutes):
    assert make_site(minutes=length).interval_minutes == minutes
    assert DEFAULT_INTERVAL_MINUTES == 30


# -- live or not (moved from loader.gaps.site_is_open: the rule the loader and the exporter now share) ------


def test_site_is_live():
    today = TODAY
    assert make_site().is_live(today)
    assert not make_site(status="closed", closed_on=D(2025, 1, 15)).is_live(today)
    assert not make_site(status="pending", active_from=None).is_live(today)
    assert not make_site(active_from=D(2025, 1, 16)).is_live(today)
    assert make_site(closed_on=D(2025, 1, 20)).is_live(today)  # closing later


def test_a_site_closing_today_is_live_until_its_status_says_closed():
    assert make_site(closed_on=TODAY).is_live(TODAY)  # closedOn is its last day of supply
    assert not make_site(closed_on=TODAY - dt.timedelta(days=1)).is_live(TODAY)  # status not yet updated


def test_a_pending_site_is_not_live_even_with_prices_to_show():
    # The transfer has not happened: /prices may answer, but they are not the site's prices yet.
    assert not make_site(status="pending", active_from=TODAY - dt.timedelta(days=3)).is_live(TODAY)
    assert not make_site(status="pending", active_from=TODAY).is_live(TODAY)


def test_a_site_starts_being_live_on_its_active_from_day():
    assert make_site(active_from=TODAY).is_live(TODAY)
    assert not make_site(active_from=None).is_live(TODAY)


def test_an_unknown_status_is_live_within_its_supply_period():
    assert make_site(status="suspended").is_live(TODAY)
    assert not make_site(status="suspended", closed_on=TODAY - dt.timedelta(days=1)).is_live(TODAY)


# -- supply period --------------------------------------------------------------------------------------


def test_supplied_clips_dates_to_active_from_through_closed_on():
    site = make_site(active_from=D(2025, 1, 10), closed_on=D(2025, 1, 20))
    assert site.supplied(D(2025, 1, 1), D(2025, 1, 31)) == (D(2025, 1, 10), D(2025, 1, 20))
    assert site.supplied(D(2025, 1, 12), D(2025, 1, 14)) == (D(2025, 1, 12), D(2025, 1, 14))
    assert site.supplied(D(2025, 1, 21), D(2025, 1, 31)) is None
    assert make_site().supplied(TODAY, TODAY) == (TODAY, TODAY)


def test_no_supply_before_it_began():
    assert make_site(active_from=None).supplied(D(2025, 1, 1), TODAY) is None
    assert make_site(status="pending").supplied(D(2025, 1, 1), TODAY) is None
