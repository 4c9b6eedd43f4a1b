"""The app image for a Raspberry Pi: built for linux/arm64 under emulation (scripts/engine arm64, cached)
and run there: the compiled dependencies are aarch64 wheels, the command line starts, and `amber-home
migrate` builds the schema in a real TimescaleDB (the stand-in, on a network of its own)."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from tests.support.compose_stack import ENGINE_SCRIPT, docker

pytestmark = pytest.mark.engine

IMAGE = "amber-home:arm64"


@pytest.fixture(scope="module")
def arm64_image(engine_images) -> str:
    result = subprocess.run([str(ENGINE_SCRIPT), "arm64"], capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        pytest.fail(f"scripts/engine arm64 failed:\n{result.stderr[-3000:]}", pytrace=False)
    return IMAGE


def run_arm64(*command: str, network: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    args = ["run", "--rm", "--platform", "linux/arm64", *(["--network", network] if network else [])]
    return docker(*args, "--entrypoint", command[0], IMAGE, *command[1:], timeout=timeout, check=False)


def test_the_image_is_arm64_with_aarch64_wheels(arm64_image):
    assert docker("image", "inspect", "--format", "{{.Architecture}}", arm64_image).stdout.strip() == "arm64"
    probe = run_arm64("python", "-c", "import platform, psycopg, yaml; "
                                      "print(platform.machine(), psycopg.pq.__impl__)")  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == ["aarch64", "binary"]
    cli = run_arm64("amber-home", "--help")
    assert cli.returncode == 0 and "migrate" in cli.stdout


def test_migrate_runs_in_the_arm64_image(arm64_image, engine_images):
    network = f"amberit-arm64-{uuid.uuid4().hex[:6]}"
    database = f"{network}-db"
    docker("network", "create", network)
    try:
        docker("run", "--detach", "--name", database, "--network", network, "--network-alias", "timescaledb",
               "--env", "POSTGRES_USER=amber", "--env", "POSTGRES_PASSWORD=arm64-smoke", "--env", "POSTGRES_DB=amber",
               engine_images["timescaledb"], "postgres")  # fmt: skip
        ready = ["exec", database, "pg_isready", "--host=127.0.0.1", "--username=amber", "--dbname=amber"]
        for _ in range(60):
            if docker(*ready, check=False).returncode == 0:
                break
            subprocess.run(["sleep", "1"])
        migrate = docker("run", "--rm", "--platform", "linux/arm64", "--network", network,
                         "--env", "DATABASE_URL=postgresql://amber:arm64-smoke@timescaledb:5432/amber",
                         IMAGE, "migrate", timeout=600, check=False)  # fmt: skip
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        assert "applied" in migrate.stdout + migrate.stderr
    finally:
        docker("rm", "--force", "--volumes", database, check=False)
        docker("network", "rm", network, check=False)
