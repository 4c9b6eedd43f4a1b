"""Prints the body of every POST it receives on one line, and answers 200 (a stand-in phone)."""

import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        print("NOTIFY " + body.decode(errors="replace").replace("\n", " "), flush=True)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


print("notify-sink listening on :8080", file=sys.stderr, flush=True)
HTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
