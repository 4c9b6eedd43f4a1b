"""amber.polling: the loader's and the exporter's price-poll timings, declared together."""

from __future__ import annotations

import datetime as dt

import pytest

from amber.nemtime import DISPATCH
from amber.polling import DISPLAY, FINAL_PRICE_DELAY, RECORD, can_settle

S = dt.timedelta(seconds=1)


def test_the_loader_records_after_the_final_price_is_out():
    assert RECORD.delay == FINAL_PRICE_DELAY == 50 * S
    assert (RECORD.repoll_every, RECORD.max_repolls) == (30 * S, 4)
    # Every re-poll stays inside a 5-minute interval.
    assert RECORD.delay + RECORD.max_repolls * RECORD.repoll_every < DISPATCH


def test_the_exporter_shows_the_new_price_at_once_and_re_polls_when_the_final_one_is_out():
    assert DISPLAY.delay == 5 * S
    assert (DISPLAY.repoll_every, DISPLAY.max_repolls) == (45 * S, 3)
    assert DISPLAY.delay + DISPLAY.repoll_every == FINAL_PRICE_DELAY
    assert DISPLAY.delay + DISPLAY.max_repolls * DISPLAY.repoll_every < DISPATCH


def test_an_interval_can_settle_only_once_its_last_dispatch_interval_started():
    end = dt.datetime(2025, 1, 15, 0, 30, tzinfo=dt.UTC)
    assert not can_settle(end, end - dispatch_intervals(2))
    assert can_settle(end, end - DISPATCH)
    assert can_settle(end, end - DISPATCH + 50 * S)
    assert not can_settle(end.timestamp(), (end - dispatch_intervals(2)).timestamp())
    assert can_settle(end.timestamp(), (end - DISPATCH).timestamp())
    with pytest.raises(TypeError):
        can_settle(end, end.timestamp())


def dispatch_intervals(n: int) -> dt.timedelta:
    return n * DISPATCH
