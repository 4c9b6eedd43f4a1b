"""Back up and restore the Amber-Home database with pg_dump and pg_restore, as TimescaleDB documents it.

    backup(url, output, environ=…) -> BackupResult        a pg_dump custom-format archive + its manifest
    restore(url, archive, replace=False, environ=…) -> RestoreResult
    find_client(name, environ) -> Client                  AMBER_PG_BIN, else PATH

Backup
    One REPEATABLE READ transaction exports its snapshot (pg_export_snapshot()); the row counts and sums
    of the manifest are read in it and pg_dump runs with --snapshot, so the manifest describes exactly
    the rows in the archive even while the loader keeps writing. The archive is written to FILE.partial
    and renamed when pg_dump succeeded; the manifest goes next to it as FILE.manifest.json.

Manifest (JSON; MANIFEST_FORMAT)
    the archive's name, size and SHA-256; the server, pg_dump and TimescaleDB versions; the license and
    aggregate kind; per table of the public schema: rows, sums of kwh / cost / per_kwh / spot_per_kwh
    where the table has them (exact numerics, as strings), first and last interval_start; the
    hypertables; per aggregate: rows and sums. `restore` checks the archive against the SHA-256 and the
    restored database against everything else.

Restore (TimescaleDB's "logical backup" procedure, into a new database, then a swap)
    Nothing touches the target database until the restored copy is verified; any failure drops the copy
    and leaves the target as it was.
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
    5. verify against the manifest: every table's rows and sums must match and every hypertable must be
       one again; aggregates that differ are refreshed (loader.aggregates.refresh_aggregates);
    6. swap: the target's ALTER DATABASE … SET values are copied, the target is renamed to
       <target>_before_restore_<random> (kept: drop it when satisfied) or dropped if it held nothing, and
       the new database takes its name.

Client programs
    pg_dump and pg_restore must be at least the server's major version (and pg_restore at least the
    archive's). They are found in AMBER_PG_BIN (a directory, e.g. /usr/lib/postgresql/17/bin), else on
    PATH; a wrong version is a one-line error naming the fix. The password never reaches their argv:
    they get a libpq connection string without it, and PGPASSWORD in their environment.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import re
import shutil
import secrets
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from amber.secret import redact_url
from loader.aggregates import AGGREGATES, aggregate_kind_or_none, refresh_aggregates
from loader.connect import connect
from loader.migrate import apply_every_run

__all__ = [
    "MANIFEST_FORMAT",
    "BackupError",
    "BackupResult",
    "Client",
    "Manifest",
    "RestoreResult",
    "backup",
    "default_archive_name",
    "find_client",
    "manifest_path",
    "read_manifest",
    "restore",
]

logger = logging.getLogger(__name__)

MANIFEST_FORMAT = "amber-home-backup/1"
APPLICATION_NAME = "amber-home backup"
PG_BIN_VARIABLE = "AMBER_PG_BIN"
# Numeric columns summed in the manifest wherever a table or aggregate has them.
TABLE_SUM_COLUMNS = ("kwh", "cost", "per_kwh", "spot_per_kwh")
AGGREGATE_SUM_COLUMNS = ("intervals", "kwh", "cost", "kwh_imported", "kwh_exported", "avg_per_kwh")
MAINTENANCE_DATABASES = ("postgres", "template1")
# TimescaleDB's catalog has circular foreign keys; pg_dump warns about them on every dump and TimescaleDB's
# troubleshooting page says the warning is harmless for a full dump.
_HARMLESS_DUMP_LINES = re.compile(
    r"pg_dump: (warning: there are circular foreign-key constraints on this table:|detail: \w+$|hint: (You might not "
    r"be able to restore the dump without using --disable-triggers|Consider using a full dump instead))"
)
_VERSION_RE = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


class BackupError(RuntimeError):
    """Backup or restore cannot go on; the message is one line saying what to do (no secrets)."""


class _Revealable(Protocol):
    def reveal(self) -> str: ...


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
    bin_dir = environ.get(PG_BIN_VARIABLE, "").strip()
    if bin_dir:
        path = os.path.join(bin_dir, name)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise BackupError(
                f"{PG_BIN_VARIABLE}={bin_dir} has no executable {name}: point it at a PostgreSQL client bin "
                "directory such as /usr/lib/postgresql/17/bin"
            )
    else:
        found = shutil.which(name, path=environ.get("PATH") or os.environ.get("PATH") or os.defpath)
        if found is None:
            raise BackupError(
                f"{name} not found on PATH: install the PostgreSQL client matching your server "
                f"(Debian: apt install postgresql-client-17) or set {PG_BIN_VARIABLE} to its bin directory"
            )
        path = found
    try:
        result = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60,
                                env=_child_env(environ, None))
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackupError(f"cannot run {path} --version: {exc}") from exc
    match = _VERSION_RE.search(result.stdout)
    if result.returncode != 0 or match is None:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise BackupError(f"{path} --version failed: {detail[0] if detail else f'exit {result.returncode}'}")
    return Client(name=name, path=path, version=".".join(g for g in match.groups() if g), major=int(match[1]))


def _require_major(client: Client, needed: int, *, what: str) -> None:
    if client.major >= needed:
        return
    verb = "dump" if client.name == "pg_dump" else "restore into"
    raise BackupError(
        f"{client.name} {client.major} cannot {verb} {what}: set {PG_BIN_VARIABLE} to a PostgreSQL {needed} "
        f"client bin directory (e.g. /usr/lib/postgresql/{needed}/bin from postgresql-client-{needed}), or with "
        f"Docker to a directory of wrappers running `docker compose exec -T -e PGPASSWORD timescaledb "
        f"{client.name} \"$@\"` (see amber-home {'backup' if client.name == 'pg_dump' else 'restore'} --help)"
    )


# --- connections ---------------------------------------------------------------------------------------


def _plain_url(url: str | _Revealable) -> str:
    return url if isinstance(url, str) else url.reveal()


def _libpq_target(url: str, **overrides: str) -> tuple[str, str | None]:
    """(connection string without the password, password or None) for a client program's -d."""
    params = {k: v for k, v in conninfo_to_dict(url).items() if v is not None}
    password = params.pop("password", None)
    params.setdefault("application_name", APPLICATION_NAME)
    params.update(overrides)
    return make_conninfo(**params), (str(password) if password else None)


