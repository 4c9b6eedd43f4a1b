"""The database a benchmark writes to: BENCH_DATABASE_URL (a scratch database), or a TimescaleDB
cluster started for the run by tests/support/servers.py and removed afterwards."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def bench_database(*, durable: bool, prefix: str = "bench") -> Iterator[str]:
    """URL of an empty database; `durable` keeps fsync on, as a production server has it."""
    url = os.environ.get("BENCH_DATABASE_URL")
    if url:
        yield url
        return
    from tests.support.servers import TimescaleServer

    server = TimescaleServer.start(durable=durable, prefix=prefix)
    try:
        yield server.url(server.create_database())
    finally:
        server.stop()
