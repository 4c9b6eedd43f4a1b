"""Shared fixtures: real servers (see tests/support/servers.py) and per-tier test counts."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.support.servers import MosquittoServer, PGliteServer, ServerUnavailable, TimescaleServer

TIER_FIXTURES = {
    "timescale_server": "timescaledb", "apache_db": "timescaledb", "tsl_db": "tsl", "mosquitto": "mqtt",
    "engine_images": "engine",
}


@pytest.fixture(scope="session")
def timescale_server():
    try:
        server = TimescaleServer.start()
    except ServerUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def apache_db(timescale_server):
    """URL of a new, empty database on the real TimescaleDB (Apache build); dropped afterwards."""
    name = timescale_server.create_database()
    yield timescale_server.url(name)
    timescale_server.drop_database(name)


@pytest.fixture
def tsl_db():
    """URL of a fresh PGlite + TimescaleDB TSL server (one connection at a time; no COPY)."""
    try:
        server = PGliteServer.start()
    except ServerUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server.url
    server.stop()


@pytest.fixture
def mosquitto(tmp_path):
    """A fresh Mosquitto broker on loopback, authentication on; `stop()` then `resume()` restarts it on the same port."""
    try:
        server = MosquittoServer.start(tmp_path)
    except ServerUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


def pytest_collection_modifyitems(items):
    for item in items:
        for fixture, marker in TIER_FIXTURES.items():
            if fixture in item.fixturenames:
                item.add_marker(marker)
    # The arm64 smoke last: ./scripts/test builds its image in the background meanwhile (cold: minutes).
    items.sort(key=lambda item: "arm64_image" in item.fixturenames)


def tier_of(report_keywords) -> str:
    for marker in ("engine", "tsl", "timescaledb", "mqtt"):
        if marker in report_keywords:
            return marker
    return "unit"


def pytest_terminal_summary(terminalreporter):
    counts: dict[str, Counter] = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") not in ("call", "setup"):
                continue
            if outcome == "passed" and report.when != "call":
                continue
            counts.setdefault(tier_of(report.keywords), Counter())[outcome] += 1
    if counts:
        terminalreporter.section("tests per tier")
        for tier in ("unit", "timescaledb", "tsl", "mqtt", "engine"):
            if tier in counts:
                parts = ", ".join(f"{n} {k}" for k, n in sorted(counts[tier].items()))
                terminalreporter.write_line(f"{tier:12} {parts}")
