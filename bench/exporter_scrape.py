"""Scrape latency of the exporter against a bare prometheus_client server with as many series.

    uv run python bench/exporter_scrape.py [--sites 2] [--scrapers 8] [--scrapes 200]

Runs, all on 127.0.0.1:
  - the Amber simulator (in this process; 5-minute sites, estimates settle at once so no re-polls);
  - `amber-home export` as its own process against it, its cache populated by the first poll;
  - a bare prometheus_client server (its own process): one gauge family with as many series as the
    exporter's /metrics has in total, served by start_http_server: the limit our WSGI app can approach.
Then N scraper threads GET /metrics from each in turn and the bench prints p50/p99 latency and their
ratio, the Amber API requests counted at the simulator during the exporter's scrapes (must be 0), and the
resident memory (VmRSS) of both processes. Goals: p99 <= 2x bare; exporter RSS <= 40 MB.
It prints a table and writes nothing; there are no assertions.
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator import SimulatorConfig, SimulatorServer  # noqa: E402

BARE = """
import sys, time
from prometheus_client import CollectorRegistry, Gauge, start_http_server
registry = CollectorRegistry()
gauge = Gauge("bench_series", "one of many series", ["i"], registry=registry)
for i in range(int(sys.argv[2])):
    gauge.labels(str(i)).set(i / 7)
start_http_server(int(sys.argv[1]), addr="127.0.0.1", registry=registry)
print("ready", flush=True)
while True:
    time.sleep(3600)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit("timed out waiting for a server to start")


def series_count(text: str) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def load(url: str, scrapers: int, scrapes: int) -> list[float]:
    """Latencies (ms) of scrapers x scrapes GETs, each scraper with its own connection pool."""
    latencies: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(scrapers)

    def scraper() -> None:
        mine = []
        with httpx.Client(timeout=30) as client:
            client.get(url)  # warm-up, not counted
            start.wait()
            for _ in range(scrapes):
                t0 = time.perf_counter()
                response = client.get(url)
                mine.append((time.perf_counter() - t0) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"{url}: HTTP {response.status_code}")
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=scraper) for _ in range(scrapers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def wait_for_a_quiet_minute() -> None:
    """The exporter polls 5 s after every 5-minute boundary (wall clock); keep the load clear of it."""
    until_poll = (300 - (time.time() - 5) % 300) % 300
    if until_poll < 60:
        time.sleep(until_poll + 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=2)
    parser.add_argument("--scrapers", type=int, default=8)
    parser.add_argument("--scrapes", type=int, default=200, help="per scraper")
    args = parser.parse_args()

    config = SimulatorConfig(seed=11, sites=args.sites, resolution=5, speed=1.0, estimate_seconds=0.0)
    with SimulatorServer(config) as sim:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AMBER_", "DATABASE_URL", "APPRISE_"))}
        env.update(AMBER_API_BASE_URL=sim.base_url, EXPORTER_HOST="127.0.0.1", EXPORTER_PORT=str(port),
                   LOG_LEVEL="WARNING")  # fmt: skip
        exporter = subprocess.Popen([sys.executable, "-m", "exporter"], cwd=ROOT, env=env)
        bare = None
        try:
            metrics_url = f"http://127.0.0.1:{port}/metrics"
            wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()["up"])
            series = series_count(httpx.get(metrics_url).text)

            bare_port = free_port()
            bare = subprocess.Popen([sys.executable, "-c", BARE, str(bare_port), str(series)],
                                    stdout=subprocess.PIPE, text=True)  # fmt: skip
            bare.stdout.readline()
            bare_url = f"http://127.0.0.1:{bare_port}/metrics"
            wait_until(lambda: httpx.get(bare_url, timeout=2).status_code == 200)

            wait_for_a_quiet_minute()
            before = sim.stats.total
            ours = load(metrics_url, args.scrapers, args.scrapes)
            upstream = sim.stats.total - before
            base = load(bare_url, args.scrapers, args.scrapes)

            rows = [
                ("", "exporter", "bare client", "ratio"),
                ("series", str(series), str(series), "1.00"),
                ("p50 ms", f"{statistics.median(ours):.2f}", f"{statistics.median(base):.2f}",
                 f"{statistics.median(ours) / statistics.median(base):.2f}"),
                ("p99 ms", f"{percentile(ours, 0.99):.2f}", f"{percentile(base, 0.99):.2f}",
                 f"{percentile(ours, 0.99) / percentile(base, 0.99):.2f}  (goal <= 2)"),
                ("RSS MB", f"{rss_mb(exporter.pid):.1f}", f"{rss_mb(bare.pid):.1f}",
                 f"{rss_mb(exporter.pid) / rss_mb(bare.pid):.2f}  (goal exporter <= 40 MB)"),
                ("API calls/scrape", f"{upstream / len(ours):.3f} ({upstream} in {len(ours)})", "-", "(must be 0)"),
            ]  # fmt: skip
            print(f"{args.scrapers} concurrent scrapers x {args.scrapes} scrapes, {args.sites} sites, 127.0.0.1")
            widths = [max(len(r[i]) for r in rows) for i in range(4)]
            for row in rows:
                print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        finally:
            for process in (exporter, bare):
                if process is not None:
                    process.terminate()
                    process.wait(timeout=20)


if __name__ == "__main__":
    main()
