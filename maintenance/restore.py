"""Restore an `amber-home backup` archive: into a new database, verified, then swapped in.

    restore(url, archive, replace=False, environ=…) -> RestoreResult
    run(archive, replace, environ) -> exit status        `amber-home restore`: restore into DATABASE_URL, report

TimescaleDB's "logical backup" procedure, into a new database, then a swap. Nothing touches the target
database until the restored copy is verified; any failure drops the copy and leaves the target as it was.
    1. Before anything: the archive against its manifest's SHA-256, `pg_restore --list` (garbage and a
       cut-off header are refused), the client and TimescaleDB versions, no other client connected (a
       running loader would write to the database being replaced: stop the services first), and the
       target empty or `replace=True` (`--yes`).
    2. CREATE DATABASE <target>_restore_<random> with the target's owner; CREATE EXTENSION timescaledb at
       the archive's version (TimescaleDB restores only into the same version); the every-run migration
       (the roles the archive's grants name); SELECT timescaledb_pre_restore();
    3. pg_restore --no-owner (no -j: TimescaleDB's catalog must be restored in order); ANY error fails;
    4. SELECT timescaledb_post_restore(); the every-run migration again (amber_writer owns the data);
       ANALYZE;
    5. verify against the manifest (maintenance/manifest.py): every table's rows and sums must match and
       every hypertable must be one again; aggregates that differ are refreshed
       (loader.aggregates.refresh_aggregates);
    6. swap: the target's ALTER DATABASE … SET values are copied, the target is renamed to
       <target>_before_restore_<random> (kept: drop it when satisfied) or dropped if it held nothing, and
       the new database takes its name.
pg_restore is found and checked as maintenance/postgres.py says; the password reaches it as PGPASSWORD.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from amber.secret import Revealable, first_line, plain, redact_url
from loader.aggregates import refresh_aggregates
from loader.migrate import apply_every_run, timescaledb_extension
from maintenance.manifest import (
    Manifest,
    file_digest,
    manifest_path,
    read_manifest,
    table_lines,
    take_manifest,
)
from maintenance.postgres import (
    APPLICATION_NAME,
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
from runtime.database import connect as connect_database
from runtime.database import scalar

if TYPE_CHECKING:
    from runtime.settings import Settings

__all__ = ["RestoreResult", "restore", "run"]

logger = logging.getLogger(__name__)

MAINTENANCE_DATABASES = ("postgres", "template1")


@dataclass(frozen=True)
class RestoreResult:
    manifest: Manifest | None  # the archive's, None when it has no manifest (nothing verified)
    restored: Manifest  # the database after the restore
    replaced: bool  # the target held data; it was renamed to `previous`, not dropped
    refreshed: list[str]  # aggregates refreshed because they differed from the manifest
    stale_aggregates: list[str]  # …and still differ: the backup's aggregates were not up to date
    previous: str | None = None  # where the replaced database is kept (None: the target was empty, dropped)


@dataclass(frozen=True)
class _Target:
    """The database a restore replaces, as found before anything changed."""

    database: str
    owner: str
    relations: list[str]  # what makes it 'not empty' (see _user_relations)


def restore(
    url: str | Revealable,
    archive: Path,
    *,
    replace: bool = False,
    environ: Mapping[str, str],
    token: Callable[[], str] = lambda: secrets.token_hex(4),
) -> RestoreResult:
    """Restore `archive` into a new database, verify it against the archive's manifest, then swap it in
    for the database at `url`. Nothing touches the target before the archive restored and verified;
    any failure drops the new database and leaves the target as it was."""
    url = plain(url)
    where = redact_url(url)
    archive = Path(archive)
    manifest = _checked_manifest(archive)
    pg_restore = find_client("pg_restore", environ)
    target = _inspect_target(url, where, archive, manifest, pg_restore, environ)
    if target.relations and not replace:
        shown = ", ".join(target.relations[:3]) + (", …" if len(target.relations) > 3 else "")
        raise BackupError(
            f"database {target.database} is not empty ({len(target.relations)} relations: {shown}); pass --yes to "
            "replace it with the backup, or restore into an empty database"
        )

    staging = _side_name(target.database, "restore", token())
    with _maintenance(url, where) as admin:
        _create_database(admin, staging, target.owner)
    try:
        restored, refreshed, stale = _restore_into(
            url, where, staging, archive, manifest, pg_restore, environ, database=target.database
        )
        previous = _side_name(target.database, "before_restore", token()) if target.relations else None
        with _maintenance(url, where) as admin:
            _copy_database_settings(admin, target.database, staging)
            _swap(admin, target.database, staging, previous)
    except BaseException:
        with contextlib.suppress(Exception), _maintenance(url, where) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(staging)))
        raise
    return RestoreResult(
        manifest=manifest,
        restored=restored,
        replaced=bool(target.relations),
        refreshed=refreshed,
        stale_aggregates=stale,
        previous=previous,
    )


# --- 1. before anything ---------------------------------------------------------------------------------


def _checked_manifest(archive: Path) -> Manifest | None:
    """The archive's manifest (None without one), after checking the archive against its SHA-256."""
    if not archive.is_file():
        raise BackupError(f"no archive at {archive}")
    manifest = read_manifest(archive)
    if manifest is not None:
        digest, _size = file_digest(archive)
        if digest != manifest.sha256:
            raise BackupError(
                f"{archive} does not match {manifest_path(archive).name} (SHA-256 differs): the archive is damaged "
                "or the manifest belongs to another backup"
            )
    return manifest