def _child_env(environ: Mapping[str, str], password: str | None) -> dict[str, str]:
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


def _server_major(conn: psycopg.Connection) -> tuple[int, str]:
    num = int(conn.execute("SHOW server_version_num").fetchone()[0])
    version = conn.execute("SHOW server_version").fetchone()[0].split()[0]
    return num // 10000, version


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _connect(url: str, where: str, **kwargs: Any) -> psycopg.Connection:
    try:
        return connect(url, application_name=APPLICATION_NAME, **kwargs)
    except psycopg.OperationalError as exc:
        # libpq's message names host and port, never the password.
        raise BackupError(
            f"cannot reach the database at {where}: {_first_line(exc)}; check DATABASE_URL and that "
            "TimescaleDB is running"
        ) from exc


# --- the manifest ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    """What an archive holds, to check a restore against (see the module docstring)."""

    tables: dict[str, dict[str, Any]]  # name -> {"rows": int, "sums": {col: str|None}, "first": iso|None, "last": …}
    hypertables: list[str]
    aggregates: dict[str, dict[str, Any]]  # name -> {"rows": int, "sums": {…}}
    server_version: str = ""
    timescaledb_version: str | None = None
    license: str | None = None
    aggregate_kind: str | None = None
    pg_dump_version: str = ""
    archive: str = ""
    bytes: int = 0
    sha256: str = ""
    created_at: str = ""
    database: str = ""
    format: str = MANIFEST_FORMAT

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        if data.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {MANIFEST_FORMAT!r}")
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def manifest_path(archive: Path) -> Path:
    return archive.with_name(archive.name + ".manifest.json")


def read_manifest(archive: Path) -> Manifest | None:
    path = manifest_path(archive)
    if not path.exists():
        return None
    try:
        return Manifest.from_json(path.read_text(encoding="utf-8"))
    except (ValueError, TypeError, KeyError) as exc:
        raise BackupError(f"{path} is not an amber-home backup manifest ({exc})") from exc


