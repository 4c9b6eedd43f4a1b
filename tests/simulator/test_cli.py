"""`python -m simulator`: prints where it listens, serves, stops cleanly on SIGTERM; bad options exit 2."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from simulator.__main__ import build_parser, config_from_args, main

ROOT = Path(__file__).resolve().parents[2]


def test_cli_serves_on_a_free_port_and_stops_on_sigterm():
    command = [sys.executable, "-m", "simulator", "--port", "0", "--sites", "3", "--seed", "5", "--speed", "0",
               "--start", "2025-01-15T12:07:30+10:00", "--api-key", "cli-key", "--rate-limit", "7"]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("Amber simulator listening on http://127.0.0.1:") and line.endswith("/v1")
        base_url = line.rsplit(" ", 1)[1]
        with httpx.Client(base_url=base_url, headers={"Authorization": "Bearer cli-key"}, verify=False) as client:
            response = client.get("/sites")
            assert response.status_code == 200 and len(response.json()) == 3
            assert response.headers["RateLimit-Policy"] == "7;w=300"
            assert client.get("/sites", headers={"Authorization": "Bearer sim-key"}).status_code == 401
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert "cli-key" not in process.stdout.read() + process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_cli_rejects_bad_options(capsys):
    assert main(["--resolution", "15"]) == 2
    assert main(["--sites", "0", "--fault-5xx-rate", "2"]) == 2
    err = capsys.readouterr().err
    assert "sites must be at least 1" in err and "fault_5xx_rate must be between 0 and 1" in err
    assert main(["--start", "2025-01-15T12:00:00"]) == 2  # no offset
    assert "give an offset" in capsys.readouterr().err


def test_cli_options_map_to_config():
    args = build_parser().parse_args(
        ["--port", "9000", "--seed", "3", "--sites", "4", "--resolution", "5", "--rate-window-seconds", "3",
         "--speed", "60", "--fault-latency-ms", "20", "--fault-truncate-rate", "0.1", "--rate-lockout",
         "--closed-sites", "1"]  # fmt: skip
    )
    config = config_from_args(args)
    assert (config.port, config.seed, config.sites, config.resolution, config.closed_sites) == (9000, 3, 4, 5, 1)
    assert (config.rate_limit, config.rate_window_seconds, config.rate_lockout) == (50, 3.0, True)
    assert (config.speed, config.fault_latency_ms, config.fault_truncate_rate, config.start) == (60.0, 20.0, 0.1, None)
    assert config.api_key == "sim-key" and config.host == "127.0.0.1"
    assert build_parser().parse_args([]).port == 8765


def test_main_in_process_until_stopped(capsys):
    stop = threading.Event()
    result = []
    thread = threading.Thread(target=lambda: result.append(main(["--port", "0", "--speed", "0"], stop=stop)))
    thread.start()
    try:
        for _ in range(100):
            out = capsys.readouterr().out
            if "listening on" in out:
                break
            stop.wait(0.02)
        assert "listening on http://127.0.0.1:" in out
    finally:
        stop.set()
        thread.join(timeout=10)
    assert result == [0]
