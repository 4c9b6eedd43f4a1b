"""Back up the Amber-Home database with pg_dump, as TimescaleDB documents it: an archive and its manifest.

    backup(url, output, environ=…) -> BackupResult       a pg_dump custom-format archive + its manifest
    default_archive_name(now) -> "amber-home-20250101T000000Z.dump"
    run(output, environ) -> exit status                  `amber-home backup`: back up DATABASE_URL, report

One REPEATABLE READ transaction exports its snapshot (pg_export_snapshot()); the row counts and sums of
the manifest (maintenance/manifest.py) are read in it and pg_dump runs with --snapshot, so the manifest
describes exactly the rows in the archive even while the loader keeps writing. The archive is written
to FILE.partial and renamed when pg_dump succeeded; the manifest goes next to it as FILE.manifest.json.
pg_dump is found and checked as maintenance/postgres.py says; the password reaches it as PGPASSWORD.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from amber.secret import Revealable, plain, redact_url
from maintenance.manifest import Manifest, file_digest, manifest_path, table_lines, take_manifest
from maintenance.postgres import (
    BackupError,
    Client,
    child_env,
    client_error,
    connect,
    find_client,
    libpq_target,
    require_major,
    server_version,
    stderr_lines,
)
from maintenance.tool import run_tool
from runtime.database import scalar

if TYPE_CHECKING:
    from runtime.settings import Settings

__all__ = ["BackupResult", "backup", "default_archive_name", "human_bytes", "run"]

logger = logging.getLogger(__name__)

# TimescaleDB's catalog has circular foreign keys; pg_dump warns about them on every dump and TimescaleDB's
# troubleshooting page says the warning is harmless for a full dump.
_HARMLESS_DUMP_LINES = re.compile(
    r"pg_dump: (warning: there are circular foreign-key constraints on this table:|detail: \w+$|hint: (You might not "
    r"be able to restore the dump without using --disable-triggers|Consider using a full dump instead))"
)


@dataclass(frozen=True)
class BackupResult:
    archive: Path
    manifest_file: Path
    manifest: Manifest
    warnings: list[str] = field(default_factory=list)


def default_archive_name(now: dt.datetime) -> str:
    return f"amber-home-{now.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}.dump"


def backup(
    url: str | Revealable,
    output: Path,
    *,
    environ: Mapping[str, str],
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> BackupResult:
    """Write a pg_dump custom-format archive of `url` to `output` and its manifest next to it."""
    url = plain(url)
    where = redact_url(url)
    output = Path(output)
    sidecar = manifest_path(output)
    _check_output(output, sidecar)
    pg_dump = find_client("pg_dump", environ)
    target, password = libpq_target(url)
    with connect(url, where, autocommit=True) as conn:
        server_major, version = server_version(conn)
        require_major(pg_dump, server_major, what=f"PostgreSQL {server_major}")
        # The manifest and pg_dump see one snapshot: exported here, imported by pg_dump (--snapshot); this
        # transaction stays open until pg_dump is done.
        conn.autocommit = False
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        snapshot = scalar(conn, "SELECT pg_export_snapshot()")
        manifest = take_manifest(conn)
        partial = output.with_name(output.name + ".partial")
        sidecar_partial = sidecar.with_name(sidecar.name + ".partial")
        logger.debug("pg_dump %s of %s to %s", pg_dump.version, where, output)
        try:
            stderr = _dump(pg_dump, snapshot, target, partial, environ, password)
            conn.commit()
            warnings = [line for line in stderr_lines(stderr) if not _HARMLESS_DUMP_LINES.match(line)]
            digest, size = file_digest(partial)
            manifest = Manifest(
                **{
                    **manifest.__dict__,
                    "server_version": version,
                    "pg_dump_version": pg_dump.version,
                    "archive": output.name,
                    "bytes": size,
                    "sha256": digest,
                    "created_at": now().astimezone(dt.UTC).isoformat(timespec="seconds"),
                }
            )
            sidecar_partial.write_text(manifest.to_json(), encoding="utf-8")
            os.replace(partial, output)
            os.replace(sidecar_partial, sidecar)
        finally:
            for leftover in (partial, sidecar_partial):
                leftover.unlink(missing_ok=True)
    return BackupResult(archive=output, manifest_file=sidecar, manifest=manifest, warnings=warnings)


def _check_output(output: Path, sidecar: Path) -> None:
    for path in (output, sidecar):
        if path.exists():
            raise BackupError(f"{path} already exists: choose another --output or move it away")
    if not output.parent.is_dir():
        raise BackupError(f"directory {output.parent} does not exist")


def _dump(
    pg_dump: Client, snapshot: str, target: str, partial: Path, environ: Mapping[str, str], password: str | None
) -> str:
    """Run pg_dump of `snapshot` into `partial`; return its stderr (a BackupError when it failed)."""
    with open(partial, "wb") as out, tempfile.TemporaryFile() as err:
        # The archive goes to stdout (a regular file, so pg_dump can still seek and record data
        # offsets): the client may run in a chroot or container where our paths do not exist.
        code = subprocess.run(
            [pg_dump.path, "--format=custom", f"--snapshot={snapshot}", "--dbname", target],
            stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=child_env(environ, password),
        ).returncode
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    if code != 0:
        raise BackupError(f"pg_dump failed (exit {code}): {client_error(stderr, 'pg_dump')}")
    return stderr


# --- `amber-home backup` ---------------------------------------------------------------------------------


def run(output: Path | None, environ: Mapping[str, str]) -> int:
    """Back up DATABASE_URL to `output` (default: amber-home-<UTC time>.dump here) and report it."""

    def job(settings: Settings) -> int:
        archive = output or Path(default_archive_name(dt.datetime.now(dt.UTC)))
        result = backup(settings.database_url, archive, environ=environ)
        _report(result, where=redact_url(settings.database_url.reveal()))
        return 0

    return run_tool("backup", environ, job)


def _report(result: BackupResult, *, where: str) -> None:
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    manifest = result.manifest
    print(f"backup of {where} written to {result.archive} "
          f"({human_bytes(manifest.bytes)}; PostgreSQL {manifest.server_version}, "
          f"TimescaleDB {manifest.timescaledb_version}, pg_dump {manifest.pg_dump_version})")
    for line in table_lines(manifest.tables):
        print(line)
    print(f"manifest (row counts and sums, checked by amber-home restore): {result.manifest_file}")


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")