def _numeric(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        # Normalised text, so 1.50 and 1.5 (same value, other scale after a restore?) compare equal.
        return format(value.normalize(), "f") if value != 0 else "0"
    return str(value)


def _public_tables(conn: psycopg.Connection) -> list[str]:
    """Ordinary tables (hypertables included) of the public schema that no extension owns."""
    rows = conn.execute(
        """
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
          AND NOT EXISTS (SELECT FROM pg_depend d
                          WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
        ORDER BY c.relname
        """
    ).fetchall()
    return [row[0] for row in rows]


def _columns(conn: psycopg.Connection, relation: str) -> set[str]:
    rows = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
        (f"public.{relation}",),
    ).fetchall()
    return {row[0] for row in rows}


def _measure(conn: psycopg.Connection, relation: str, sum_columns: Sequence[str]) -> dict[str, Any]:
    columns = _columns(conn, relation)
    summed = [c for c in sum_columns if c in columns]
    ranged = "interval_start" in columns
    select = [sql.SQL("count(*)")]
    select += [sql.SQL("sum({})").format(sql.Identifier(c)) for c in summed]
    if ranged:
        select += [sql.SQL("min(interval_start)"), sql.SQL("max(interval_start)")]
    row = conn.execute(
        sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(select), sql.Identifier("public", relation))
    ).fetchone()
    out: dict[str, Any] = {"rows": int(row[0]), "sums": {c: _numeric(v) for c, v in zip(summed, row[1:])}}
    if ranged:
        first, last = row[1 + len(summed):]
        # UTC, so two servers (or sessions) with other TimeZone settings describe the same rows alike.
        out["first"] = first.astimezone(dt.timezone.utc).isoformat() if first else None
        out["last"] = last.astimezone(dt.timezone.utc).isoformat() if last else None
    return out


def _hypertables(conn: psycopg.Connection) -> list[str]:
    if conn.execute("SELECT to_regclass('timescaledb_information.hypertables')").fetchone()[0] is None:
        return []
    rows = conn.execute(
        "SELECT hypertable_name FROM timescaledb_information.hypertables WHERE hypertable_schema = 'public'"
        " ORDER BY 1"
    ).fetchall()
    return [row[0] for row in rows]


def _timescaledb(conn: psycopg.Connection) -> tuple[str | None, str | None]:
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    license = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()[0] or None
    return (row[0] if row else None), license


def take_manifest(conn: psycopg.Connection) -> Manifest:
    """Counts, sums and structure of the database as `conn` sees it (the caller picks the snapshot)."""
    kind = aggregate_kind_or_none(conn)
    tables = {name: _measure(conn, name, TABLE_SUM_COLUMNS) for name in _public_tables(conn)}
    aggregates = (
        {a.name: _measure(conn, a.name, AGGREGATE_SUM_COLUMNS) for a in AGGREGATES} if kind is not None else {}
    )
    version, license = _timescaledb(conn)
    return Manifest(
        tables=tables,
        hypertables=_hypertables(conn),
        aggregates=aggregates,
        server_version=_server_major(conn)[1],
        timescaledb_version=version,
        license=license,
        aggregate_kind=kind,
        database=conn.info.dbname,
    )


# --- backup ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupResult:
    archive: Path
    manifest_file: Path
    manifest: Manifest
    warnings: list[str] = field(default_factory=list)


def default_archive_name(now: dt.datetime) -> str:
    return f"amber-home-{now.astimezone(dt.timezone.utc):%Y%m%dT%H%M%SZ}.dump"