def _inspect_target(
    url: str,
    where: str,
    archive: Path,
    manifest: Manifest | None,
    pg_restore: Client,
    environ: Mapping[str, str],
) -> _Target:
    """Every check that needs the server, before anything changes: client versions, the archive's table
    of contents, no other client connected, the TimescaleDB version the archive needs."""
    with connect(url, where, autocommit=True) as conn:
        server_major, _ = server_version(conn)
        require_major(pg_restore, server_major, what=f"PostgreSQL {server_major}")
        if manifest is not None and manifest.pg_dump_version:
            archive_major = int(manifest.pg_dump_version.split(".")[0])
            require_major(pg_restore, archive_major, what=f"an archive made by pg_dump {archive_major}")
        _check_archive(pg_restore, archive, environ)
        _refuse_other_sessions(conn)
        _require_extension_version(conn, manifest)
        relations = _user_relations(conn)
        owner = scalar(conn, 
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
        )
        return _Target(database=conn.info.dbname, owner=owner, relations=relations)


def _check_archive(client: Client, archive: Path, environ: Mapping[str, str]) -> None:
    """pg_restore --list reads the archive's table of contents: garbage or a cut-off header is refused
    before any database is touched (a cut-off data section shows later, in the new database)."""
    with open(archive, "rb") as source:
        result = subprocess.run(
            [client.path, "--list"], stdin=source, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=child_env(environ, None),
        )
    if result.returncode != 0:
        reason = client_error(result.stderr.decode("utf-8", "replace"), "pg_restore")
        raise BackupError(f"{archive} is not a readable pg_dump archive ({reason}); nothing was changed")


def _refuse_other_sessions(conn: psycopg.Connection) -> None:
    rows = conn.execute(
        """
        SELECT coalesce(nullif(application_name, ''), usename, 'unknown'), count(*)
        FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
        GROUP BY 1 ORDER BY 1
        """
    ).fetchall()
    if rows:
        who = ", ".join(f"{name} ×{n}" if n > 1 else name for name, n in rows)
        raise BackupError(
            f"other clients are connected to {conn.info.dbname} ({who}): stop them first "
            "(docker compose stop backfill loader exporter grafana), then restore"
        )


def _user_relations(conn: psycopg.Connection) -> list[str]:
    """Tables, views, sequences… outside the system schemas that no extension owns: what makes a
    database 'not empty'."""
    rows = conn.execute(
        r"""
        SELECT CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
          AND n.nspname NOT IN ('information_schema') AND n.nspname NOT LIKE 'pg\_%'
          AND NOT EXISTS (SELECT FROM pg_depend d
                          WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
        ORDER BY n.nspname <> 'public', c.relkind <> 'r', 1
        """
    ).fetchall()
    return [row[0] for row in rows]


def _require_extension_version(conn: psycopg.Connection, manifest: Manifest | None) -> None:
    wanted = manifest.timescaledb_version if manifest is not None else None
    if wanted is None:
        return
    available = scalar(conn, 
        "SELECT EXISTS (SELECT FROM pg_available_extension_versions WHERE name = 'timescaledb' AND version = %s)",
        (wanted,),
    )
    if not available:
        raise BackupError(
            f"the backup was made with TimescaleDB {wanted}, which this server does not have: restore on a "
            f"server with TimescaleDB {wanted} (TimescaleDB restores only into the version that dumped), then "
            "ALTER EXTENSION timescaledb UPDATE"
        )


# --- 2.-5. into the new database -----------------------------------------------------------------------


