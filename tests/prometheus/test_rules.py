"""prometheus/ checked by the real tools: promtool (config, rules, rule unit tests) and amtool.

`promtool check config` passes even when rule_files matches nothing, so the rule count and the alert
names are asserted here against EXPECTED_ALERTS, and every alert must have a firing and a not-firing
case in the rule unit tests (rules/*_test.yml)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.prometheus.tools import PROMETHEUS_DIR, run_tool

EXPECTED_ALERTS = {
    "AmberPriceSpike": "critical",
    "AmberPotentialSpike": "warning",
    "AmberPriceAboveThreshold": "warning",
    "AmberNegativeImportPrice": "info",
    "AmberFeedInNegative": "warning",
    "AmberSpikeForecastSoon": "warning",
    "AmberCheapWindowNow": "info",
    "AmberExporterDown": "critical",
    "AmberDataStale": "warning",
    "AmberRateLimited": "warning",
    "AmberLoaderLagging": "info",
    "AmberLoaderStalled": "warning",
    "AmberTimescaleJobFailing": "warning",
    "AmberMqttDisconnected": "warning",
}
RULE_FILES = sorted(PROMETHEUS_DIR.glob("rules/*.rules.yml"))
TEST_FILES = sorted(PROMETHEUS_DIR.glob("rules/*_test.yml"))


def rules_found(output: str) -> int:
    return sum(int(n) for n in re.findall(r"SUCCESS: (\d+) rules found", output))


def alert_blocks(text: str) -> dict[str, str]:
    """Alert name -> its YAML block (from `- alert:` to the next rule), without a YAML library."""
    parts = re.split(r"^\s*- alert: *(\w+) *$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_prometheus_config_is_valid_and_loads_every_rule(prometheus_bin: Path) -> None:
    result = run_tool("promtool", "check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in result.stdout, result.stdout
    assert rules_found(result.stdout) == len(EXPECTED_ALERTS), result.stdout


def test_rule_files_are_valid(prometheus_bin: Path) -> None:
    result = run_tool("promtool", "check", "rules", *(str(p) for p in RULE_FILES))
    assert result.returncode == 0, result.stdout
    assert rules_found(result.stdout) == len(EXPECTED_ALERTS), result.stdout


def test_rule_files_glob_keeps_tests_out() -> None:
    config = (PROMETHEUS_DIR / "prometheus.yml").read_text()
    assert re.findall(r"^\s*- (rules/\S+)$", config, flags=re.MULTILINE) == ["rules/*.rules.yml"]
    assert [p.name for p in RULE_FILES] == ["health.rules.yml", "prices.rules.yml"]
    assert not any(p.name.endswith("_test.yml") for p in RULE_FILES)


def test_alerts_are_exactly_the_expected_ones_with_severity_and_annotations() -> None:
    blocks: dict[str, str] = {}
    for path in RULE_FILES:
        blocks |= alert_blocks(path.read_text())
    assert sorted(blocks) == sorted(EXPECTED_ALERTS)
    for name, block in blocks.items():
        assert re.search(rf"^\s+severity: {EXPECTED_ALERTS[name]}$", block, re.MULTILINE), name
        for annotation in ("title", "summary", "description", "runbook"):
            assert re.search(rf"^\s+{annotation}:", block, re.MULTILINE), f"{name} lacks {annotation}"


def test_rule_unit_tests_pass(prometheus_bin: Path) -> None:
    result = run_tool(
        "promtool", "test", "rules", *(p.name for p in TEST_FILES), cwd=PROMETHEUS_DIR / "rules"
    )
    assert result.returncode == 0, result.stdout
    assert result.stdout.count("SUCCESS") == len(TEST_FILES), result.stdout


def unit_test_cases() -> dict[str, set[str]]:
    """Alert name -> {"firing", "not firing"} as covered by alert_rule_test entries."""
    cases: dict[str, set[str]] = {}
    for path in TEST_FILES:
        current = None
        for line in path.read_text().splitlines():
            if m := re.match(r"^\s+alertname: *(\w+)", line):
                current = m.group(1)
            elif current and (m := re.match(r"^\s+exp_alerts:\s*(\[\])?\s*$", line)):
                cases.setdefault(current, set()).add("not firing" if m.group(1) else "firing")
                current = None
    return cases


@pytest.mark.parametrize("alert", sorted(EXPECTED_ALERTS))
def test_every_alert_has_a_firing_and_a_not_firing_unit_test(alert: str) -> None:
    assert unit_test_cases().get(alert, set()) == {"firing", "not firing"}


def test_spike_unit_test_checks_annotations() -> None:
    text = (PROMETHEUS_DIR / "rules" / "prices_test.yml").read_text()
    assert re.search(r'summary: "Price spike: 187\.3 c/kWh"', text)
    assert "interval ending 05:30 UTC" in text


def test_alertmanager_config_is_valid(prometheus_bin: Path) -> None:
    result = run_tool("amtool", "check-config", "alertmanager.yml")
    assert result.returncode == 0, result.stdout
    assert "2 inhibit rules" in result.stdout and "1 receivers" in result.stdout, result.stdout


@pytest.mark.parametrize("alert", sorted(EXPECTED_ALERTS))
def test_every_alert_routes_to_the_relay(prometheus_bin: Path, alert: str) -> None:
    result = run_tool(
        "amtool",
        "config",
        "routes",
        "test",
        "--config.file=alertmanager.yml",
        f"alertname={alert}",
        "site_id=S1",
        f"severity={EXPECTED_ALERTS[alert]}",
    )
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[-1] == "apprise-relay", result.stdout


def test_relay_receiver_sends_resolved_to_the_documented_address() -> None:
    config = (PROMETHEUS_DIR / "alertmanager.yml").read_text()
    assert "- url: http://exporter:9847/alerts" in config
    assert "send_resolved: true" in config
    assert "group_by: [alertname, site_id]" in config
