"""The key path, and the history surviving what happens to a stack on a Pi: the backfill killed -9 (as the
OOM killer does), TimescaleDB restarted mid-backfill, `down` + `up`, and a new app image.

The services run with a key, against the simulator as the API (AMBER_API_BASE_URL; the demo profile
only starts it; tests/engine/compose.fast-api.yaml shortens its rate window). The tests share one stack and run in file order, each building on the state the one
before left.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import signal
import urllib.request
import uuid

import pytest

from tests.engine.conftest import days_ago
from tests.support.compose_stack import REPO, ComposeStack, docker

pytestmark = pytest.mark.engine

HISTORY_DAYS = 600
FAST_API = REPO / "tests" / "engine" / "compose.fast-api.yaml"
KEY_ENV = {
    "AMBER_API_KEY": "sim-key",
    "AMBER_API_BASE_URL": "http://simulator:8765/v1",
    "HISTORICAL_START_DATE": days_ago(HISTORY_DAYS),
}


@pytest.fixture(scope="module")
def stack(engine_images, tmp_path_factory):
    stack = ComposeStack.create(tmp_path_factory.mktemp("key"), KEY_ENV, profiles=["demo"],
                                 extra_files=[FAST_API])  # fmt: skip
    try:
        stack.up()
        yield stack
    finally:
        stack.down()


def windows_done(stack: ComposeStack) -> int:
    return stack.query("SELECT count(*) FROM backfill_progress")[0][0]


def test_kill_9_of_the_backfill_resumes_without_loss(stack):
    stack.wait_for("a few backfill windows committed", lambda: windows_done(stack) >= 3, timeout=120, interval=0.2)
    pid = stack.inspect("backfill")["State"]["Pid"]
    assert pid, "the backfill is not running"
    os.kill(pid, signal.SIGKILL)  # from outside, like the OOM killer: not a stop Docker asked for
    done_at_kill = windows_done(stack)
    stack.wait_for("the backfill restarted", lambda: stack.inspect("backfill")["RestartCount"] >= 1, timeout=60)
    stack.wait_for("more windows after the restart", lambda: windows_done(stack) > done_at_kill + 2, timeout=120)


def test_a_timescaledb_restart_mid_backfill_is_survived(stack):
    before = windows_done(stack)
    stack.compose("restart", "timescaledb", timeout=180)
    stack.wait_healthy(["timescaledb"], timeout=120)
    stack.wait_for("the backfill going on after the restart", lambda: windows_done(stack) > before + 2, timeout=180)


def test_the_history_is_complete_with_no_gap_and_no_overlap(stack):
    def backfill_exited():
        state = stack.inspect("backfill")["State"]
        return state["Status"] == "exited" and state["ExitCode"] == 0 and not state["Restarting"]

    stack.wait_for("the backfill to finish", backfill_exited, timeout=600, interval=5)
    windows = stack.query("SELECT site_id, stream, window_start, window_end FROM backfill_progress ORDER BY 1, 2, 3")
    for (site, stream, _, end), (site2, stream2, start2, _) in itertools.pairwise(windows):
        if (site, stream) == (site2, stream2):
            assert start2 == end + dt.timedelta(days=1), f"{site} {stream}: gap or overlap after {end}"
    first = dt.date.fromisoformat(KEY_ENV["HISTORICAL_START_DATE"])
    short_days = stack.query(
        "SELECT day, n FROM (SELECT (interval_start AT TIME ZONE 'Australia/Brisbane')::date AS day, count(*) AS n"
        " FROM prices WHERE channel_type = 'general' GROUP BY 1) AS d"
        " WHERE day >= %s AND day < (now() AT TIME ZONE 'Australia/Brisbane')::date AND n <> 48", (first,),
    )  # fmt: skip
    assert short_days == [], f"days without exactly 48 general prices: {short_days[:10]}"
    log = stack.logs("backfill")
    assert "Traceback" not in log


def test_the_key_path_collects_and_doctor_passes_in_every_service(stack):
    stack.wait_healthy(["loader", "exporter"], timeout=240)
    for service in ("loader", "exporter"):
        result = stack.exec(service, "amber-home", "doctor")
        assert result.returncode == 0, f"{service}: doctor failed:\n{result.stdout}{result.stderr}"
        assert "demo" not in result.stdout.lower()
    assert "demo" not in stack.logs("loader")
    assert "Amber API http://simulator:8765/v1" in stack.logs("exporter")


def test_without_a_notification_target_alerts_are_dropped_quietly(stack):
    stack.wait_healthy(["alertmanager", "exporter"], timeout=120)
    alert = [{"labels": {"alertname": "AmberEngineTierTest", "severity": "info"}}]
    request = urllib.request.Request(stack.url("alertmanager", 9093, "/api/v2/alerts"), method="POST",
                                     data=json.dumps(alert).encode(), headers={"Content-Type": "application/json"})  # fmt: skip
    urllib.request.urlopen(request, timeout=10).close()
    stack.wait_for("the exporter's one line about dropped alerts", lambda: "dropped" in stack.logs("exporter"),
                   timeout=60)  # fmt: skip
    problems = [line for line in stack.logs("alertmanager").splitlines() if "level=error" in line or "level=warn" in line]
    assert not problems, "\n".join(problems)


def test_down_and_up_resumes_instead_of_reloading(stack):
    rows = stack.query("SELECT count(*) FROM prices")[0][0]
    stack.compose("down", "--timeout", "20")  # volumes kept
    stack.up()
    stack.wait_healthy(["timescaledb", "loader"], timeout=240)
    stack.wait_for("the second backfill to finish", lambda: stack.inspect("backfill")["State"]["Status"] == "exited",
                   timeout=180)  # fmt: skip
    plan = [line for line in stack.logs("backfill").splitlines() if "backfill plan:" in line]
    assert plan, stack.logs("backfill")
    requests = int(plan[-1].split("backfill plan:")[1].split()[0])
    assert requests <= 6, f"the second start reloaded history: {plan[-1]}"
    assert stack.query("SELECT count(*) FROM prices")[0][0] >= rows


def test_a_new_app_image_keeps_the_data(stack):
    rows = stack.query("SELECT count(*) FROM prices")[0][0]
    old_image = stack.inspect("loader")["Image"]
    # A new image id from the same Dockerfile, as an upgrade brings (the label is the only change).
    docker("build", "--quiet", "--network", "host", "--label", f"amber-home.test-build={uuid.uuid4().hex}",
           "--build-arg", "PYTHON_IMAGE=amber-engine/python-base", "--tag", "amber-home:local", str(REPO),
           timeout=600)  # fmt: skip
    stack.up()
    stack.wait_healthy(["loader", "exporter"], timeout=240)
    assert stack.inspect("loader")["Image"] != old_image, "the loader was not recreated from the new image"
    migrate = stack.inspect("migrate")["State"]
    assert migrate["ExitCode"] == 0
    assert stack.query("SELECT count(*) FROM prices")[0][0] >= rows
