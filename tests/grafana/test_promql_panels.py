"""Every PromQL expression of every dashboard parses (the real promtool) and returns data from a real
Prometheus scraping the real exporter.

The exporter is `amber-home export` as a process, polling the simulator of tests/grafana/conftest.py and
reading the filled database (its freshness and cost metrics); Prometheus 2.53 (scripts/prometheus-tools)
scrapes it every second on loopback, with the job name of prometheus/prometheus.yml. Expressions are
expanded like Grafana does it (tests/grafana/macros.py): `$site` is the loaded site, `$__range` and
`$__interval` come from the dashboard's time range, `$__rate_interval` from the scrape interval. Stats and
gauges run as instant queries, graphs as range queries over the last seconds (`promtool query`)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.grafana.conftest import TIMEZONE, World
from tests.grafana.dashboards import PROMETHEUS_TYPE, REPO, Query, queries
from tests.grafana.macros import calculate_interval, dashboard_range, expand_promql
from tests.prometheus.tools import ToolsMissing, bin_dir

PROMQL = queries(PROMETHEUS_TYPE)
JOB = "amber-exporter"  # prometheus/prometheus.yml's job for the exporter; the Health dashboard filters on it
TEST_SCRAPE = dt.timedelta(seconds=1)
PRODUCTION_SCRAPE = dt.timedelta(seconds=30)  # prometheus/prometheus.yml and the data source's timeInterval
DATA_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def expanded(query: Query, *, site: str, now: dt.datetime, scrape: dt.timedelta) -> str:
    time_range = dashboard_range(query.dashboard, now)
    interval = calculate_interval(time_range, query.panel.get("interval"))
    return expand_promql(query.text, time_range, interval, scrape, {"site": site})


def tools() -> Path:
    try:
        return bin_dir()
    except ToolsMissing as exc:
        pytest.fail(str(exc), pytrace=False)


# --- without servers ------------------------------------------------------------------------------------------


def test_every_metric_used_is_in_the_exporter_contract():
    contract = (REPO / "docs" / "metrics-contract.md").read_text(encoding="utf-8")
    used = {name for q in PROMQL for name in re.findall(r"\bamber_[a-z_]+\b", q.text)}
    assert used
    missing = sorted(name for name in used if f"`{name}`" not in contract)
    assert not missing, f"not in docs/metrics-contract.md: {missing}"


def test_the_exporter_job_name_matches_prometheus_yml():
    config = yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    assert JOB in [job["job_name"] for job in config["scrape_configs"]]
    assert any(f'job="{JOB}"' in q.text for q in PROMQL)


def test_every_expression_parses_with_promtool(tmp_path):
    """Each expression, expanded with production's 30 s scrape interval, as a recording rule: promtool check
    rules parses every one of them with Prometheus's own parser."""
    now = dt.datetime.now(dt.UTC)
    rules = [
        {"record": f"grafana:{q.dashboard['uid'].replace('-', '_')}:panel_{q.panel['id']}_{q.target['refId']}",
         "expr": expanded(q, site="S1", now=now, scrape=PRODUCTION_SCRAPE)}
        for q in PROMQL
    ]  # fmt: skip
    path = tmp_path / "dashboards.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}, sort_keys=False))
    result = subprocess.run([str(tools() / "promtool"), "check", "rules", str(path)], capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"SUCCESS: {len(rules)} rules found" in output, output


# --- against the real exporter and Prometheus -------------------------------------------------------------------


@dataclass(frozen=True)
class Stack:
    prometheus_url: str
    site_id: str


def wait_for(url: str, process: subprocess.Popen, log: Path, what: str, accept=lambda body: True) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if accept(response.read()):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    process.kill()
    pytest.fail(f"{what} did not come up; its log:\n{log.read_text()[-3000:]}", pytrace=False)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def stack(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("grafana-promql")
    exporter_port, prometheus_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMBER_", "DATABASE_URL", "APPRISE_", "EXPORTER_"))}
    env.update(AMBER_API_BASE_URL=world.sim.base_url, DATABASE_URL=world.url, AMBER_TIMEZONE=TIMEZONE,
               EXPORTER_HOST="127.0.0.1", EXPORTER_PORT=str(exporter_port), LOG_LEVEL="INFO",
               AMBER_LOADS="dishwasher 2h, car 4h 7kW, battery 1h feedIn")  # fmt: skip
    exporter_log = tmp / "exporter.log"
    with exporter_log.open("wb") as out:
        exporter = subprocess.Popen([sys.executable, "-m", "amber_home.cli", "export"], cwd=REPO, env=env,
                                    stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{exporter_port}/healthz", exporter, exporter_log, "amber-home export",
                 accept=lambda body: json.loads(body)["up"])  # fmt: skip
        (tmp / "prometheus.yml").write_text(
            f"global: {{scrape_interval: {int(TEST_SCRAPE.total_seconds())}s}}\n"
            f"scrape_configs:\n  - job_name: {JOB}\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{exporter_port}']}}]\n"
        )
        prometheus_log = tmp / "prometheus.log"
        with prometheus_log.open("wb") as out:
            prometheus = subprocess.Popen(
                [str(tools() / "prometheus"), f"--config.file={tmp}/prometheus.yml",
                 f"--storage.tsdb.path={tmp}/data", f"--web.listen-address=127.0.0.1:{prometheus_port}"],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{prometheus_port}"
            wait_for(f"{url}/-/ready", prometheus, prometheus_log, "prometheus")
            yield Stack(url, world.site_id)
        finally:
            stop(prometheus)
    finally:
        stop(exporter)


def promtool_query(stack: Stack, query: Query, expr: str) -> list:
    """Run the query like the panel does: instant for stats, a range over the last 20 s for graphs."""
    if query.target["instant"]:
        args = ["query", "instant", "-o", "json", "--", stack.prometheus_url, expr]
    else:
        end = time.time()
        args = ["query", "range", "-o", "json", f"--start={end - 20:.3f}", f"--end={end:.3f}", "--step=1s", "--",
                stack.prometheus_url, expr]  # fmt: skip
    result = subprocess.run([str(tools() / "promtool"), *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"promtool {' '.join(args[:2])} {expr!r}: {result.stdout}{result.stderr}"
    return json.loads(result.stdout or "[]")


@pytest.mark.parametrize("query", PROMQL, ids=lambda q: q.id)
def test_panel_promql_returns_data_from_the_exporter(stack, query):
    expr = expanded(query, site=stack.site_id, now=dt.datetime.now(dt.UTC), scrape=TEST_SCRAPE)
    deadline = time.monotonic() + DATA_TIMEOUT  # rates need a few scrapes; database metrics a poll
    while True:
        result = promtool_query(stack, query, expr)
        if result or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert result, f"{query.id}: no data for {expr}"
    for series in result:
        values = [series["value"]] if "value" in series else series["values"]
        assert values and all(v[1] not in ("NaN", "+Inf", "-Inf") for v in values), f"{query.id}: {series}"
