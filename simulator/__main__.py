"""`python -m simulator` / `amber-home simulate`: serve the Amber API simulator until interrupted.

Prints one line, `Amber simulator listening on http://HOST:PORT/v1`, once the port is bound (useful
with `--port 0`). The accepted key is never printed or logged; pass it with `--api-key`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import signal
import sys
import threading

from runtime.logs import configure_logging
from simulator.config import CONTROLLED_LOAD_CHOICES, SimulatorConfig
from simulator.server import SimulatorServer

logger = logging.getLogger(__name__)


def _start_time(text: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date-time: {text!r}") from None
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give an offset, e.g. {text}Z or {text}+10:00")
    return when


def build_parser() -> argparse.ArgumentParser:
    defaults = SimulatorConfig()
    parser = argparse.ArgumentParser(
        prog="amber-home simulate",
        description="Serve a deterministic simulation of the Amber Electric API (base path /v1, Bearer auth).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on")
    add("--port", type=int, default=8765, help="port to listen on; 0 picks a free one and prints it")
    add("--api-key", default=defaults.api_key, help="the Bearer token the simulator accepts")
    add("--seed", type=int, default=defaults.seed, help="same seed and simulated time give identical responses")
    add("--sites", type=int, default=defaults.sites, help="number of sites on the account")
    add("--resolution", type=int, choices=(5, 30), default=defaults.resolution,
        help="the sites' intervalLength, minutes")  # fmt: skip
    add("--controlled-load", choices=CONTROLLED_LOAD_CHOICES, default=defaults.controlled_load,
        help="which sites have a controlled-load (E2) channel")  # fmt: skip
    add("--history-days", type=int, default=defaults.history_days, help="how long ago the first site became active")
    add("--closed-sites", type=int, default=defaults.closed_sites,
        help="how many of the sites (the last ones) are closed")  # fmt: skip
    add("--rate-limit", type=int, default=defaults.rate_limit, help="requests allowed per window")
    add("--rate-window-seconds", type=float, default=defaults.rate_window_seconds,
        help="rate-limit window, real seconds")  # fmt: skip
    add("--rate-lockout", action="store_true", help="a refused request restarts the window")
    add("--speed", type=float, default=defaults.speed,
        help="simulated seconds per real second (60: a minute per second; 0: frozen)")  # fmt: skip
    add("--start", type=_start_time, default=None,
        help="simulated now at start, ISO 8601 with offset (default: real now)")  # fmt: skip
    add("--forecast-hours", type=float, default=defaults.forecast_hours, help="how far ahead forecasts reach")
    add("--estimate-seconds", type=float, default=defaults.estimate_seconds,
        help="seconds into its last 5 minutes a current interval stops being an estimate")  # fmt: skip
    add("--spike-probability", type=float, default=defaults.spike_probability,
        help="share of days with an evening price spike, per region")  # fmt: skip
    add("--revision-rate", type=float, default=defaults.revision_rate,
        help="share of actual intervals first shown with a preliminary value")  # fmt: skip
    add("--fault-5xx-rate", type=float, default=defaults.fault_5xx_rate, help="share of requests answered 5xx")
    add("--fault-latency-ms", type=float, default=defaults.fault_latency_ms, help="added latency per request")
    add("--fault-truncate-rate", type=float, default=defaults.fault_truncate_rate,
        help="share of 200 responses with a truncated JSON body")  # fmt: skip
    add("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="DEBUG logs one line per request")  # fmt: skip
    return parser


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    return SimulatorConfig(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        seed=args.seed,
        sites=args.sites,
        resolution=args.resolution,
        controlled_load=args.controlled_load,
        history_days=args.history_days,
        closed_sites=args.closed_sites,
        start=args.start,
        speed=args.speed,
        forecast_hours=args.forecast_hours,
        estimate_seconds=args.estimate_seconds,
        spike_probability=args.spike_probability,
        revision_rate=args.revision_rate,
        rate_limit=args.rate_limit,
        rate_window_seconds=args.rate_window_seconds,
        rate_lockout=args.rate_lockout,
        fault_5xx_rate=args.fault_5xx_rate,
        fault_latency_ms=args.fault_latency_ms,
        fault_truncate_rate=args.fault_truncate_rate,
    ).validate()


def main(argv: list[str] | None = None, *, stop: threading.Event | None = None) -> int:
    """Run until SIGINT/SIGTERM (or until `stop` is set). Returns the process exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed the problem (or --help)
        return int(exc.code or 0)
    configure_logging(args.log_level)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"amber-home simulate: {exc}", file=sys.stderr)
        return 2
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
    try:
        server = SimulatorServer(config).start()
    except OSError as exc:
        print(f"amber-home simulate: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"Amber simulator listening on {server.base_url}", flush=True)
        stop.wait()
    finally:
        server.stop()
        logger.info("Amber simulator stopped: %s", server.stats.snapshot())
    return 0


if __name__ == "__main__":
    sys.exit(main())
