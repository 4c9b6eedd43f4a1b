"""The dashboards and provisioning files as Grafana reads them, without a Grafana server.

- Every dashboard validates against the JSON schema generated from Grafana's published TypeScript types
  (@grafana/schema, the version of the Grafana image in compose.yaml; grafana/schema/generate), and every
  panel's options and custom field config against its panel plugin's generated schema. The generated
  schemas forbid unknown keys, so a misspelt option fails here instead of being ignored by Grafana.
- What a schema cannot say: data source uids are provisioned, panel ids are unique, panels sit inside the
  24-column grid without overlapping, uids are stable, the tablet dashboard refreshes at least every minute,
  queries are well-formed targets, and the provisioning YAML points at the dashboards in the repository.
- The committed JSON is what grafana/build_dashboards.py builds, and grafana/README.md describes every panel.
"""

from __future__ import annotations

import importlib.util
import json
import re
from functools import cache
from itertools import combinations
from typing import Any

import jsonschema
import pytest

from tests.grafana.dashboards import (
    CONTAINER_DASHBOARDS,
    DASHBOARDS,
    GRAFANA,
    POSTGRES_TYPE,
    PROMETHEUS_TYPE,
    REPO,
    SCHEMA,
    dashboard_providers,
    dashboards,
    load_yaml,
    panels,
    provider_directory,
    provisioned_datasources,
    queries,
)
from tests.grafana.macros import parse_interval, provisioning_value

EXPECTED = {  # file -> (uid, title, folder uid): uids are part of every saved link and must not change
    "energy/now.json": ("amber-now", "Now", "amber-home"),
    "energy/history.json": ("amber-history", "History", "amber-home"),
    "operations/health.json": ("amber-health", "Health", "amber-home-operations"),
}
DATASOURCES = {"amber-prometheus": PROMETHEUS_TYPE, "amber-timescaledb": POSTGRES_TYPE}
GRID_COLUMNS = 24
TABLET_ROWS = 20  # a 10" landscape tablet (1280 × 800) in kiosk mode shows about 20 grid rows (30 px + 8 px)

# Keys Grafana's provisioning readers know (pkg/services/provisioning/{datasources,dashboards}, apiVersion 1).
DATASOURCE_KEYS = {"orgId", "orgName", "version", "name", "type", "access", "url", "user", "database", "basicAuth",
                   "basicAuthUser", "withCredentials", "isDefault", "correlations", "jsonData", "secureJsonData",
                   "editable", "uid"}  # fmt: skip
PROVIDER_KEYS = {"name", "orgId", "folder", "folderUid", "type", "disableDeletion", "updateIntervalSeconds",
                 "allowUiUpdates", "options"}  # fmt: skip
PROMETHEUS_TARGET_KEYS = {"refId", "datasource", "expr", "legendFormat", "instant", "range", "editorMode", "interval",
                          "format", "exemplar", "hide"}  # fmt: skip
SQL_TARGET_KEYS = {"refId", "datasource", "rawSql", "format", "rawQuery", "editorMode", "hide"}

ALL_PANELS = [(name, panel) for name, dashboard in dashboards().items() for panel in panels(dashboard)]


def panel_id(param: Any) -> str:
    if isinstance(param, dict):
        return f"{param.get('id')}-{param.get('title') or 'untitled'}"
    return str(param)


@cache
def schema(name: str) -> dict[str, Any]:
    path = SCHEMA / name
    assert path.exists(), f"{path} is missing: add the panel type to PANEL_TYPES in grafana/schema/generate and run it"
    return json.loads(path.read_text(encoding="utf-8"))


