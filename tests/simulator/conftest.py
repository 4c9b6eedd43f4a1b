"""Fixtures for simulator tests: a real server on 127.0.0.1 (free port) with a frozen clock, and a
plain httpx client for it."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from simulator import SimulatorConfig, SimulatorServer

UTC = dt.UTC
NEM = dt.timezone(dt.timedelta(hours=10))
# 12:07:30 NEM on Wednesday 15 January 2025: inside a 5-minute interval (12:05-12:10) and a
# 30-minute one (12:00-12:30).
START = dt.datetime(2025, 1, 15, 12, 7, 30, tzinfo=NEM)


def make_config(**overrides) -> SimulatorConfig:
    values = {"seed": 7, "sites": 2, "resolution": 5, "speed": 0.0, "start": START}
    values.update(overrides)
    return SimulatorConfig(**values)


@pytest.fixture
def sim():
    with SimulatorServer(make_config()) as server:
        yield server


@pytest.fixture
def client(sim):
    with client_for(sim) as c:
        yield c


@pytest.fixture
def anonymous(sim):
    """A client that sends no Authorization header."""
    with client_for(sim, key=None) as c:
        yield c


def client_for(server: SimulatorServer, *, key: str | None = "", **kwargs) -> httpx.Client:
    """A plain httpx client for `server`, sending `key` (default: the accepted one; None: no header).
    verify=False only skips loading CA certificates, which costs ~0.1 s per client; the URL is http."""
    key = server.api_key if key == "" else key
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    kwargs.setdefault("timeout", 10)
    return httpx.Client(base_url=server.base_url, headers=headers, verify=False, **kwargs)


def by_channel(records: list[dict], channel_type: str) -> list[dict]:
    return [r for r in records if r["channelType"] == channel_type]


def parse_utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
