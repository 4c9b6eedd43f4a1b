"""A stand-in for the user's phone service: an HTTP server on 127.0.0.1 that records the JSON that
Apprise's json:// plugin POSTs ({"title", "message", "type", ...}). `fail_next` makes it answer 500
to that many requests first, to exercise delivery failures and retries."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.fail_next = 0
        self.delay = 0.0  # seconds before answering: a slow notification service
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                time.sleep(receiver.delay)
                with receiver._changed:
                    if receiver.fail_next > 0:
                        receiver.fail_next -= 1
                        status = 500
                    else:
                        status = 200
                        receiver.received.append(json.loads(body))
                        receiver.paths.append(self.path)
                    receiver._changed.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "/hook") -> str:
        """The Apprise URL that posts here."""
        return f"json://127.0.0.1:{self.port}{path}"

    def wait_for(self, match: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        """The first received notification that `match`es; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for item in self.received:
                    if match(item):
                        return item
                left = deadline - time.monotonic()
                if left <= 0:
                    titles = [item.get("title") for item in self.received]
                    raise AssertionError(f"no matching notification within {timeout} s; received: {titles}")
                self._changed.wait(left)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
