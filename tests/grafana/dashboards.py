"""Read what Grafana would read: the provisioning YAML and the dashboard JSON under grafana/, and every query
in it (SQL for TimescaleDB, PromQL for Prometheus), so the tests can run each one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "grafana"
DASHBOARDS = GRAFANA / "dashboards"
PROVISIONING = GRAFANA / "provisioning"
SCHEMA = GRAFANA / "schema"
# compose.yaml mounts grafana/dashboards here; the dashboard providers' paths point below it.
CONTAINER_DASHBOARDS = "/etc/grafana/dashboards"

PROMETHEUS_TYPE = "prometheus"
POSTGRES_TYPE = "grafana-postgresql-datasource"


@cache
def dashboards() -> dict[str, dict[str, Any]]:
    """grafana/dashboards/<folder>/<name>.json -> the dashboard, keyed by the path under grafana/dashboards."""
    found = {}
    for path in sorted(DASHBOARDS.rglob("*.json")):
        found[path.relative_to(DASHBOARDS).as_posix()] = json.loads(path.read_text(encoding="utf-8"))
    return found


def by_uid(uid: str) -> dict[str, Any]:
    (dashboard,) = [d for d in dashboards().values() if d.get("uid") == uid]
    return dashboard


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in (collapsed) rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


@dataclass(frozen=True)
class Query:
    dashboard: dict[str, Any]
    panel: dict[str, Any]
    target: dict[str, Any]

    @property
    def datasource(self) -> dict[str, str]:
        return self.target.get("datasource") or self.panel["datasource"]

    @property
    def kind(self) -> str:
        return self.datasource["type"]

    @property
    def text(self) -> str:
        return self.target["rawSql"] if self.kind == POSTGRES_TYPE else self.target["expr"]

    @property
    def id(self) -> str:
        title = self.panel.get("title") or "(untitled)"
        return f"{self.dashboard['uid']}:{self.panel['id']}:{title}:{self.target['refId']}"


def queries(kind: str | None = None) -> list[Query]:
    found = [
        Query(dashboard, panel, target)
        for dashboard in dashboards().values()
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]
    return [q for q in found if kind is None or q.kind == kind]


def variable_queries(kind: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(dashboard, variable) for each query variable on a data source of this type."""
    return [
        (dashboard, variable)
        for dashboard in dashboards().values()
        for variable in dashboard.get("templating", {}).get("list", [])
        if variable["type"] == "query" and variable["datasource"]["type"] == kind
    ]


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def provisioned_datasources() -> list[dict[str, Any]]:
    return [
        ds for path in sorted((PROVISIONING / "datasources").glob("*.y*ml")) for ds in load_yaml(path)["datasources"]
    ]


def dashboard_providers() -> list[dict[str, Any]]:
    return [p for path in sorted((PROVISIONING / "dashboards").glob("*.y*ml")) for p in load_yaml(path)["providers"]]


def provider_directory(provider: dict[str, Any]) -> Path:
    """The repository directory behind a provider's container path."""
    path = provider["options"]["path"]
    assert path.startswith(CONTAINER_DASHBOARDS + "/"), f"{provider['name']}: {path} is outside {CONTAINER_DASHBOARDS}"
    return DASHBOARDS / path.removeprefix(CONTAINER_DASHBOARDS + "/")
