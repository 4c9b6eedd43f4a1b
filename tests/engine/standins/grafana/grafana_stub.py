"""Grafana stand-in for the engine tier: proves what Grafana would read is there, and serves its health.

On start (and again on each /api/health until everything passes):
- every provisioning file under $GF_PATHS_PROVISIONING/{datasources,dashboards}/*.yml parses, with Grafana's
  expansion of ${VAR}, $VAR, $__env{VAR} and $__file{PATH};
- every dashboards provider's options.path holds at least one dashboard JSON, and
  GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH is one of them;
- every GF_*__FILE variable names a readable, non-empty file (Grafana reads GF_X from it);
- $GF_PATHS_DATA is writable by this user (472, as in Grafana's image);
- the PostgreSQL datasources log in with their provisioned user and password and can SELECT from prices.

GET /api/health answers 200 {"database": "ok", ...} when all passed, else 503 with the problems;
GET /stub/report answers the whole report as JSON. Secrets never appear in the report or the log.
"""

import glob
import json
import os
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import yaml

PROVISIONING = os.environ.get("GF_PATHS_PROVISIONING", "/etc/grafana/provisioning")
DATA = os.environ.get("GF_PATHS_DATA", "/var/lib/grafana")
VERSION = "11.6.1-stub"


def log(message):
    print(f"grafana-stub: {message}", file=sys.stderr, flush=True)


def expand(value):
    """Grafana's provisioning expansion of every string value (not comments): $__file{}, $__env{}, ${VAR}
    and $VAR."""
    if isinstance(value, dict):
        return {k: expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v) for v in value]
    if not isinstance(value, str):
        return value
    text = value
    text = re.sub(r"\$__file\{([^}]*)\}", lambda m: Path(m.group(1)).read_text().strip(), text)
    text = re.sub(r"\$__env\{([^}]*)\}", lambda m: os.environ.get(m.group(1), ""), text)
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: os.environ.get(m.group(1) or m.group(2), ""), text)


def check():
    report = {"provisioning": [], "dashboards": [], "file_settings": [], "datasources": [], "problems": []}
    problems = report["problems"]
    for kind in ("datasources", "dashboards"):
        files = sorted(glob.glob(f"{PROVISIONING}/{kind}/*.yml") + glob.glob(f"{PROVISIONING}/{kind}/*.yaml"))
        if not files:
            problems.append(f"no provisioning file in {PROVISIONING}/{kind}")
        for path in files:
            report["provisioning"].append(path)
            try:
                doc = expand(yaml.safe_load(Path(path).read_text()))
            except Exception as exc:  # noqa: BLE001 - reported, not raised
                problems.append(f"{path}: {type(exc).__name__}")
                continue
            if kind == "dashboards":
                for provider in doc.get("providers", []):
                    folder = provider.get("options", {}).get("path", "")
                    found = sorted(glob.glob(f"{folder}/**/*.json", recursive=True))
                    report["dashboards"] += found
                    if not found:
                        problems.append(f"provider {provider.get('name')}: no dashboard JSON in {folder}")
            else:
                report["datasources"] += [check_datasource(ds, problems) for ds in doc.get("datasources", [])]
    home = os.environ.get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home and home not in report["dashboards"]:
        problems.append(f"the home dashboard {home} is not a provisioned dashboard file")
    for name, path in os.environ.items():
        if name.startswith("GF_") and name.endswith("__FILE"):
            ok = os.path.isfile(path) and os.access(path, os.R_OK) and os.path.getsize(path) > 0
            report["file_settings"].append({"name": name, "readable": ok})
            if not ok:
                problems.append(f"{name}: {path} is not a readable, non-empty file")
    try:
        probe = os.path.join(DATA, ".stub-write-test")
        open(probe, "w").close()
        os.remove(probe)
    except OSError as exc:
        problems.append(f"{DATA} is not writable by uid {os.getuid()}: {exc.strerror}")
    return report


def check_datasource(ds, problems):
    result = {"name": ds.get("name"), "type": ds.get("type"), "url": ds.get("url")}
    if ds.get("type") not in ("postgres", "grafana-postgresql-datasource"):
        return result
    host, _, port = ds["url"].partition(":")
    try:
        with psycopg.connect(
            host=host, port=int(port or 5432), dbname=ds["jsonData"]["database"], user=ds["user"],
            password=ds.get("secureJsonData", {}).get("password", ""), connect_timeout=5,
        ) as conn:
            conn.execute("SELECT count(*) FROM prices").fetchone()
        result["login"] = "ok"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        result["login"] = f"failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        problems.append(f"datasource {ds.get('name')}: login as {ds.get('user')} {result['login']}")
    return result


class Handler(BaseHTTPRequestHandler):
    report = None

    def do_GET(self):
        if Handler.report is None or Handler.report["problems"]:
            Handler.report = check()
            for problem in Handler.report["problems"]:
                log(problem)
        ok = not Handler.report["problems"]
        if self.path == "/api/health":
            body = {"database": "ok" if ok else "failing", "version": VERSION}
            self.answer(200 if ok else 503, body)
        elif self.path == "/stub/report":
            self.answer(200, Handler.report)
        else:
            self.answer(404, {"message": "Not found"})

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # healthchecks every 30 s: no access log
        pass


if __name__ == "__main__":
    log(f"serving on :3000 (stand-in for Grafana {VERSION}; provisioning in {PROVISIONING})")
    ThreadingHTTPServer(("0.0.0.0", 3000), Handler).serve_forever()