def backup(
    url: str | _Revealable,
    output: Path,
    *,
    environ: Mapping[str, str],
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc),
) -> BackupResult:
    """Write a pg_dump custom-format archive of `url` to `output` and its manifest next to it."""
    url = _plain_url(url)
    where = redact_url(url)
    output = Path(output)
    sidecar = manifest_path(output)
    for path in (output, sidecar):
        if path.exists():
            raise BackupError(f"{path} already exists: choose another --output or move it away")
    if not output.parent.is_dir():
        raise BackupError(f"directory {output.parent} does not exist")
    pg_dump = find_client("pg_dump", environ)
    target, password = _libpq_target(url)
    with _connect(url, where, autocommit=True) as conn:
        server_major, server_version = _server_major(conn)
        _require_major(pg_dump, server_major, what=f"PostgreSQL {server_major}")
        # The manifest and pg_dump see one snapshot: exported here, imported by pg_dump (--snapshot); this
        # transaction stays open until pg_dump is done.
        conn.autocommit = False
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        manifest = take_manifest(conn)
        partial = output.with_name(output.name + ".partial")
        logger.debug("pg_dump %s of %s to %s", pg_dump.version, where, output)
        try:
            with open(partial, "wb") as out, tempfile.TemporaryFile() as err:
                # The archive goes to stdout (a regular file, so pg_dump can still seek and record data
                # offsets): the client may run in a chroot or container where our paths do not exist.
                code = subprocess.run(
                    [pg_dump.path, "--format=custom", f"--snapshot={snapshot}", "--dbname", target],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=_child_env(environ, password),
                ).returncode
                err.seek(0)
                stderr = err.read().decode("utf-8", "replace")
            if code != 0:
                raise BackupError(f"pg_dump failed (exit {code}): {_client_error(stderr, 'pg_dump')}")
            conn.commit()
            warnings = [line for line in _stderr_lines(stderr) if not _HARMLESS_DUMP_LINES.match(line)]
            digest, size = _sha256(partial)
            manifest = Manifest(
                **{
                    **manifest.__dict__,
                    "server_version": server_version,
                    "pg_dump_version": pg_dump.version,
                    "archive": output.name,
                    "bytes": size,
                    "sha256": digest,
                    "created_at": now().astimezone(dt.timezone.utc).isoformat(timespec="seconds"),
                }
            )
            sidecar_partial = sidecar.with_name(sidecar.name + ".partial")
            sidecar_partial.write_text(manifest.to_json(), encoding="utf-8")
            os.replace(partial, output)
            os.replace(sidecar_partial, sidecar)
        finally:
            for leftover in (partial, sidecar.with_name(sidecar.name + ".partial")):
                leftover.unlink(missing_ok=True)
    return BackupResult(archive=output, manifest_file=sidecar, manifest=manifest, warnings=warnings)


def _stderr_lines(stderr: str) -> list[str]:
    return [line.rstrip() for line in stderr.splitlines() if line.strip()]


def _client_error(stderr: str, program: str) -> str:
    lines = _stderr_lines(stderr)
    errors = [line for line in lines if "error:" in line] or lines
    return errors[0].removeprefix(f"{program}: ") if errors else "no message"


def _sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


# --- restore ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RestoreResult:
    manifest: Manifest | None  # the archive's, None when it has no manifest (nothing verified)
    restored: Manifest  # the database after the restore
    replaced: bool  # the target held data; it was renamed to `previous`, not dropped
    refreshed: list[str]  # aggregates refreshed because they differed from the manifest
    stale_aggregates: list[str]  # …and still differ: the backup's aggregates were not up to date
    previous: str | None = None  # where the replaced database is kept (None: the target was empty, dropped)


def restore(
    url: str | _Revealable,
    archive: Path,
    *,
    replace: bool = False,
    environ: Mapping[str, str],
    token: Callable[[], str] = lambda: secrets.token_hex(4),
) -> RestoreResult:
    """Restore `archive` into a new database, verify it against the archive's manifest, then swap it in
    for the database at `url`. Nothing touches the target before the archive restored and verified;
    any failure drops the new database and leaves the target as it was."""
    url = _plain_url(url)
    where = redact_url(url)
    archive = Path(archive)
    if not archive.is_file():
        raise BackupError(f"no archive at {archive}")
    manifest = read_manifest(archive)
    if manifest is not None:
        digest, _size = _sha256(archive)
        if digest != manifest.sha256:
            raise BackupError(
                f"{archive} does not match {manifest_path(archive).name} (SHA-256 differs): the archive is damaged "
                "or the manifest belongs to another backup"
            )
    pg_restore = find_client("pg_restore", environ)
    _, password = _libpq_target(url)

    with _connect(url, where, autocommit=True) as conn:
        server_major, _ = _server_major(conn)
        _require_major(pg_restore, server_major, what=f"PostgreSQL {server_major}")
        if manifest is not None and manifest.pg_dump_version:
            archive_major = int(manifest.pg_dump_version.split(".")[0])
            _require_major(pg_restore, archive_major, what=f"an archive made by pg_dump {archive_major}")
        _check_archive(pg_restore, archive, environ)
        _refuse_other_sessions(conn)
        _require_extension_version(conn, manifest)
        relations = _user_relations(conn)
        database = conn.info.dbname
        owner = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
        ).fetchone()[0]
    if relations and not replace:
        shown = ", ".join(relations[:3]) + (", …" if len(relations) > 3 else "")
        raise BackupError(
            f"database {database} is not empty ({len(relations)} relations: {shown}); pass --yes to replace it "
            "with the backup, or restore into an empty database"
        )

    staging = _side_name(database, "restore", token())
    staging_url = make_conninfo(url, dbname=staging)
    staging_target, _ = _libpq_target(url, dbname=staging)
    with _maintenance(url, where) as admin:
        _create_database(admin, staging, owner)
    try:
        with _connect(staging_url, where, autocommit=True) as conn:
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
            restored, refreshed, stale = _verify(conn, manifest)
        previous = _side_name(database, "before_restore", token()) if relations else None
        with _maintenance(url, where) as admin:
            _copy_database_settings(admin, database, staging)
            _swap(admin, database, staging, previous)
    except BaseException:
        with contextlib.suppress(Exception), _maintenance(url, where) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(staging)))
        raise
    return RestoreResult(
        manifest=manifest,
        restored=restored,
        replaced=bool(relations),
        refreshed=refreshed,
        stale_aggregates=stale,
        previous=previous,
    )


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


