"""The simulator over HTTP: a `ThreadingHTTPServer` on a background thread.

    with SimulatorServer(SimulatorConfig(seed=7, sites=2, speed=0)) as sim:
        httpx.get(f"{sim.base_url}/sites", headers={"Authorization": f"Bearer {sim.api_key}"})
        sim.clock.advance(dt.timedelta(hours=1))
        sim.truth.prices(sim.site_ids[0], start, end)

`base_url` ends in `/v1`, like Amber's `https://api.amber.com.au/v1`. Port 0 picks a free port.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from simulator.api import Api
from simulator.clock import SimClock
from simulator.config import SimulatorConfig
from simulator.faults import FaultInjector
from simulator.ratelimit import RateLimiter
from simulator.simulation import Simulation
from simulator.site import SiteSpec
from simulator.stats import Stats
from simulator.truth import Truth

logger = logging.getLogger(__name__)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API behind its gateway
    server_version = "AmberSimulator/1"
    sys_version = ""
    timeout = 120  # seconds an idle keep-alive connection is held
    disable_nagle_algorithm = True  # headers and body go out in separate writes; avoid 40 ms ACK stalls
    server: _HTTPServer

    def _serve(self) -> None:
        if self.command != "GET":
            self.close_connection = True  # any request body stays unread
        response = self.server.api.handle(self.command, self.path, self.headers)
        if response.delay_seconds > 0:
            time.sleep(response.delay_seconds)
        try:
            self.send_response(response.status)
            for name, value in response.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: object) -> None:  # `format`: the stdlib's signature
        pass  # the Api logs one DEBUG line per request


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api: Api) -> None:
        self.api = api
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address) -> None:  # socketserver's signature
        """A client that hangs up mid-connection (a healthcheck exiting, a timeout) is normal: one DEBUG
        line instead of socketserver's traceback on stderr. Anything else keeps the traceback."""
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError):
            logger.debug("client %s hung up: %s", client_address[0], type(exc).__name__)
            return
        super().handle_error(request, client_address)


class SimulatorServer:
    """An Amber API simulator serving on `config.host:config.port` from a background thread."""

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        clock: SimClock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.simulation = Simulation(config, clock=clock, monotonic=monotonic)
        self.api = Api(self.simulation)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> SimulatorServer:
        if self._httpd is not None:
            return self
        cfg = self.simulation.config
        self._httpd = _HTTPServer((cfg.host, cfg.port), self.api)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="amber-simulator", daemon=True
        )
        self._thread.start()
        logger.info("Amber simulator listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- where ----------------------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return self.simulation.config.host

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the simulator is not running")
        return self._httpd.server_address[1]

    @property
    def root_url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The API base, ending in /v1 (Amber's is https://api.amber.com.au/v1)."""
        return f"{self.root_url}/v1"

    # -- the world, for tests -----------------------------------------------------------------------

    @property
    def config(self) -> SimulatorConfig:
        return self.simulation.config

    @property
    def api_key(self) -> str:
        return self.simulation.config.api_key

    @property
    def clock(self) -> SimClock:
        return self.simulation.clock

    @property
    def truth(self) -> Truth:
        return self.simulation.truth

    @property
    def faults(self) -> FaultInjector:
        return self.simulation.faults

    @property
    def stats(self) -> Stats:
        return self.simulation.stats

    @property
    def limiter(self) -> RateLimiter:
        return self.simulation.limiter

    @property
    def site_ids(self) -> list[str]:
        return self.simulation.site_ids

    def script_spike(self, site_id: str, start: dt.datetime, end: dt.datetime, spot_per_kwh: float = 300.0) -> SiteSpec:
        return self.simulation.script_spike(site_id, start, end, spot_per_kwh)

    def close_site(self, site_id: str, closed_on: dt.date) -> SiteSpec:
        return self.simulation.close_site(site_id, closed_on)

    def add_channel(
        self, site_id: str, identifier: str, channel_type: str, from_date: dt.date, tariff: str | None = None
    ) -> SiteSpec:
        return self.simulation.add_channel(site_id, identifier, channel_type, from_date, tariff)
