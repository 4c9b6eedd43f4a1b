"""compose.yaml, the Dockerfile and .env.example, checked without a Docker engine.

The resolved model comes from the real `docker-compose config` (Debian 13's docker-compose 2.26, installed
by `scripts/stack compose-tools`), so anchors, merges and `${VAR:-default}` are read exactly as Compose
reads them; the schema check uses the Compose specification's JSON schema (check-jsonschema).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest

from runtime.settings import _VARS

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "compose.yaml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"

APP_IMAGE = "amber-home:local"
ONE_SHOTS = {"secrets", "migrate", "backfill"}
# Services that talk to the Amber API: without a key they use the demo's simulator.
API_SERVICES = {"backfill", "loader", "exporter"}
NETWORK_PORTS = {("grafana", 3000)}  # the only ports not bound to 127.0.0.1
MEMORY_BUDGET_MIB = 2048

# Settings variables compose.yaml deliberately does not pass from .env, and why.
NOT_PASSED = {
    "DATABASE_URL": "fixed: the timescaledb service, its role per service",
    "DATABASE_PASSWORD": "DATABASE_PASSWORD_FILE names the secret file of the service's role",
    "AMBER_READER_PASSWORD": "AMBER_READER_PASSWORD_FILE names the secret; .env's value goes to the secrets service",
    "EXPORTER_PORT": "fixed inside the container (9847; Prometheus scrapes it there)",
    "EXPORTER_HOST": "fixed inside the container (0.0.0.0; the host side is bound to 127.0.0.1)",
    "ALERT_WEBHOOK_TOKEN": "ALERT_WEBHOOK_TOKEN_FILE names the secret Alertmanager sends too; .env's value goes"
    " to the secrets service",
    "ALERT_RELAY_HOST": "standalone relay only; compose uses the exporter's /alerts",
    "ALERT_RELAY_PORT": "standalone relay only; compose uses the exporter's /alerts",
    "AMBER_WRITER_PASSWORD": "migrate only, as AMBER_WRITER_PASSWORD_FILE: the generated secret file",
}


@cache
def compose_bin() -> str:
    result = subprocess.run(
        [str(REPO / "scripts" / "stack"), "compose-tools", "--no-install"], capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.fail(result.stderr.strip(), pytrace=False)
    return result.stdout.strip()


def compose_config(tmp_path: Path, env_text: str = "", profiles: tuple[str, ...] = ("demo",)) -> dict:
    """`docker-compose config` of compose.yaml with `env_text` as the .env file, a clean environment and
    `profiles` (the demo's by default)."""
    env_file = tmp_path / "test.env"
    env_file.write_text(env_text)
    result = subprocess.run(
        [compose_bin(), "--project-directory", str(REPO), "--file", str(COMPOSE_FILE),
         "--env-file", str(env_file), *(f"--profile={p}" for p in profiles), "config", "--format", "json"],
        capture_output=True, text=True, timeout=60,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict:
    return compose_config(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def services(demo) -> dict:
    return demo["services"]


# --- Compose accepts the file ---------------------------------------------------------------------------


def test_compose_config_with_no_env_is_the_demo(services):
    for name in API_SERVICES:
        env = services[name]["environment"]
        assert not services[name].get("entrypoint"), name  # `docker compose exec X amber-home …` sees the same
        assert env["AMBER_API_KEY"] == "" and env["AMBER_API_BASE_URL"] == "", name
        assert env["AMBER_DEMO_API_BASE_URL"] == "http://simulator:8765/v1", name
        assert services[name]["depends_on"]["simulator"] == {"condition": "service_healthy", "required": False}, name
    assert services["simulator"]["command"][:1] == ["simulate"]
    assert services["simulator"]["profiles"] == ["demo"]


def test_without_the_demo_profile_the_simulator_is_not_started_nor_waited_for(tmp_path):
    services = compose_config(tmp_path, "AMBER_API_KEY=psk_0123456789abcdef\n", profiles=())["services"]
    assert "simulator" not in services
    for name in API_SERVICES:
        assert services[name]["depends_on"].get("simulator", {"required": False})["required"] is False, name


def test_compose_config_with_a_key_passes_it_on(tmp_path):
    services = compose_config(tmp_path, "AMBER_API_KEY=psk_0123456789abcdef\nPOSTGRES_PASSWORD=s3cret\n")["services"]
    for name in API_SERVICES:
        env = services[name]["environment"]
        assert env["AMBER_API_KEY"] == "psk_0123456789abcdef", name
        assert ":" not in env["DATABASE_URL"].split("@")[0].removeprefix("postgresql://"), "a password in the URL"
        assert env["DATABASE_PASSWORD_FILE"].startswith("/run/amber-secrets/"), name
    # A password set in .env reaches only the secrets service, which writes it into the volume.
    assert services["secrets"]["environment"]["POSTGRES_PASSWORD"] == "s3cret"
    assert services["timescaledb"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/amber-secrets/postgres_password"
    for name, service in services.items():
        if name != "secrets":
            assert "s3cret" not in json.dumps(service), f"{name} sees the password in its configuration"


def test_compose_file_matches_the_compose_spec_schema():
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


# --- services --------------------------------------------------------------------------------------------


def test_long_running_services_restart_and_have_healthchecks(services):
    for name, service in services.items():
        if name in ONE_SHOTS:
            continue
        assert service.get("restart") == "unless-stopped", name
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL") and not service["healthcheck"].get("disable"), name


def test_one_shots_run_once_and_nothing_waits_for_the_history(services):
    assert services["migrate"]["restart"] == "no"
    # A crashed or OOM-killed backfill resumes by itself, a few times at most (a rejected key stops it).
    assert services["backfill"]["restart"] == "on-failure:5"
    for name, service in services.items():
        for dependency, how in service.get("depends_on", {}).items():
            assert dependency != "backfill", f"{name} waits for the backfill: `up -d` would block for hours"
            expected = (
                "service_completed_successfully" if dependency in ONE_SHOTS else ("service_healthy", "service_started")
            )
            assert how["condition"] in expected, f"{name} → {dependency}: {how['condition']}"
    for name in ("loader", "exporter", "backfill"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
    assert services["migrate"]["depends_on"]["timescaledb"]["condition"] == "service_healthy"


def test_only_grafana_listens_on_the_network(services):
    for name, service in services.items():
        for port in service.get("ports", []):
            if (name, port["target"]) in NETWORK_PORTS:
                assert port.get("host_ip", "") in ("", "0.0.0.0"), name
            else:
                assert port.get("host_ip") == "127.0.0.1", f"{name}:{port['target']} is open to the network"
    assert any(p["target"] == 3000 for p in services["grafana"]["ports"])


def test_images_are_pinned(services):
    for name, service in services.items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest", f"{name}: {image}"
        if image == APP_IMAGE:
            assert service["build"]["context"] == str(REPO), name
        else:
            assert re.fullmatch(r"v?\d+\.\d+\.\d+(-[a-z0-9]+)?", tag), f"{name}: {image} is not a release tag"
    assert services["timescaledb"]["image"].endswith("-pg17")


def test_memory_limits_fit_a_small_pi(services):
    limits = {name: int(service.get("mem_limit", 0)) for name, service in services.items()}
    assert all(limits.values()), f"services without mem_limit: {[n for n, v in limits.items() if not v]}"
    total_mib = sum(limits.values()) / 2**20
    assert total_mib <= MEMORY_BUDGET_MIB, f"memory limits add up to {total_mib:.0f} MiB: {limits}"


def test_database_settings_fit_its_memory_limit(services):
    db = services["timescaledb"]
    settings = dict(arg.split("=", 1) for arg in db["command"] if "=" in arg)
    assert int(settings["max_connections"]) <= 100
    assert int(settings["timescaledb.max_background_workers"]) < int(settings["max_worker_processes"])
    shared_mib = int(settings["shared_buffers"].removesuffix("MB"))
    assert shared_mib * 3 <= int(db["mem_limit"]) / 2**20, "shared_buffers should stay near a quarter of the limit"
    assert db["healthcheck"]["test"][1] == "pg_isready"


def test_mounted_host_paths_exist(services):
    for name, service in services.items():
        for volume in service.get("volumes", []):
            if volume["type"] != "bind":
                continue
            source = Path(volume["source"])
            assert source.is_relative_to(REPO), f"{name}: {source} is outside the checkout"
            assert source.exists(), f"{name} mounts {source.relative_to(REPO)}, which is missing"


def test_each_service_logs_in_with_the_weakest_role_that_does_its_job(services):
    # SECURITY.md: the superuser only for migrate, amber_writer for the writers, amber_reader for the exporter.
    roles = {"migrate": ("amber", "postgres_password"), "backfill": ("amber_writer", "writer_password"),
             "loader": ("amber_writer", "writer_password"), "exporter": ("amber_reader", "reader_password")}  # fmt: skip
    for name, (role, secret) in roles.items():
        env = services[name]["environment"]
        assert env["DATABASE_URL"] == f"postgresql://{role}@timescaledb:5432/amber", name
        assert env["DATABASE_PASSWORD_FILE"] == f"/run/amber-secrets/{secret}", name
    migrate = services["migrate"]["environment"]
    assert migrate["AMBER_WRITER_PASSWORD_FILE"] == "/run/amber-secrets/writer_password"
    assert migrate["AMBER_READER_PASSWORD_FILE"] == "/run/amber-secrets/reader_password"
    for name in ("backfill", "loader", "exporter"):  # only migrate sets the roles' passwords
        assert not {"AMBER_WRITER_PASSWORD_FILE", "AMBER_READER_PASSWORD_FILE"} & set(services[name]["environment"])


def test_every_setting_reaches_the_app_services(services):
    env = services["loader"]["environment"]
    for var in _VARS:
        if var.name in NOT_PASSED:
            continue
        target = services["exporter"]["environment"] if var.name.startswith(("APPRISE_", "ALERT_", "MQTT_")) else env
        assert var.name in target, f"{var.name} is not passed to the services (or add it to NOT_PASSED with why)"


# --- variables -------------------------------------------------------------------------------------------


def env_example_names() -> list[str]:
    return re.findall(r"^([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE)


def test_every_compose_variable_is_documented_in_env_example():
    used = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", COMPOSE_FILE.read_text()))
    documented = set(env_example_names())
    assert used, "no ${VAR} found in compose.yaml"
    assert not used - documented, f"add to .env.example: {sorted(used - documented)}"


def test_every_env_example_variable_is_used_and_empty():
    used_text = COMPOSE_FILE.read_text() + (REPO / "scripts" / "stack").read_text()
    names = env_example_names()
    assert len(names) == len(set(names)), "a variable is listed twice"
    for name in names:
        assert re.search(rf"\b{name}\b", used_text), f".env.example lists {name}, which nothing uses"
    # Empty values: the file as it stands is the demo and holds no secret.
    assert not re.findall(r"^[A-Z][A-Z0-9_]*=.+$", ENV_EXAMPLE.read_text(), re.MULTILINE)


def test_env_example_as_env_is_the_demo(tmp_path):
    services = compose_config(tmp_path, ENV_EXAMPLE.read_text())["services"]
    assert services["loader"]["environment"]["AMBER_API_KEY"] == ""
    # Every password generated: none in .env.example, none in any service's environment.
    assert not any(services["secrets"]["environment"].values())


# --- secrets ---------------------------------------------------------------------------------------------

# Which services read which secret files (scripts/lib/compose-secrets.sh writes them).
SECRET_READERS = {"timescaledb", "migrate", "backfill", "loader", "exporter", "alertmanager", "grafana"}


def test_secrets_come_first_and_only_their_readers_mount_them_read_only(services):
    assert services["secrets"]["restart"] == "no" and services["secrets"]["network_mode"] == "none"
    assert services["timescaledb"]["depends_on"]["secrets"]["condition"] == "service_completed_successfully"
    assert services["alertmanager"]["depends_on"]["secrets"]["condition"] == "service_completed_successfully"
    for name, service in services.items():
        mounts = [v for v in service.get("volumes", []) if v.get("source") == "amber-secrets"]
        if name == "secrets":
            assert mounts and not mounts[0].get("read_only"), "the secrets service writes the volume"
        elif name in SECRET_READERS:
            assert mounts and mounts[0]["read_only"] and mounts[0]["target"] == "/run/amber-secrets", name
        else:
            assert not mounts, f"{name} needs no secret"


def test_every_documented_secret_file_works_through_compose(tmp_path):
    key = tmp_path / "amber_key"
    key.write_text("psk_from_a_file\n")
    env = "".join(f"{name}={key}\n" for name in (
        "AMBER_API_KEY_FILE", "APPRISE_URLS_FILE", "APPRISE_CONFIG", "AMBER_READER_PASSWORD_FILE",
        "ALERT_WEBHOOK_TOKEN_FILE"))  # fmt: skip
    config = compose_config(tmp_path, env)
    services = config["services"]
    # Each named file reaches the secrets service (never another service directly) ...
    assert {s["source"] for s in services["secrets"]["secrets"]} == set(config["secrets"])
    for name, secret in config["secrets"].items():
        assert secret["file"] == str(key), name
    assert all("secrets" not in service for n, service in services.items() if n != "secrets")
    # ... and the services read its copy in the volume.
    assert services["loader"]["environment"]["AMBER_API_KEY_FILE"] == "/run/amber-secrets/amber_api_key"
    exporter = services["exporter"]["environment"]
    assert exporter["APPRISE_URLS_FILE"] == "/run/amber-secrets/apprise_urls"
    assert exporter["APPRISE_CONFIG"] == "/run/amber-secrets/apprise_config"
    assert exporter["ALERT_WEBHOOK_TOKEN_FILE"] == "/run/amber-secrets/relay_token"
    # Unset: nothing named, and the services see no *_FILE for them.
    plain = compose_config(tmp_path)["services"]
    assert plain["loader"]["environment"]["AMBER_API_KEY_FILE"] == ""
    assert plain["exporter"]["environment"]["APPRISE_CONFIG"] == ""


def test_secrets_script_generates_keeps_and_lets_the_user_win(tmp_path):
    secrets_dir, sources = tmp_path / "volume", tmp_path / "sources"
    sources.mkdir()
    script = REPO / "scripts" / "lib" / "compose-secrets.sh"

    def run(**env: str) -> str:
        result = subprocess.run(
            ["sh", str(script)], capture_output=True, text=True, timeout=60,
            env={"PATH": os.environ["PATH"], "AMBER_SECRETS_DIR": str(secrets_dir),
                 "AMBER_SECRETS_SOURCES": str(sources), **env},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    first = run()
    generated = {p.name: p.read_text() for p in secrets_dir.iterdir()}
    assert set(generated) == {"postgres_password", "writer_password", "reader_password", "relay_token",
                              "grafana_admin_password"}  # fmt: skip
    assert len(set(generated.values())) == 5 and all(len(v.strip()) >= 32 for v in generated.values())
    assert "generated" in first and not any(v.strip() in first for v in generated.values())
    assert oct((secrets_dir / "postgres_password").stat().st_mode & 0o777) == "0o400"
    assert (secrets_dir / "grafana_admin_password").stat().st_uid == 472
    assert (secrets_dir / "relay_token").stat().st_gid == 65534
    # A second start keeps them; a value from .env or a *_FILE wins; user files come and go.
    run()
    assert {p.name: p.read_text() for p in secrets_dir.iterdir()} == generated
    (sources / "relay_token_source").write_text("token-from-file\n")
    (sources / "amber_api_key").write_text("psk_file\n")
    out = run(POSTGRES_PASSWORD="from-env")
    assert (secrets_dir / "postgres_password").read_text() == "from-env\n"
    assert (secrets_dir / "relay_token").read_text() == "token-from-file\n"
    assert (secrets_dir / "amber_api_key").read_text() == "psk_file\n" and "from-env" not in out
    (sources / "amber_api_key").unlink()
    run()
    assert not (secrets_dir / "amber_api_key").exists()


def test_loader_healthcheck_query_runs_on_the_schema(apache_db, services):
    """The loader's healthcheck SQL is valid on the migrated schema: unhealthy (1) while prices is empty."""
    from loader.migrate import migrate

    migrate(apache_db, timezone="Australia/Sydney")
    test = services["loader"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    result = subprocess.run(
        [sys.executable, "-c", test[3]], capture_output=True, text=True, timeout=60,
        env={**os.environ, "DATABASE_URL": apache_db},
    )  # fmt: skip
    assert result.returncode == 1, result.stderr


# --- Dockerfile ------------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def dockerignore_patterns() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_dockerfile_uses_one_slim_python_base_a_non_root_user_and_amber_home():
    instructions = dockerfile_instructions()
    args = dict(value.split("=", 1) for op, value in instructions if op == "ARG" and "=" in value)
    froms = [value for op, value in instructions if op == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]
    assert re.fullmatch(r"python:3\.1[1-9]-slim-bookworm", args["PYTHON_IMAGE"])
    for op, value in instructions:
        if op == "COPY" and "--from=" in value:
            assert "--from=build" in value, f"COPY from another image: {value}"
        if op == "RUN":
            assert not re.search(r"\b(curl|wget)\b|amd64|x86_64|aarch64|arm64", value), f"arch-specific: {value}"
    users = [value for op, value in instructions if op == "USER"]
    assert users and not users[-1].startswith(("0", "root")), "the image must run as a non-root user"
    assert [value for op, value in instructions if op == "ENTRYPOINT"] == ['["amber-home"]']
    assert any(op == "RUN" and "uv sync --locked --no-dev" in value for op, value in instructions)


def test_dockerfile_copies_what_exists_and_is_not_ignored():
    ignored = dockerignore_patterns()
    sources = []
    for op, value in dockerfile_instructions():
        if op == "COPY" and "--from=" not in value:
            parts = [p for p in value.split() if not p.startswith("--")]
            sources += parts[:-1]
    assert "sql/" in sources, "the image needs sql/ (loader/migrate.py's SQL_DIR)"
    for source in sources:
        path = REPO / source
        assert path.exists(), f"COPY {source}: missing"
        top = source.rstrip("/").split("/")[0]
        assert top not in ignored, f"COPY {source}: .dockerignore excludes {top}"
    assert ".env" in ignored, ".env holds secrets: keep it out of the build context"
    wheel = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    for package in wheel["packages"]:
        assert f"{package}/" in sources, f"the wheel's package {package} is not copied"


def test_image_layout_runs_migrate_from_app(tmp_path):
    """Rebuild the image's /app without Docker (the app stage's COPYs, then `uv sync --no-dev`) and check
    that amber-home runs and finds sql/ there, as it will inside the image."""
    app = tmp_path / "app"
    app.mkdir()
    for op, value in dockerfile_instructions():
        if op == "COPY" and "--from=" not in value:
            *sources, _dest = [p for p in value.split() if not p.startswith("--")]
            for source in sources:
                src, dst = REPO / source, app / source.rstrip("/")
                dst.parent.mkdir(parents=True, exist_ok=True)
                if src.is_dir():
                    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy2(src, dst)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_"))}
    env |= {"UV_PROJECT_ENVIRONMENT": str(app / ".venv"), "UV_LINK_MODE": "copy"}
    sync = subprocess.run(["uv", "sync", "--locked", "--no-dev", "--quiet"], cwd=app, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert sync.returncode == 0, sync.stderr
    python = app / ".venv" / "bin" / "python"
    probe = subprocess.run(
        [str(python), "-c", "from loader.migrate import SQL_DIR, load_migrations; print(SQL_DIR, len(load_migrations()))"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    sql_dir, count = probe.stdout.split()
    assert Path(sql_dir) == app / "sql" and int(count) >= 1
    cli = subprocess.run([str(app / ".venv" / "bin" / "amber-home"), "--help"], capture_output=True, text=True)
    assert cli.returncode == 0 and "migrate" in cli.stdout
    assert not (app / ".venv" / "bin" / "pytest").exists(), "dev dependencies must stay out of the image"


def test_timescaledb_image_restores_its_own_backups(services):
    # pg_restore of compressed chunks fails before 2.20.1 (upstream bug): backups older than the
    # compression delay would not restore, so the image must be at least 2.21.
    image = services["timescaledb"]["image"]
    name, tag = image.rsplit(":", 1)
    assert name == "timescale/timescaledb"
    version = tuple(int(part) for part in tag.split("-")[0].split("."))
    assert version >= (2, 21, 0), image
    assert tag.endswith("-pg17"), "the native tier and the backups' clients are PostgreSQL 17"


def test_timescaledb_has_workers_for_every_job_due_at_once(services):
    settings = dict(arg.split("=", 1) for arg in services["timescaledb"]["command"] if "=" in arg)
    schedulers = 4  # amber, postgres, template1, and a restore's new database
    jobs = 4 + 2 + 1 + 1  # refresh policies, compression (prices, usage), retention (forecasts), job history
    workers = int(settings["timescaledb.max_background_workers"])
    assert workers >= schedulers + jobs
    assert int(settings["max_worker_processes"]) >= workers + int(settings["max_parallel_workers"]) + 1