def _check_archive(client: Client, archive: Path, environ: Mapping[str, str]) -> None:
    """pg_restore --list reads the archive's table of contents: garbage or a cut-off header is refused
    before any database is touched (a cut-off data section shows later, in the new database)."""
    with open(archive, "rb") as source:
        result = subprocess.run(
            [client.path, "--list"], stdin=source, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=_child_env(environ, None),
        )
    if result.returncode != 0:
        reason = _client_error(result.stderr.decode("utf-8", "replace"), "pg_restore")
        raise BackupError(f"{archive} is not a readable pg_dump archive ({reason}); nothing was changed")


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
            conn = connect(make_conninfo(url, dbname=maintenance), application_name=APPLICATION_NAME, autocommit=True)
        except psycopg.OperationalError as exc:
            last = exc
            continue
        with conn:
            yield conn
        return
    raise BackupError(
        f"no maintenance database ({', '.join(MAINTENANCE_DATABASES)}) reachable at {where} "
        f"({_first_line(last) if last else 'none'}): restore needs one to create the new database"
    )


def _create_database(admin: psycopg.Connection, name: str, owner: str) -> None:
    try:
        admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner)))
    except psycopg.Error as exc:
        raise BackupError(
            f"cannot create the database to restore into: {_first_line(exc)}; restore as a role that may create "
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
            f"cannot swap in the restored database: {_first_line(exc)}; stop every client of {database} and "
            "restore again (nothing was changed)"
        ) from exc
    try:
        admin.execute(rename.format(sql.Identifier(staging), sql.Identifier(database)))
    except psycopg.Error as exc:
        admin.execute(rename.format(sql.Identifier(aside), sql.Identifier(database)))
        raise BackupError(f"cannot swap in the restored database: {_first_line(exc)}; nothing was changed") from exc
    logger.info("restored database swapped in for %s%s", database, f"; the old one is {previous}" if previous else "")
    if previous is None:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(aside)))


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
    available = conn.execute(
        "SELECT EXISTS (SELECT FROM pg_available_extension_versions WHERE name = 'timescaledb' AND version = %s)",
        (wanted,),
    ).fetchone()[0]
    if not available:
        raise BackupError(
            f"the backup was made with TimescaleDB {wanted}, which this server does not have: restore on a "
            f"server with TimescaleDB {wanted} (TimescaleDB restores only into the version that dumped), then "
            "ALTER EXTENSION timescaledb UPDATE"
        )


def _prepare_extension(conn: psycopg.Connection, manifest: Manifest | None) -> None:
    """timescaledb at the archive's version: TimescaleDB restores only into the version that dumped."""
    wanted = manifest.timescaledb_version if manifest is not None else None
    installed, _license = _timescaledb(conn)
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
            stdin=source, stdout=subprocess.DEVNULL, stderr=err, env=_child_env(environ, password),
        ).returncode
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    lines = _stderr_lines(stderr)
    errors = [line.removeprefix("pg_restore: ") for line in lines if line.startswith("pg_restore: error:")]
    if code != 0 and not errors:
        errors = [line.removeprefix("pg_restore: ") for line in lines] or [f"pg_restore exited with {code}"]
    for line in errors:
        logger.warning("pg_restore: %s", line)
    return errors


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
