"""Real database servers for the tests, started by the tests themselves.

Two tiers (see README "Development"):
- TimescaleDB, Apache build (PostgreSQL 17, Debian 13 packages) run natively by scripts/timescaledb;
- the TSL tier: PGlite (PostgreSQL 17 in WebAssembly) with TimescaleDB's TSL library, served on loopback
  by tests/pglite/server.mjs — only for SQL the Apache build refuses (continuous aggregates, policies,
  compression). It serves one connection at a time and cannot COPY, so keep its tests to DDL and queries.

A server that cannot start is a test failure with the fix in the message, never a skip.
"""

from __future__ import annotations

import os
import select
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[2]
TIMESCALEDB_SCRIPT = REPO / "scripts" / "timescaledb"
PGLITE_DIR = REPO / "tests" / "pglite"
SETUP_HINT = "run ./scripts/test, which installs and caches what the database tiers need"


class ServerUnavailable(RuntimeError):
    """A real server the tests need could not be started; the message says how to fix it."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_postgres(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@dataclass
class TimescaleServer:
    """One PostgreSQL cluster with TimescaleDB (Apache build) for the whole test session."""

    name: str
    port: int

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @classmethod
    def start(cls, *, durable: bool = False, prefix: str = "pytest") -> TimescaleServer:
        """A new cluster; fsync off unless `durable` (test clusters are throwaway, benchmarks of commits
        should pay for durability like a production server)."""
        server = cls(name=f"{prefix}-{os.getpid()}", port=free_port())
        env = {k: v for k, v in os.environ.items() if k != "AMBER_TSDB_FAST"}
        if not durable:
            env["AMBER_TSDB_FAST"] = "1"
        for step in (["init", server.name, str(server.port)], ["start", server.name]):
            result = subprocess.run(
                [str(TIMESCALEDB_SCRIPT), *step], capture_output=True, text=True, env=env
            )
            if result.returncode != 0:
                server.stop()
                raise ServerUnavailable(
                    f"TimescaleDB could not {step[0]}: {result.stderr.strip() or result.stdout.strip()}"
                    f" — {SETUP_HINT}"
                )
        wait_for_postgres(server.admin_url)
        return server

    def stop(self) -> None:
        subprocess.run([str(TIMESCALEDB_SCRIPT), "remove", self.name], capture_output=True)

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class PGliteServer:
    """A fresh in-memory PGlite+TimescaleDB(TSL) process; one per test keeps tests independent."""

    process: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        # PGlite ignores user, password and database name; psycopg still wants a password.
        return f"postgresql://postgres:pglite@127.0.0.1:{self.port}/postgres?sslmode=disable"

    @classmethod
    def start(cls, timeout: float = 60.0) -> PGliteServer:
        node = shutil.which("node")
        if node is None or not (PGLITE_DIR / "node_modules" / "@electric-sql" / "pglite").is_dir():
            raise ServerUnavailable(f"the TSL tier needs Node.js and tests/pglite/node_modules — {SETUP_HINT}")
        port = free_port()
        process = subprocess.Popen(
            [node, "server.mjs", str(port)],
            cwd=PGLITE_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + timeout
        output = []
        while time.monotonic() < deadline:
            ready, _, _ = select.select([process.stdout], [], [], 0.2)
            if ready:
                line = process.stdout.readline()
                output.append(line)
                if line.startswith("ready "):
                    # Drain later output (PGlite prints DEBUG lines) so the pipe never fills.
                    subprocess.Popen(["cat"], stdin=process.stdout, stdout=subprocess.DEVNULL)
                    return cls(process=process, port=port)
            if process.poll() is not None:
                break
        process.kill()
        raise ServerUnavailable(f"PGlite (TSL tier) did not start: {''.join(output)[-500:]} — {SETUP_HINT}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


MOSQUITTO_HINT = "run ./scripts/test, which installs Debian's mosquitto package"


@dataclass
class MosquittoServer:
    """A real Mosquitto broker on 127.0.0.1 with authentication on (a generated password file) and no
    persistence, so a restart loses every retained message, as a crashed broker without a volume would."""

    directory: Path
    port: int
    username: str = "amber-home"
    password: str = "test-only-secret"
    process: subprocess.Popen | None = None

    @classmethod
    def start(cls, directory: Path, timeout: float = 10.0) -> MosquittoServer:
        binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/sbin")
        passwd = shutil.which("mosquitto_passwd")
        if binary is None or passwd is None:
            raise ServerUnavailable(f"Mosquitto (mosquitto, mosquitto_passwd) is not installed — {MOSQUITTO_HINT}")
        server = cls(directory=directory, port=free_port())
        password_file = directory / "passwd"
        result = subprocess.run([passwd, "-c", "-b", str(password_file), server.username, server.password],
                                capture_output=True, text=True)  # fmt: skip
        if result.returncode != 0:
            raise ServerUnavailable(f"mosquitto_passwd failed: {result.stderr.strip()} — {MOSQUITTO_HINT}")
        lines = [f"listener {server.port} 127.0.0.1", "allow_anonymous false", f"password_file {password_file}",
                 "persistence false", "log_dest stderr", "log_type error", "log_type warning", "log_type notice"]
        if os.geteuid() == 0:
            lines.append("user root")  # else it drops to the `mosquitto` user, who cannot read pytest's tmp dirs
        (directory / "mosquitto.conf").write_text("\n".join(lines) + "\n")
        server.resume(timeout)
        return server

    def resume(self, timeout: float = 10.0) -> None:
        """(Re)start the broker process on the same port and wait until it accepts connections."""
        binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/sbin")
        log = open(self.directory / "mosquitto.log", "ab")  # noqa: SIM115 - the process owns it
        self.process = subprocess.Popen([binary, "-c", str(self.directory / "mosquitto.conf")], stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        tail = (self.directory / "mosquitto.log").read_text(errors="replace")[-500:]
        raise ServerUnavailable(f"Mosquitto did not start on 127.0.0.1:{self.port}: {tail} — {MOSQUITTO_HINT}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
