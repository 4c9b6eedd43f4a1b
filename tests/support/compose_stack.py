"""The project's compose.yaml run for real, on the Docker engine that `scripts/engine` starts.

    stack = ComposeStack.create(tmp_path, env={"HISTORICAL_START_DATE": "2026-01-01"})
    seconds = stack.up()                 # `docker compose up -d`, timed
    stack.wait_healthy(["loader", ...])  # every container's health, or its log in the failure
    stack.query("SELECT count(*) FROM prices")
    stack.down()                         # containers, networks and volumes of this project only

Each stack is its own Compose project (unique name), so test runs and the other tests on this machine
never share a container, a network or a volume; the only override (tests/engine/compose.engine.yaml)
moves the published ports to ephemeral ones on 127.0.0.1. Nothing here reaches beyond this machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import psycopg

REPO = Path(__file__).resolve().parents[2]
ENGINE_SCRIPT = REPO / "scripts" / "engine"
OVERRIDE = REPO / "tests" / "engine" / "compose.engine.yaml"
SETUP_HINT = "run ./scripts/test, which installs the Docker engine and builds the images (scripts/engine images)"

T = TypeVar("T")


class EngineUnavailable(RuntimeError):
    """The engine or the images could not be had; the message says how to fix it."""


@cache
def compose_bin() -> str:
    result = subprocess.run([str(REPO / "scripts" / "stack"), "compose-tools", "--no-install"],
                            capture_output=True, text=True)  # fmt: skip
    if result.returncode != 0:
        raise EngineUnavailable(f"{result.stderr.strip()} — {SETUP_HINT}")
    return result.stdout.strip()


def build_images() -> dict[str, str]:
    """`scripts/engine images`: the engine running and every image of compose.yaml built (cached)."""
    result = subprocess.run([str(ENGINE_SCRIPT), "images"], capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise EngineUnavailable(f"scripts/engine images failed:\n{result.stderr[-3000:]}\n— {SETUP_HINT}")
    return dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return result


def http_get(url: str, timeout: float = 5) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@dataclass
class ComposeStack:
    project: str
    workdir: Path
    env: dict[str, str]
    profiles: tuple[str, ...] = ()
    extra_files: tuple[Path, ...] = ()
    started: bool = field(default=False, init=False)
    up_at: float = field(default=0.0, init=False)
    _secrets: dict[str, str] = field(default_factory=dict, init=False)

    @classmethod
    def create(cls, workdir: Path, env: Mapping[str, str] | None = None, *, profiles: Sequence[str] = (),
               extra_files: Sequence[Path] = ()) -> ComposeStack:  # fmt: skip
        stack = cls(f"amberit-{os.getpid()}-{uuid.uuid4().hex[:6]}", workdir, dict(env or {}), tuple(profiles),
                    tuple(extra_files))  # fmt: skip
        stack.write_env()
        return stack

    @property
    def env_file(self) -> Path:
        return self.workdir / "stack.env"

    def write_env(self) -> None:
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in self.env.items()))

    # --- compose -----------------------------------------------------------------------------------

    def compose(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        files = [REPO / "compose.yaml", OVERRIDE, *self.extra_files]
        command = [compose_bin(), "--project-directory", str(REPO), "--project-name", self.project,
                   "--env-file", str(self.env_file)]  # fmt: skip
        for path in files:
            command += ["--file", str(path)]
        for profile in self.profiles:
            command += ["--profile", profile]
        # The user's own shell variables must not leak in: only PATH and a private HOME.
        environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.workdir)}
        result = subprocess.run([*command, *args], capture_output=True, text=True, timeout=timeout, env=environ)
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker compose {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}"
            )
        return result

    def up(self, *services: str, timeout: float = 300) -> float:
        """`docker compose up -d [SERVICE…]`; the seconds until the command returned."""
        self.started = True
        began = time.monotonic()
        self.compose("up", "--detach", "--no-build", *services, timeout=timeout)
        self.up_at = time.monotonic()
        return self.up_at - began

    def since_up(self) -> float:
        """Seconds since the last `up` returned."""
        return time.monotonic() - self.up_at

    def down(self) -> None:
        if self.started:
            self.compose("down", "--volumes", "--remove-orphans", "--timeout", "20", check=False, timeout=180)
            self.started = False

    def stop(self, *services: str) -> None:
        self.compose("stop", "--timeout", "30", *services)

    def containers(self) -> list[dict[str, Any]]:
        out = self.compose("ps", "--all", "--format", "json").stdout
        text = out.strip()
        if text.startswith("["):
            return json.loads(text)
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def container(self, service: str) -> dict[str, Any]:
        for item in self.containers():
            if item["Service"] == service:
                return item
        raise AssertionError(f"no container for service {service}")

    def inspect(self, service: str) -> dict[str, Any]:
        return json.loads(docker("inspect", self.container(service)["ID"]).stdout)[0]

    def logs(self, service: str | None = None) -> str:
        args = ["logs", "--no-color", "--no-log-prefix"] if service else ["logs", "--no-color"]
        result = self.compose(*args, *([service] if service else []), check=False)
        return result.stdout + result.stderr

    def exec(self, service: str, *command: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return self.compose("exec", "-T", service, *command, timeout=timeout, check=False)

    def port(self, service: str, target: int) -> str:
        """host:port where `target` of `service` is published on 127.0.0.1."""
        return self.compose("port", service, str(target)).stdout.strip()

    def url(self, service: str, target: int, path: str = "") -> str:
        return f"http://{self.port(service, target)}{path}"

    # --- the database --------------------------------------------------------------------------------

    def secret(self, name: str) -> str:
        """A secret of the amber-secrets volume, read as the app's user in the loader."""
        if name not in self._secrets:
            result = self.exec("loader", "cat", f"/run/amber-secrets/{name}")
            assert result.returncode == 0, f"cannot read the secret {name}: {result.stderr}"
            self._secrets[name] = result.stdout.strip()
        return self._secrets[name]

    def database_url(self, user: str = "amber", password: str | None = None) -> str:
        host, port = self.port("timescaledb", 5432).rsplit(":", 1)
        if password is None:
            password = self.env.get("POSTGRES_PASSWORD") or self.secret("postgres_password")
        return f"postgresql://{user}:{quote(password, safe='')}@{host}:{port}/amber"

    def query(self, sql: str, params: Sequence[Any] = (), **login: Any) -> list[tuple]:
        with psycopg.connect(self.database_url(**login), connect_timeout=5) as conn:
            return conn.execute(sql, params).fetchall()

    # --- waiting ---------------------------------------------------------------------------------------

    def wait_for(self, what: str, probe: Callable[[], T], timeout: float, interval: float = 2.0) -> T:
        """Poll `probe` until it returns something truthy; on timeout fail with every container's state
        and the end of each log."""
        deadline = time.monotonic() + timeout
        last_error: BaseException | None = None
        while time.monotonic() < deadline:
            try:
                value = probe()
                if value:
                    return value
            except (OSError, psycopg.Error, AssertionError, ValueError, KeyError) as exc:
                last_error = exc
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last error: {last_error})\n"
                             + self.describe())  # fmt: skip

    def health(self) -> dict[str, str]:
        """service -> health ("healthy", "starting", …) or state for containers without a healthcheck."""
        return {c["Service"]: (c.get("Health") or c["State"]) for c in self.containers()}

    def wait_healthy(self, services: Iterable[str], timeout: float = 180) -> None:
        wanted = set(services)

        def all_healthy() -> bool:
            health = self.health()
            return all(health.get(name) == "healthy" for name in wanted)

        self.wait_for(f"{sorted(wanted)} healthy", all_healthy, timeout)

    def describe(self) -> str:
        lines = []
        try:
            for c in self.containers():
                lines.append(f"{c['Service']}: {c['State']} {c.get('Health', '')} {c.get('Status', '')}")
                lines += [f"  | {line}" for line in self.logs(c["Service"]).splitlines()[-15:]]
        except Exception as exc:  # noqa: BLE001 - diagnostics only
            lines.append(f"(could not describe the stack: {exc})")
        return "\n".join(lines)