def _restore_into(
    url: str,
    where: str,
    staging: str,
    archive: Path,
    manifest: Manifest | None,
    pg_restore: Client,
    environ: Mapping[str, str],
    *,
    database: str,
) -> tuple[Manifest, list[str], list[str]]:
    """pg_restore `archive` into the new database `staging` the TimescaleDB way, then verify it (see _verify)."""
    staging_target, password = libpq_target(url, dbname=staging)
    with connect(make_conninfo(url, dbname=staging), where, autocommit=True) as conn:
        _prepare_extension(conn, manifest)
        apply_every_run(conn, timezone="UTC")  # the roles the archive's grants name (cluster-wide)
        conn.execute("SELECT timescaledb_pre_restore()")
        try:
            errors = _pg_restore(pg_restore, archive, staging_target, environ, password)
        finally:
            conn.execute("SELECT timescaledb_post_restore()")
        if errors:
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise BackupError(f"pg_restore failed: {errors[0]}{more}; database {database} was not touched")
        # --no-owner made the restoring superuser own everything: hand it to amber_writer again.
        apply_every_run(conn, timezone="UTC")
        conn.execute("ANALYZE")
        return _verify(conn, manifest)


def _prepare_extension(conn: psycopg.Connection, manifest: Manifest | None) -> None:
    """timescaledb at the archive's version: TimescaleDB restores only into the version that dumped."""
    wanted = manifest.timescaledb_version if manifest is not None else None
    installed, _license = timescaledb_extension(conn)
    if installed is None:
        if wanted is not None:
            _require_extension_version(conn, manifest)
            conn.execute(sql.SQL("CREATE EXTENSION timescaledb VERSION {}").format(sql.Literal(wanted)))
        else:
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    elif wanted is not None and installed != wanted:
        raise BackupError(
            f"the backup was made with TimescaleDB {wanted} but this database has {installed}: restore into a "
            f"database with TimescaleDB {wanted} (DROP EXTENSION timescaledb; CREATE EXTENSION timescaledb "
            f"VERSION '{wanted}'), then ALTER EXTENSION timescaledb UPDATE"
        )


def _pg_restore(
    client: Client, archive: Path, target: str, environ: Mapping[str, str], password: str | None
) -> list[str]:
    with open(archive, "rb") as source, tempfile.TemporaryFile() as err:
        # Archive on stdin (a regular file, so pg_restore can seek): the client may live in a chroot or
        # container where our paths do not exist.
        code = subprocess.run(
            [client.path, "--no-owner", "--dbname", target],
            stdin=source, stdout=subprocess.DEVNULL, stderr=err, env=child_env(environ, password),
        ).returncode
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    lines = stderr_lines(stderr)
    errors = [line.removeprefix("pg_restore: ") for line in lines if line.startswith("pg_restore: error:")]
    if code != 0 and not errors:
        errors = [line.removeprefix("pg_restore: ") for line in lines] or [f"pg_restore exited with {code}"]
    for line in errors:
        logger.warning("pg_restore: %s", line)
    return errors


def _verify(conn: psycopg.Connection, manifest: Manifest | None) -> tuple[Manifest, list[str], list[str]]:
    """(the restored database's manifest, aggregates refreshed, aggregates still differing); raises when a
    table or hypertable differs from the archive's manifest."""
    restored = take_manifest(conn)
    refreshed: list[str] = []
    stale: list[str] = []
    if manifest is not None:
        _check_tables(manifest, restored)
        differing = [n for n, v in manifest.aggregates.items() if restored.aggregates.get(n) != v]
        if differing and restored.aggregate_kind is not None:
            refreshed = refresh_aggregates(conn)
            restored = take_manifest(conn)
            stale = [n for n, v in manifest.aggregates.items() if restored.aggregates.get(n) != v]
    elif restored.aggregate_kind is not None:
        # Nothing to compare with: make sure the aggregates match the restored rows.
        refreshed = refresh_aggregates(conn)
        restored = take_manifest(conn)
    return restored, refreshed, stale


def _check_tables(manifest: Manifest, restored: Manifest) -> None:
    problems = []
    for name, expected in manifest.tables.items():
        got = restored.tables.get(name)
        if got is None:
            problems.append(f"table {name} is missing")
        elif got["rows"] != expected["rows"]:
            problems.append(f"{name} has {got['rows']} rows, the backup {expected['rows']}")
        elif got != expected:
            problems.append(f"{name}'s sums differ from the backup's")
    missing = sorted(set(manifest.hypertables) - set(restored.hypertables))
    if missing:
        problems.append(f"not hypertables after the restore: {', '.join(missing)}")
    if problems:
        raise BackupError(f"restore verification failed: {'; '.join(problems[:3])}; the database was not touched")


# --- 6. the swap, from the maintenance database ---------------------------------------------------------