def validate(instance: Any, root: dict[str, Any], sub: str | dict[str, Any] | None = None, where: str = "") -> None:
    """Validate against `root`, or against a definition of it (by name) or a schema inside it (which may
    refer to root's definitions)."""
    if sub is None:
        target = root
    else:
        definitions = {"$schema": root["$schema"], "definitions": root["definitions"]}
        target = {**definitions, "$ref": f"#/definitions/{sub}"} if isinstance(sub, str) else {**definitions, **sub}
    validator = jsonschema.Draft7Validator(target)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    messages = [f"{where}/{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]
    assert not messages, "\n".join(messages[:20])


# --- built, schema-valid JSON ---------------------------------------------------------------------------


def test_committed_dashboards_are_what_build_dashboards_py_builds():
    spec = importlib.util.spec_from_file_location("build_dashboards", GRAFANA / "build_dashboards.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0, "run: uv run python grafana/build_dashboards.py"
    assert sorted(module.DASHBOARDS) == sorted(dashboards()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_dashboard_validates_against_grafanas_dashboard_schema(name):
    validate(dashboards()[name], schema("dashboard.schema.json"), where=name)


@pytest.mark.parametrize(("name", "panel"), ALL_PANELS, ids=panel_id)
def test_panel_options_and_field_config_validate_against_the_panel_plugins_schema(name, panel):
    plugin = schema(f"panels/{panel['type']}.schema.json")
    dashboard_schema = schema("dashboard.schema.json")
    where = f"{name} panel {panel['id']}"
    validate(panel.get("options", {}), plugin, "Options", f"{where} options")
    defaults = panel["fieldConfig"]["defaults"]
    if "FieldConfig" in plugin["definitions"]:
        validate(defaults.get("custom", {}), plugin, "FieldConfig", f"{where} fieldConfig.defaults.custom")
    else:
        assert "custom" not in defaults, f"{where}: {panel['type']} has no custom field config"
    field_config = dashboard_schema["definitions"]["FieldConfig"]["properties"]
    for override in panel["fieldConfig"]["overrides"]:
        for prop in override["properties"]:
            key = prop["id"]
            if key.startswith("custom."):
                sub = key.removeprefix("custom.")
                custom = plugin["definitions"].get("FieldConfig", {}).get("properties", {})
                assert sub in custom, f"{where}: override {key} is not a {panel['type']} field option"
                validate(prop["value"], plugin, custom[sub], f"{where} override {key}")
            else:
                assert key in field_config, f"{where}: override {key} is not a field config property"
                validate(prop["value"], dashboard_schema, field_config[key], f"{where} override {key}")


def test_schemas_come_from_the_grafana_version_compose_runs():
    package = json.loads((SCHEMA / "package.json").read_text())
    version = package["devDependencies"]["@grafana/schema"]
    image = re.search(r"^\s*image:\s*grafana/grafana(?:-oss)?:(\S+)", (REPO / "compose.yaml").read_text(), re.M)
    assert image, "compose.yaml runs no grafana/grafana image"
    assert image[1] == version, (
        f"compose.yaml runs Grafana {image[1]} but grafana/schema pins @grafana/schema {version}: set the same "
        "version in grafana/schema/package.json and run grafana/schema/generate"
    )
    for path in [SCHEMA / "dashboard.schema.json", *sorted((SCHEMA / "panels").glob("*.json"))]:
        assert f"@grafana/schema {version} " in json.loads(path.read_text())["$comment"], f"{path}: regenerate"
    lock = (SCHEMA / "package-lock.json").read_text()
    assert '"resolved"' not in lock, "package-lock.json must not name a registry host (see grafana/schema/.npmrc)"


# --- what the schema cannot say ----------------------------------------------------------------------------


def datasource_refs(node: Any, path: str = "") -> list[tuple[str, Any]]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                found.append((f"{path}/{key}", value))
            else:
                found.extend(datasource_refs(value, f"{path}/{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(datasource_refs(value, f"{path}/{i}"))
    return found


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_datasource_reference_is_a_provisioned_uid(name):
    provisioned = {ds["uid"]: ds["type"] for ds in provisioned_datasources()}
    assert provisioned == DATASOURCES
    refs = datasource_refs(dashboards()[name])
    assert refs
    for where, ref in refs:
        assert isinstance(ref, dict) and set(ref) == {"type", "uid"}, f"{name}{where}: {ref!r} (use {{type, uid}})"
        assert provisioned.get(ref["uid"]) == ref["type"], f"{name}{where}: {ref} is not a provisioned data source"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_panel_ids_are_unique_and_the_grid_holds(name):
    found = list(panels(dashboards()[name]))
    ids = [p["id"] for p in found]
    assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids {ids}"
    boxes = []
    for p in found:
        g = p["gridPos"]
        assert all(isinstance(g[k], int) for k in "xywh"), f"{name} panel {p['id']}: gridPos must be integers"
        assert g["x"] >= 0 and g["y"] >= 0 and g["w"] >= 1 and g["h"] >= 1, f"{name} panel {p['id']}: {g}"
        assert g["x"] + g["w"] <= GRID_COLUMNS, f"{name} panel {p['id']}: beyond column {GRID_COLUMNS}: {g}"
        boxes.append((p["id"], g))
    for (a, ga), (b, gb) in combinations(boxes, 2):
        apart = (ga["x"] + ga["w"] <= gb["x"] or gb["x"] + gb["w"] <= ga["x"]
                 or ga["y"] + ga["h"] <= gb["y"] or gb["y"] + gb["h"] <= ga["y"])  # fmt: skip
        assert apart, f"{name}: panels {a} {ga} and {b} {gb} overlap"


def test_uids_titles_and_folders_are_stable_and_unique():
    uids = [d["uid"] for d in dashboards().values()]
    assert len(uids) == len(set(uids))
    for name, (uid, title, _folder) in EXPECTED.items():
        dashboard = dashboards()[name]
        assert (dashboard["uid"], dashboard["title"]) == (uid, title)
        assert re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", uid), uid
        assert "id" not in dashboard, f"{name}: a database id in a provisioned dashboard breaks re-provisioning"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_dashboard_is_read_only_in_browser_time(name):
    dashboard = dashboards()[name]
    assert dashboard["editable"] is False
    assert dashboard["timezone"] == "browser"
    refresh = dashboard["refresh"]
    if refresh:
        assert refresh in dashboard["timepicker"]["refresh_intervals"], f"{name}: refresh {refresh} not offered"


def test_now_is_made_for_the_wall_tablet():
    now = dashboards()["energy/now.json"]
    assert parse_interval(now["refresh"]).total_seconds() <= 60, "the tablet must refresh at least every minute"
    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels(now))
    assert bottom <= TABLET_ROWS, f"Now is {bottom} rows tall; a 10-inch landscape tablet shows {TABLET_ROWS}"
    stats = [p for p in panels(now) if p["type"] == "stat"]
    price = next(p for p in stats if p["title"] == "Price now")
    assert price["options"]["text"]["valueSize"] >= 60 and price["options"]["colorMode"] == "background"
    assert all(p["options"].get("text", {}).get("valueSize", 0) >= 20 for p in stats), "large type on the tablet"
    descriptors = {o["matcher"]["options"] for o in price["fieldConfig"]["overrides"]}
    assert descriptors == {"negative", "extremelyLow", "veryLow", "low", "neutral", "high", "spike"}
    banner = next(p for p in stats if not p["title"])
    texts = {v["text"] for m in banner["fieldConfig"]["defaults"]["mappings"] for v in m["options"].values()}
    assert len(texts) == 3, "the spike banner maps none / potential / spike"


# --- queries ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", queries(), ids=lambda q: q.id)
def test_targets_are_well_formed(query):
    target, panel = query.target, query.panel
    assert query.datasource == panel["datasource"], f"{query.id}: target and panel data sources differ"
    if query.kind == PROMETHEUS_TYPE:
        assert set(target) <= PROMETHEUS_TARGET_KEYS, set(target) - PROMETHEUS_TARGET_KEYS
        assert target["expr"].strip() and target["instant"] != target["range"]
        if panel["type"] in ("stat", "gauge"):
            assert target["instant"], f"{query.id}: stats and gauges show the latest value: instant query"
    else:
        assert set(target) <= SQL_TARGET_KEYS, set(target) - SQL_TARGET_KEYS
        assert target["rawQuery"] is True and target["format"] in ("table", "time_series")
        assert target["rawSql"].strip()  # a time_series result's "time" column: test_sql_panels.py
    refs = [t["refId"] for t in panel["targets"]]
    assert len(refs) == len(set(refs)), f"{query.id}: duplicate refIds {refs}"


# --- provisioning ------------------------------------------------------------------------------------------------


def test_datasource_provisioning_file():
    paths = sorted((GRAFANA / "provisioning" / "datasources").glob("*.y*ml"))
    assert paths and all(load_yaml(p)["apiVersion"] == 1 for p in paths)
    by_uid = {ds["uid"]: ds for ds in provisioned_datasources()}
    for ds in by_uid.values():
        assert set(ds) <= DATASOURCE_KEYS, f"{ds['name']}: unknown keys {set(ds) - DATASOURCE_KEYS}"
        assert ds["editable"] is False
    prometheus = by_uid["amber-prometheus"]
    assert (prometheus["type"], prometheus["url"], prometheus["access"]) == (
        "prometheus",
        "http://prometheus:9090",
        "proxy",
    )
    timescale = by_uid["amber-timescaledb"]
    assert (timescale["type"], timescale["url"], timescale["user"]) == (
        POSTGRES_TYPE,
        "timescaledb:5432",
        "amber_reader",
    )
    json_data = timescale["jsonData"]
    assert (json_data["database"], json_data["timescaledb"], json_data["postgresVersion"]) == ("amber", True, 1700)
    password = timescale["secureJsonData"]["password"]
    # The generated secret of compose.yaml's secrets volume (letters, digits, - and _).
    secret = {"/run/amber-secrets/reader_password": "s3cret-_X9\n"}
    assert provisioning_value(password, {}, secret) == "s3cret-_X9", (
        "the password must come from the reader_password secret file"
    )


def test_dashboard_providers_point_at_the_dashboards_in_this_repository():
    paths = sorted((GRAFANA / "provisioning" / "dashboards").glob("*.y*ml"))
    assert paths and all(load_yaml(p)["apiVersion"] == 1 for p in paths)
    providers = dashboard_providers()
    folder_uids = [p["folderUid"] for p in providers]
    assert len(folder_uids) == len(set(folder_uids)) and len({p["name"] for p in providers}) == len(providers)
    owner: dict[str, str] = {}
    for provider in providers:
        assert set(provider) <= PROVIDER_KEYS, f"{provider['name']}: unknown keys {set(provider) - PROVIDER_KEYS}"
        assert provider["type"] == "file" and provider["allowUiUpdates"] is False and provider["folder"]
        directory = provider_directory(provider)
        assert directory.is_dir(), f"{provider['name']}: {directory} does not exist"
        for path in directory.rglob("*.json"):
            name = path.relative_to(DASHBOARDS).as_posix()
            assert name not in owner, f"{name} is provisioned by both {owner[name]} and {provider['name']}"
            owner[name] = provider["name"]
            assert EXPECTED[name][2] == provider["folderUid"], f"{name} belongs in folder {EXPECTED[name][2]}"
    assert sorted(owner) == sorted(dashboards()), "every dashboard file is provisioned exactly once"


def test_compose_mounts_the_files_where_grafana_is_told_to_read_them():
    grafana = load_yaml(REPO / "compose.yaml")["services"]["grafana"]
    mounts = {
        target: source
        for source, target, *_ in (v.split(":") for v in grafana["volumes"] if isinstance(v, str) and v.startswith("./"))
    }
    assert mounts.get(CONTAINER_DASHBOARDS) == "./grafana/dashboards", mounts
    assert mounts.get("/etc/grafana/provisioning") == "./grafana/provisioning", mounts
    environment = grafana["environment"]
    home = environment.get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH", "")
    assert home.startswith(CONTAINER_DASHBOARDS + "/"), "the tablet's home page must be a provisioned dashboard"
    assert (DASHBOARDS / home.removeprefix(CONTAINER_DASHBOARDS + "/")).is_file(), home
    secrets = [v for v in grafana["volumes"] if isinstance(v, dict) and v.get("source") == "amber-secrets"]
    assert secrets and secrets[0]["target"] == "/run/amber-secrets" and secrets[0]["read_only"]


# --- docs ---------------------------------------------------------------------------------------------------------


def test_readme_describes_every_panel_and_the_environment():
    readme = (GRAFANA / "README.md").read_text(encoding="utf-8")
    sections = re.split(r"^## ", readme, flags=re.M)
    for name, (uid, title, _folder) in EXPECTED.items():
        section = next((s for s in sections if s.startswith(f"{title} (")), None)
        assert section, f'grafana/README.md needs a "## {title} (`{uid}`)" section'
        assert f"`{uid}`" in section.splitlines()[0]
        for panel in panels(dashboards()[name]):
            label = panel["title"] or "Spike banner"
            assert f"**{label}**" in section, f"grafana/README.md, {title}: describe the panel **{label}**"
    for variable in ("GF_SECURITY_ADMIN_PASSWORD", "GF_AUTH_ANONYMOUS_ENABLED", "GF_AUTH_ANONYMOUS_ORG_ROLE",
                     "GF_USERS_ALLOW_SIGN_UP", "AMBER_READER_PASSWORD", "AMBER_TIMEZONE"):  # fmt: skip
        assert f"`{variable}`" in readme, f"grafana/README.md should document {variable}"


def test_the_generated_schemas_reject_unknown_keys():
    """The schemas are strict (additionalProperties: false): a typo would not pass unnoticed."""
    now = json.loads(json.dumps(dashboards()["energy/now.json"]))
    price = next(p for p in now["panels"] if p["title"] == "Price now")
    with pytest.raises(AssertionError, match="Additional properties"):
        validate(dict(now, editabel=False), schema("dashboard.schema.json"))
    with pytest.raises(AssertionError, match="Additional properties"):
        validate(dict(price["options"], colour="red"), schema("panels/stat.schema.json"), "Options")
    with pytest.raises(AssertionError, match="is not one of"):
        validate(dict(price["options"], colorMode="rainbow"), schema("panels/stat.schema.json"), "Options")
