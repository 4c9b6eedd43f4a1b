"""What backup and restore share about PostgreSQL: the client programs, their environment, connections.

    find_client(name, environ) -> Client           pg_dump / pg_restore from AMBER_PG_BIN, else PATH, with version
    require_major(client, needed, what=…)          a one-line BackupError naming the fix when it is too old
    libpq_target(url, **overrides) -> (conninfo without the password, password)   for a client's --dbname
    child_env(environ, password) -> env            a client's environment: PG*, locale, PATH; PGPASSWORD
    connect(url, where, **kwargs) -> Connection    as APPLICATION_NAME; unreachable: a one-line BackupError
    server_version(conn) -> (major, "17.2")
    client_error(stderr, program) -> str           the first error line a client program printed

Client programs
    pg_dump and pg_restore must be at least the server's major version (and pg_restore at least the
    archive's). They are found in AMBER_PG_BIN (a directory, e.g. /usr/lib/postgresql/17/bin), else on
    PATH; a wrong version is a one-line error naming the fix. The password never reaches their argv:
    they get a libpq connection string without it, and PGPASSWORD in their environment.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from runtime.database import cannot_reach, scalar
from runtime.database import connect as connect_database

__all__ = [
    "APPLICATION_NAME",
    "PG_BIN_VARIABLE",
    "BackupError",
    "Client",
    "child_env",
    "client_error",
    "connect",
    "find_client",
    "libpq_target",
    "require_major",
    "server_version",
    "stderr_lines",
]

APPLICATION_NAME = "amber-home backup"
PG_BIN_VARIABLE = "AMBER_PG_BIN"
_VERSION_RE = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


class BackupError(RuntimeError):
    """Backup or restore cannot go on; the message is one line saying what to do (no secrets)."""


# --- client programs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Client:
    """A PostgreSQL client program (pg_dump, pg_restore) and its version."""

    name: str
    path: str
    version: str  # as printed, e.g. "17.12"
    major: int


def find_client(name: str, environ: Mapping[str, str]) -> Client:
    """The client program `name` from AMBER_PG_BIN if set, else from PATH, with its version."""
    path = _client_path(name, environ)
    try:
        result = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60,
                                env=child_env(environ, None))
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackupError(f"cannot run {path} --version: {exc}") from exc
    match = _VERSION_RE.search(result.stdout)
    if result.returncode != 0 or match is None:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise BackupError(f"{path} --version failed: {detail[0] if detail else f'exit {result.returncode}'}")
    return Client(name=name, path=path, version=".".join(g for g in match.groups() if g), major=int(match[1]))


def _client_path(name: str, environ: Mapping[str, str]) -> str:
    bin_dir = environ.get(PG_BIN_VARIABLE, "").strip()
    if bin_dir:
        path = os.path.join(bin_dir, name)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise BackupError(
                f"{PG_BIN_VARIABLE}={bin_dir} has no executable {name}: point it at a PostgreSQL client bin "
                "directory such as /usr/lib/postgresql/17/bin"
            )
        return path
    found = shutil.which(name, path=environ.get("PATH") or os.environ.get("PATH") or os.defpath)
    if found is None:
        raise BackupError(
            f"{name} not found on PATH: install the PostgreSQL client matching your server "
            f"(Debian: apt install postgresql-client-17) or set {PG_BIN_VARIABLE} to its bin directory"
        )
    return found


def require_major(client: Client, needed: int, *, what: str) -> None:
    """A BackupError naming the fix unless `client` is at least major version `needed`."""
    if client.major >= needed:
        return
    verb = "dump" if client.name == "pg_dump" else "restore into"
    raise BackupError(
        f"{client.name} {client.major} cannot {verb} {what}: set {PG_BIN_VARIABLE} to a PostgreSQL {needed} "
        f"client bin directory (e.g. /usr/lib/postgresql/{needed}/bin from postgresql-client-{needed}), or with "
        f"Docker to a directory of wrappers running `docker compose exec -T -e PGPASSWORD timescaledb "
        f"{client.name} \"$@\"` (see amber-home {'backup' if client.name == 'pg_dump' else 'restore'} --help)"
    )


def libpq_target(url: str, **overrides: str) -> tuple[str, str | None]:
    """(connection string without the password, password or None) for a client program's -d."""
    params: dict[str, Any] = {k: v for k, v in conninfo_to_dict(url).items() if v is not None}
    password = params.pop("password", None)
    params.setdefault("application_name", APPLICATION_NAME)
    params.update(overrides)
    return make_conninfo(**params), (str(password) if password else None)


def child_env(environ: Mapping[str, str], password: str | None) -> dict[str, str]:
    """Environment of a client program: locale, PATH, HOME and libpq's PG* variables; the password as
    PGPASSWORD (never argv). Other secrets in `environ` (API key, DATABASE_URL) are left out."""
    env = {
        k: v
        for k, v in environ.items()
        if k in ("PATH", "HOME", "LANG", "TZ", "TMPDIR") or k.startswith(("LC_", "PG"))
    }
    env.setdefault("PATH", os.environ.get("PATH") or os.defpath)
    if password is not None:
        env["PGPASSWORD"] = password
    return env


def stderr_lines(stderr: str) -> list[str]:
    return [line.rstrip() for line in stderr.splitlines() if line.strip()]


def client_error(stderr: str, program: str) -> str:
    """The first error line `program` printed (else its first line), without the program's name."""
    lines = stderr_lines(stderr)
    errors = [line for line in lines if "error:" in line] or lines
    return errors[0].removeprefix(f"{program}: ") if errors else "no message"


# --- connections ---------------------------------------------------------------------------------------


def connect(url: str, where: str, **kwargs: Any) -> psycopg.Connection:
    """A connection as APPLICATION_NAME; an unreachable server is a one-line BackupError naming `where`."""
    try:
        return connect_database(url, application_name=APPLICATION_NAME, **kwargs)
    except psycopg.OperationalError as exc:
        # libpq's message names host and port, never the password.
        raise BackupError(cannot_reach(where, exc)) from exc


def server_version(conn: psycopg.Connection) -> tuple[int, str]:
    """(major version, version as the server prints it, e.g. "17.2")."""
    num = int(scalar(conn, "SHOW server_version_num"))
    version = scalar(conn, "SHOW server_version").split()[0]
    return num // 10000, version