def _side_name(database: str, what: str, token: str) -> str:
    """A database name next to `database` (63 bytes at most, PostgreSQL's limit)."""
    suffix = f"_{what}_{token}"
    return database.encode()[: 63 - len(suffix)].decode("utf-8", "ignore") + suffix


@contextmanager
def _maintenance(url: str, where: str) -> Iterator[psycopg.Connection]:
    """A connection to the server's maintenance database: databases are created, renamed and dropped
    from outside them."""
    last: BaseException | None = None
    for maintenance in MAINTENANCE_DATABASES:
        try:
            conn = connect_database(
                make_conninfo(url, dbname=maintenance), application_name=APPLICATION_NAME, autocommit=True
            )
        except psycopg.OperationalError as exc:
            last = exc
            continue
        with conn:
            yield conn
        return
    raise BackupError(
        f"no maintenance database ({', '.join(MAINTENANCE_DATABASES)}) reachable at {where} "
        f"({first_line(last) if last else 'none'}): restore needs one to create the new database"
    )


def _create_database(admin: psycopg.Connection, name: str, owner: str) -> None:
    try:
        admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner)))
    except psycopg.Error as exc:
        raise BackupError(
            f"cannot create the database to restore into: {first_line(exc)}; restore as a role that may create "
            "databases (the superuser)"
        ) from exc


def _copy_database_settings(admin: psycopg.Connection, source: str, target: str) -> None:
    """ALTER DATABASE … SET values (jit = off from a migration) live outside the archive: carry them over."""
    rows = admin.execute(
        """
        SELECT split_part(c, '=', 1), substr(c, strpos(c, '=') + 1)
        FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase, unnest(s.setconfig) AS c
        WHERE d.datname = %s AND s.setrole = 0
        """,
        (source,),
    ).fetchall()
    for name, value in rows:
        if name != "timescaledb.restoring":
            admin.execute(
                sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                    sql.Identifier(target), sql.Identifier(name), sql.Literal(value)
                )
            )


def _swap(admin: psycopg.Connection, database: str, staging: str, previous: str | None) -> None:
    """Put `staging` in `database`'s place. The old database is renamed to `previous` (kept), or dropped
    when it held nothing (`previous` None). If the second rename fails, the first is undone."""
    aside = previous or _side_name(database, "empty", secrets.token_hex(4))
    rename = sql.SQL("ALTER DATABASE {} RENAME TO {}")
    try:
        admin.execute(rename.format(sql.Identifier(database), sql.Identifier(aside)))
    except psycopg.Error as exc:
        raise BackupError(
            f"cannot swap in the restored database: {first_line(exc)}; stop every client of {database} and "
            "restore again (nothing was changed)"
        ) from exc
    try:
        admin.execute(rename.format(sql.Identifier(staging), sql.Identifier(database)))
    except psycopg.Error as exc:
        admin.execute(rename.format(sql.Identifier(aside), sql.Identifier(database)))
        raise BackupError(f"cannot swap in the restored database: {first_line(exc)}; nothing was changed") from exc
    logger.info("restored database swapped in for %s%s", database, f"; the old one is {previous}" if previous else "")
    if previous is None:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(aside)))


# --- `amber-home restore` --------------------------------------------------------------------------------


def run(archive: Path, replace: bool, environ: Mapping[str, str]) -> int:
    """Restore `archive` into DATABASE_URL (`replace`: even when it is not empty) and report it."""

    def job(settings: Settings) -> int:
        result = restore(settings.database_url, archive, replace=replace, environ=environ)
        _report(result, archive, where=redact_url(settings.database_url.reveal()))
        return 0

    return run_tool("restore", environ, job)


def _report(result: RestoreResult, archive: Path, *, where: str) -> None:
    how = (f"replaced the database; the old one is kept as {result.previous}, drop it when satisfied"
           if result.replaced else "empty database")
    print(f"restored {archive} into {where} ({how}; timescaledb_pre_restore, pg_restore, "
          "timescaledb_post_restore)")
    for line in table_lines(result.restored.tables):
        print(line)
    if result.manifest is None:
        print(f"not verified: no manifest {manifest_path(archive).name} next to the archive; "
              "aggregates refreshed from the restored rows")
        return
    checked = len(result.manifest.tables)
    hypertables = ", ".join(result.manifest.hypertables) or "none"
    print(f"verified against the manifest: rows and sums of {checked} tables match; hypertables: {hypertables}")
    if result.stale_aggregates:
        print(f"aggregates refreshed ({', '.join(result.stale_aggregates)} were out of date in the backup)")
    elif result.refreshed:
        print("aggregates refreshed; they now match the backup's")
    elif result.manifest.aggregates:
        print(f"aggregates match the backup's ({', '.join(result.manifest.aggregates)})")
