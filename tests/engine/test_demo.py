"""The demo from nothing, as a new user runs it: `docker compose --profile demo up -d`, no key, no .env.

One stack for the module (starting it is the expensive part); the tests read it and do not change it.
The simulated site's whole history loads in the background (a few minutes); the days a user looks at
first — now, yesterday, this month — must be there within two minutes of `up -d` returning.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.error
import urllib.request
from zoneinfo import ZoneInfo

import pytest

from tests.support.compose_stack import REPO, ComposeStack, http_get

pytestmark = pytest.mark.engine

LONG_RUNNING = ["timescaledb", "simulator", "loader", "exporter", "prometheus", "alertmanager", "grafana"]
UP_SECONDS = 60  # `up -d` must return well within this, on the first start too
NOTIFY = REPO / "tests" / "engine" / "compose.notify.yaml"
FIRST_DAYS_SECONDS = 120

# Lines the stand-ins print that the official images would not (tests/engine/README.md): Debian's
# TimescaleDB is the Apache build, whose job-history retention job needs the TSL license.
STANDIN_NOISE = re.compile(
    r'job \d+ threw an error|functionality not supported under the current "apache" license'
    r"|To access all features and the best time-series experience|background worker \"Job History Log"
)
PROBLEM = re.compile(r"Traceback|\bERROR\b|\bCRITICAL\b|level=error|level=warn|\bFATAL\b|\bPANIC\b")


@pytest.fixture(scope="module")
def demo(engine_images, tmp_path_factory):
    env = {"APPRISE_URLS": "json://notify-sink:8080/notify"}
    stack = ComposeStack.create(tmp_path_factory.mktemp("demo"), env, profiles=["demo"], extra_files=[NOTIFY])
    try:
        stack.up_seconds = stack.up()
        yield stack
    finally:
        stack.down()


def test_up_returns_at_once_on_the_first_start(demo):
    assert demo.up_seconds < UP_SECONDS, f"`docker compose up -d` took {demo.up_seconds:.0f} s"


def test_now_yesterday_and_this_month_within_two_minutes(demo):
    def current_price():
        return demo.query("SELECT count(*) FROM prices WHERE interval_start > now() - interval '40 minutes'")[0][0]

    demo.wait_for("the current price in the database", current_price, timeout=FIRST_DAYS_SECONDS - demo.since_up())
    # Every day from the first of last month (so "this month" is whole even on the 1st) to yesterday, in
    # the dashboards' zone, with all 48 half-hours of general prices.
    today = dt.datetime.now(dt.UTC).astimezone(ZoneInfo("Australia/Sydney")).date()
    first = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    wanted = (today - first).days

    def recent_days_complete():
        (days,) = demo.query(
            "SELECT count(*) FROM (SELECT (interval_start AT TIME ZONE 'Australia/Sydney')::date AS day"
            " FROM prices WHERE channel_type = 'general' AND interval_start >= %s::date - 1"
            " GROUP BY 1 HAVING count(*) >= 46) AS d WHERE day >= %s AND day < %s", (first, first, today),
        )[0]  # fmt: skip
        return days >= wanted

    demo.wait_for(f"the {wanted} days since {first} complete", recent_days_complete,
                  timeout=FIRST_DAYS_SECONDS - demo.since_up())  # fmt: skip


def test_every_service_becomes_healthy(demo):
    demo.wait_healthy(LONG_RUNNING, timeout=240)
    migrate = demo.inspect("migrate")["State"]
    assert migrate["Status"] == "exited" and migrate["ExitCode"] == 0


def test_exporter_serves_metrics_from_the_api_and_the_database(demo):
    def metrics():
        status, text = http_get(demo.url("exporter", 9847, "/metrics"))
        return text if status == 200 and re.search(r"^amber_up(\{.*\})? 1", text, re.M) else ""

    text = demo.wait_for("amber_up 1 on /metrics", metrics, timeout=120)
    assert re.search(r"^amber_price_dollars_per_kwh\{", text, re.M)


def test_prometheus_scrapes_every_target_and_loads_every_rule_file(demo):
    def targets_up():
        status, body = http_get(demo.url("prometheus", 9090, "/api/v1/targets"))
        active = json.loads(body)["data"]["activeTargets"]
        return active if status == 200 and active and all(t["health"] == "up" for t in active) else None

    active = demo.wait_for("every Prometheus target up", targets_up, timeout=120)
    assert {t["labels"]["job"] for t in active} == {"amber-exporter", "prometheus", "alertmanager"}
    _status, body = http_get(demo.url("prometheus", 9090, "/api/v1/rules"))
    files = {group["file"].rsplit("/", 1)[-1] for group in json.loads(body)["data"]["groups"]}
    assert files == {p.name for p in (REPO / "prometheus" / "rules").glob("*.rules.yml")}


def test_an_alert_goes_through_alertmanager_and_the_relay_to_the_phone(demo):
    demo.wait_healthy(["exporter", "alertmanager"], timeout=120)
    alert = [{"labels": {"alertname": "AmberEngineTierTest", "severity": "info", "site_id": "S1"},
              "annotations": {"title": "Engine tier test", "summary": "through Alertmanager to the relay"}}]  # fmt: skip
    request = urllib.request.Request(
        demo.url("alertmanager", 9093, "/api/v2/alerts"), data=json.dumps(alert).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    demo.wait_for("the test alert at the notification sink",
                  lambda: "Engine tier test" in demo.logs("notify-sink"), timeout=90)  # fmt: skip
    # Only Alertmanager has the relay's token (the generated secret relay_token).
    forged = urllib.request.Request(demo.url("exporter", 9847, "/alerts"), data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=10)
    assert refused.value.code == 401


def test_doctor_passes_in_every_app_container(demo):
    demo.wait_healthy(["loader", "exporter"], timeout=240)
    for service in ("loader", "exporter"):
        result = demo.exec(service, "amber-home", "doctor")
        assert result.returncode == 0, f"{service}: doctor failed:\n{result.stdout}{result.stderr}"


def test_grafana_finds_its_provisioning_and_logs_in_as_the_reader(demo):
    demo.wait_healthy(["grafana"], timeout=180)
    status, body = http_get(demo.url("grafana", 3000, "/stub/report"))
    report = json.loads(body)
    assert status == 200 and report["problems"] == []
    assert {d["name"]: d.get("login") for d in report["datasources"]}["TimescaleDB"] == "ok"
    assert "/etc/grafana/dashboards/energy/now.json" in report["dashboards"]
    assert report["file_settings"] == [{"name": "GF_SECURITY_ADMIN_PASSWORD__FILE", "readable": True}]


def test_logs_say_which_api_is_used(demo):
    demo.wait_healthy(["exporter"], timeout=180)
    assert "Amber API http://simulator:8765/v1" in demo.logs("exporter")
    assert "collecting from http://simulator:8765/v1" in demo.logs("loader")


def test_no_traceback_or_error_in_any_log(demo):
    demo.wait_healthy(LONG_RUNNING, timeout=240)
    problems = []
    for container in demo.containers():
        for line in demo.logs(container["Service"]).splitlines():
            if PROBLEM.search(line) and not STANDIN_NOISE.search(line):
                problems.append(f"{container['Service']}: {line[:300]}")
    assert not problems, "\n".join(problems[:40])
