"""Apply the SQL migrations in sql/ to a TimescaleDB database: in order, once each, forward only.

    migrate(url_or_conn, timezone="Australia/Sydney", writer_password=None, reader_password=None) -> names applied
    apply_every_run(conn, timezone=…)          re-run the `every-run` files (roles and grants; restore uses it)
    migration_status(conn) -> MigrationStatus   (what `amber-home doctor` reports)
    timescaledb_extension(conn) -> (version | None, license | None)

Files
    sql/NNN_purpose.sql, applied in NNN order. Each opens with a comment saying what it does and is
    idempotent (IF NOT EXISTS, if_not_exists => true, CREATE OR REPLACE), so a half-applied
    no-transaction file can simply run again. `schema_migrations` records version, name, the SHA-256 of
    the file as written, and when it was applied. Editing an applied file is an error (its checksum
    changes): migrations are forward-only, so add a new file instead.

Transactions
    A file runs in one transaction together with its schema_migrations row, unless a line of its
    opening comment says `-- migrate: no-transaction` (for statements PostgreSQL refuses inside a
    transaction, e.g. CREATE INDEX CONCURRENTLY); then each statement commits on its own and the row
    is written last. A line `-- migrate: every-run` marks a file (the roles and grants) that runs again,
    unrecorded, after every migrate that applied a later file: it hands the new objects to their owner.

Roles
    migrate needs the superuser (CREATE EXTENSION, DDL, roles). It gives amber_writer and amber_reader
    LOGIN and a password when configured with one (sent as a SCRAM verifier); a role without a
    configured password keeps none, so it cannot log in with a password.

Concurrency
    Compose starts several services that each migrate at start-up; a session-level advisory lock
    (MIGRATION_LOCK_KEY) makes them take turns, so the later ones find nothing to do. Waiting for it
    ends after LOCK_WAIT_S with a one-line error naming who holds it.

Extension updates
    A newer TimescaleDB image ships a newer extension library than the database was created with; the
    update must be the FIRST statement of a fresh session (TimescaleDB loads the installed version's
    library at a session's first statement, and may not have the old one at all). So migrate, given a
    URL, first opens a session of its own whose first statement is `ALTER EXTENSION timescaledb UPDATE`
    (a no-op with a notice when the version is current, skipped when the extension is not installed
    yet): bumping the image tag is the whole upgrade. A connection passed in is not a fresh session;
    migrate(conn) skips the update.

Template syntax (expanded before a file runs; the checksum covers the file as written)
    Each aggregate's SELECT is written once; the TimescaleDB license (`SHOW timescaledb.license`:
    'timescale' with the TSL library, 'apache' for the Apache-2 build) picks what surrounds it.
    Placeholders:
        {{timezone}}        the configured IANA zone as an SQL literal: 'Australia/Sydney'
        {{hour_offset}}     that zone's standard UTC offset modulo one hour, as an interval literal
                            (INTERVAL '30 minutes' for Adelaide, '0 minutes' for Sydney)
        {{aggregate_with}}  timescale: WITH (timescaledb.continuous, timescaledb.materialized_only = false)
                            apache:    (nothing)
        {{aggregate_data}}  timescale: WITH NO DATA   apache: WITH DATA
        {{aggregate_kind}}  timescale: VIEW           apache: MATERIALIZED VIEW   (COMMENT ON, ALTER)
    Sections, each marker alone on a comment line, not nested:
        -- @if timescale   (or: -- @if apache)
        ...lines kept only under that license...
        -- @else
        ...lines kept under the other license...
        -- @end
    Lines of a dropped section become blank, so line numbers in error messages match the file.
    An unknown placeholder or an unbalanced section is an error before anything runs.

Statements are split on semicolons outside quotes, comments and dollar-quoted bodies (E'' strings
with backslash-escaped quotes are not supported), so an error names the statement's line.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from psycopg import sql

from loader.aggregates import aggregate_kind_or_none, recorded_timezone
from runtime.database import connect, scalar

__all__ = [
    "MIGRATION_LOCK_KEY",
    "SQL_DIR",
    "Migration",
    "MigrationError",
    "MigrationStatus",
    "expand",
    "load_migrations",
    "migrate",
    "migration_status",
    "split_statements",
    "timescaledb_extension",
    "update_extension",
]

logger = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"
APPLICATION_NAME = "amber-home migrate"
READER_ROLE = "amber_reader"
WRITER_ROLE = "amber_writer"
LOCK_WAIT_S = 120.0
# Any fixed bigint works; this one spells "amberMig" so it is recognisable in pg_locks.
MIGRATION_LOCK_KEY = int.from_bytes(b"amberMig", "big")
LICENSES = ("timescale", "apache")

_FILE_RE = re.compile(r"^(?P<version>\d{3,})_(?P<purpose>[a-z0-9_]+)\.sql$")
_NO_TRANSACTION_RE = re.compile(r"^--\s*migrate:\s*no-transaction\s*$", re.MULTILINE)
_EVERY_RUN_RE = re.compile(r"^--\s*migrate:\s*every-run\b", re.MULTILINE)
_PLACEHOLDER_RE = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
_DOLLAR_TAG_RE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_SECTION_RE = re.compile(r"^\s*--\s*@(if|else|end)\b\s*(\S*)\s*$")


class MigrationError(RuntimeError):
    """A migration could not be applied or the migration state is inconsistent; the message is one
    line saying which file and what to do."""


class _Revealable(Protocol):
    def reveal(self) -> str: ...


@dataclass(frozen=True)
class Migration:
    version: int
    name: str  # file name without .sql, e.g. "003_prices"
    path: Path
    text: str
    checksum: str  # SHA-256 hex of the file's bytes

    @property
    def transactional(self) -> bool:
        return _NO_TRANSACTION_RE.search(_opening_comment(self.text)) is None

    @property
    def every_run(self) -> bool:
        return _EVERY_RUN_RE.search(_opening_comment(self.text)) is not None


@dataclass(frozen=True)
class MigrationStatus:
    """The migration state of a database, as `amber-home doctor` shows it."""

    applied: tuple[str, ...]
    pending: tuple[str, ...]
    changed: tuple[str, ...]  # applied, but the file's checksum differs now
    unknown: tuple[str, ...]  # applied, but no such file here: the database is newer than this code
    timescaledb_version: str | None  # extension version in this database, None if not installed
    license: str | None  # 'timescale' | 'apache'
    aggregate_kind: str | None  # 'continuous' | 'materialized view' | None (not created yet)
    timezone: str | None  # zone recorded by the aggregates migration, None before it ran
    applied_at: Mapping[str, dt.datetime] = field(default_factory=dict)

    def problems(self, *, timezone: str | None = None) -> list[str]:
        """Human-readable problems, one line each; `timezone` is AMBER_TIMEZONE to compare with."""
        out: list[str] = []
        if self.timescaledb_version is None:
            out.append("the timescaledb extension is not installed in this database: run migrate")
        if self.changed:
            out.append(
                f"applied migration files were edited since: {', '.join(self.changed)}; restore them "
                "(migrations are forward-only) and put changes in a new file"
            )
        if self.pending:
            out.append(f"{len(self.pending)} migration(s) pending ({', '.join(self.pending)}): run migrate")
        if self.unknown:
            out.append(
                f"the database has migrations this version does not know ({', '.join(self.unknown)}): "
                "it was migrated by a newer Amber-Home; upgrade this one"
            )
        if timezone is not None and self.timezone is not None and timezone != self.timezone:
            out.append(
                f"the daily and monthly aggregates use local days in {self.timezone}, but AMBER_TIMEZONE "
                f"is {timezone}: set AMBER_TIMEZONE={self.timezone}, or rebuild the aggregates"
            )
        if self.license == "timescale" and self.aggregate_kind == "materialized view":
            out.append(
                "TimescaleDB now has the timescale license but the aggregates were created as plain "
                "materialized views (Apache build): they refresh fully each time instead of incrementally"
            )
        return out


# --- the migration files ---------------------------------------------------------------------------


def load_migrations(sql_dir: Path = SQL_DIR) -> list[Migration]:
    """The migration files in `sql_dir`, ordered by version. Other files (README.md) are ignored;
    a .sql file with a malformed name or a duplicate version is an error."""
    migrations: list[Migration] = []
    for path in sorted(Path(sql_dir).glob("*.sql")):
        match = _FILE_RE.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNN_purpose.sql (lowercase)")
        data = path.read_bytes()
        migrations.append(
            Migration(
                version=int(match["version"]),
                name=path.stem,
                path=path,
                text=data.decode("utf-8"),
                checksum=hashlib.sha256(data).hexdigest(),
            )
        )
    migrations.sort(key=lambda m: m.version)
    for before, after in itertools.pairwise(migrations):
        if before.version == after.version:
            raise MigrationError(f"{before.path.name} and {after.path.name} have the same version number")
    return migrations


def _opening_comment(text: str) -> str:
    lines = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("--"):
            break
        lines.append(line.strip())
    return "\n".join(lines)


def hour_offset(timezone: str) -> dt.timedelta:
    """The zone's standard UTC offset modulo one hour: where its local hours start within a UTC hour."""
    zone = ZoneInfo(timezone)
    now = dt.datetime.now(zone)
    standard = (now.utcoffset() or dt.timedelta(0)) - (now.dst() or dt.timedelta(0))
    return dt.timedelta(minutes=(standard.total_seconds() // 60) % 60)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def template_values(license: str, timezone: str) -> dict[str, str]:
    if license not in LICENSES:
        raise MigrationError(f"unknown TimescaleDB license {license!r}; expected one of {', '.join(LICENSES)}")
    continuous = license == "timescale"
    minutes = int(hour_offset(timezone).total_seconds() // 60)
    return {
        "timezone": _literal(timezone),
        "hour_offset": f"INTERVAL '{minutes} minutes'",
        "aggregate_with": (
            "WITH (timescaledb.continuous, timescaledb.materialized_only = false)" if continuous else ""
        ),
        "aggregate_data": "WITH NO DATA" if continuous else "WITH DATA",
        "aggregate_kind": "VIEW" if continuous else "MATERIALIZED VIEW",
    }


def expand(text: str, *, license: str, timezone: str, filename: str = "<sql>") -> str:
    """The file's SQL for this license and time zone: sections resolved, placeholders filled."""
    values = template_values(license, timezone)
    out: list[str] = []
    keep: bool | None = None  # None: outside a section
    opened_at = 0
    for number, line in enumerate(text.splitlines(), start=1):
        marker = _SECTION_RE.match(line)
        if marker:
            word, arg = marker.groups()
            if word == "if":
                if keep is not None:
                    raise MigrationError(f"{filename}:{number}: sections cannot be nested (@end the one at line {opened_at})")
                if arg not in LICENSES:
                    raise MigrationError(f"{filename}:{number}: @if takes one of {', '.join(LICENSES)}, not {arg!r}")
                keep, opened_at = arg == license, number
            elif keep is None:
                raise MigrationError(f"{filename}:{number}: @{word} without @if")
            elif word == "else":
                keep = not keep
            else:
                keep = None
            out.append("")
            continue
        out.append(line if keep in (None, True) else "")
    if keep is not None:
        raise MigrationError(f"{filename}:{opened_at}: @if without @end")

    def fill(match: re.Match[str]) -> str:
        try:
            return values[match[1]]
        except KeyError:
            raise MigrationError(
                f"{filename}: unknown placeholder {{{{{match[1]}}}}}; known: {', '.join(sorted(values))}"
            ) from None

    return _PLACEHOLDER_RE.sub(fill, "\n".join(out) + "\n")


def split_statements(text: str) -> list[tuple[int, str]]:
    """(line number, statement) for each SQL statement, split on semicolons outside string literals,
    quoted identifiers, comments and dollar-quoted bodies. Pieces holding only comments are dropped;
    a statement starts at its first code character, so comments above it are not part of it."""
    statements: list[tuple[int, str]] = []
    code_start: int | None = None  # where the current statement's code begins
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        if ch.isspace():
            i += 1
            continue
        if ch == ";":
            if code_start is not None:
                statements.append((text.count("\n", 0, code_start) + 1, text[code_start:i].strip()))
            code_start = None
            i += 1
            continue
        if code_start is None:
            code_start = i
        if ch in ("'", '"'):
            i += 1
            while i < n:
                if text[i] == ch:
                    if text.startswith(ch * 2, i):  # a doubled quote escapes itself
                        i += 2
                        continue
                    break
                i += 1
            i += 1
        elif ch == "$" and (tag := _DOLLAR_TAG_RE.match(text, i)) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            end = text.find(tag[0], tag.end())
            i = n if end < 0 else end + len(tag[0])
        else:
            i += 1
    if code_start is not None:
        statements.append((text.count("\n", 0, code_start) + 1, text[code_start:].strip()))
    return statements


# --- applying them -----------------------------------------------------------------------------------


def migrate(
    url_or_conn: str | _Revealable | psycopg.Connection,
    *,
    timezone: str,
    writer_password: str | _Revealable | None = None,
    reader_password: str | _Revealable | None = None,
    sql_dir: Path = SQL_DIR,
    lock_wait_s: float = LOCK_WAIT_S,
) -> list[str]:
    """Apply the pending migrations; return their names (empty when the database is up to date).

    `timezone` (AMBER_TIMEZONE) defines the local days and months of the aggregates and is recorded in
    amber_settings; once they exist, a different value only logs a warning (doctor reports it).
    With a (non-empty) `writer_password` / `reader_password`, the role amber_writer / amber_reader gets
    LOGIN and that password (sent as a SCRAM verifier, so the server never sees or logs the password
    itself); without one the role is left as it is (created without LOGIN). A connection passed in must be
    idle (not inside a transaction); it is left open and in its original autocommit mode.
    """
    migrations = load_migrations(sql_dir)
    if not isinstance(url_or_conn, psycopg.Connection):
        update_extension(url_or_conn)
    with _session(url_or_conn) as conn, _advisory_lock(conn, lock_wait_s):
        # Before anything else: the license, which selects the SQL, needs the extension loaded.
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        license = scalar(conn, "SHOW timescaledb.license")
        applied = _applied_checksums(conn)
        _check_unchanged(migrations, applied)
        pending = [m for m in migrations if m.version not in applied]
        if not _is_superuser(conn):
            # The services (amber_writer) migrate at start too: up to date, that is all they may do.
            if pending:
                raise MigrationError(
                    f"{len(pending)} migration(s) pending and {conn.info.user} is not a superuser: run amber-home "
                    "migrate with the superuser's DATABASE_URL first"
                )
            if writer_password or reader_password:
                logger.info("role passwords are left to amber-home migrate as the superuser")
            return []
        names = _apply_pending(conn, migrations, pending, license=license, timezone=timezone)
        for role, password in ((WRITER_ROLE, writer_password), (READER_ROLE, reader_password)):
            if password:  # None or empty: leave the role as it is
                _set_password(conn, role, password)
    return names


def _apply_pending(
    conn: psycopg.Connection, migrations: list[Migration], pending: list[Migration], *, license: str, timezone: str
) -> list[str]:
    """Apply `pending` in order, then the every-run files before the last of them again; their names."""
    if pending:
        _check_timezone(conn, timezone)
    else:
        _warn_on_timezone_change(conn, timezone)
    names = []
    for migration in pending:
        _apply(conn, migration, license=license, timezone=timezone)
        names.append(migration.name)
    if pending:
        last = pending[-1].version
        again = [m for m in migrations if m.every_run and m.version < last]
        _apply_again(conn, again, license=license, timezone=timezone)
    return names


def update_extension(url: str | _Revealable, *, attempts: int = 2) -> str | None:
    """Run `ALTER EXTENSION timescaledb UPDATE` as the first statement of a new session; return the
    version it updated to, or None when there was nothing to do (current, or not installed yet)."""
    for attempt in range(1, attempts + 1):
        notices: list[str] = []
        with connect(url, application_name=APPLICATION_NAME, autocommit=True) as conn:
            # The server reports is_superuser at connection start: asking costs no statement (which would
            # load the old library) and spares the server log an ERROR from every non-superuser service.
            if conn.info.parameter_status("is_superuser") != "on":
                logger.debug("the TimescaleDB extension is updated by migrate as the superuser, not as this role")
                return None
            conn.add_notice_handler(_collect_into(notices))
            try:
                conn.execute("ALTER EXTENSION timescaledb UPDATE")
            except psycopg.errors.UndefinedObject:
                return None  # not installed yet: CREATE EXTENSION will install the newest version
            except psycopg.Error as exc:
                # Two migrators updating at once: the loser's catalog update fails; the retry finds it done.
                if attempt < attempts:
                    continue
                message = (exc.diag.message_primary or str(exc)).strip()
                raise MigrationError(f"ALTER EXTENSION timescaledb UPDATE failed: {message}") from exc
            if any("already installed" in notice for notice in notices):
                return None
            version = scalar(conn, "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
        logger.info("updated the TimescaleDB extension to %s (the server's library is newer)", version)
        return version
    return None


def _collect_into(notices: list[str]) -> Callable[[psycopg.errors.Diagnostic], None]:
    """A notice handler appending each notice's primary message to `notices`."""
    return lambda diag: notices.append(diag.message_primary or "")


def apply_every_run(conn: psycopg.Connection, *, timezone: str, sql_dir: Path = SQL_DIR) -> list[str]:
    """Run the `every-run` files (roles, grants, ownership) on an autocommit connection as the superuser,
    without recording them; restore uses it before and after pg_restore. Returns their names."""
    license = scalar(conn, "SHOW timescaledb.license")
    again = [m for m in load_migrations(sql_dir) if m.every_run]
    _apply_again(conn, again, license=license, timezone=timezone)
    return [m.name for m in again]


def _apply_again(conn: psycopg.Connection, migrations: list[Migration], *, license: str, timezone: str) -> None:
    for migration in migrations:
        logger.info("running %s again (every-run)", migration.path.name)
        statements = split_statements(
            expand(migration.text, license=license, timezone=timezone, filename=migration.path.name)
        )
        with conn.transaction():
            _run(conn, migration.path.name, statements)


def _is_superuser(conn: psycopg.Connection) -> bool:
    return scalar(conn, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")


@contextmanager
def _session(url_or_conn) -> Iterator[psycopg.Connection]:
    if isinstance(url_or_conn, psycopg.Connection):
        conn = url_or_conn
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            raise MigrationError("migrate needs a connection that is not inside a transaction")
        autocommit = conn.autocommit
        conn.autocommit = True
        try:
            yield conn
        finally:
            conn.autocommit = autocommit
    else:
        with connect(url_or_conn, application_name=APPLICATION_NAME, autocommit=True) as conn:
            yield conn


@contextmanager
def _advisory_lock(conn: psycopg.Connection, wait_s: float) -> Iterator[None]:
    if not scalar(conn, "SELECT pg_try_advisory_lock(%s)", (MIGRATION_LOCK_KEY,)):
        logger.info("another migrator is running; waiting for it to finish")
        # lock_timeout bounds the wait: a session holding the key forever cannot hang every start-up.
        conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(f"{int(wait_s * 1000)}ms")))
        try:
            conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        except psycopg.errors.LockNotAvailable:
            raise MigrationError(
                f"waited {wait_s:g} s for migrate's lock, held by {_lock_holder(conn)}: wait for it to finish, "
                "or end that session (SELECT pg_terminate_backend(pid)) and run migrate again"
            ) from None
        finally:
            conn.execute("RESET lock_timeout")
    try:
        yield
    finally:
        if not conn.closed:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))


def _lock_holder(conn: psycopg.Connection) -> str:
    row = conn.execute(
        """
        SELECT a.pid, a.usename, coalesce(nullif(a.application_name, ''), 'no application name')
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND (l.classid::bigint << 32 | l.objid::bigint) = %s
        """,
        (MIGRATION_LOCK_KEY,),
    ).fetchone()
    return f"pid {row[0]} ({row[1]}, {row[2]})" if row else "another session"


def _applied_checksums(conn: psycopg.Connection) -> dict[int, str]:
    # The table itself comes from 001; before that runs, nothing is applied.
    if scalar(conn, "SELECT to_regclass('schema_migrations')") is None:
        return {}
    return dict(conn.execute("SELECT version, checksum FROM schema_migrations").fetchall())


def _check_unchanged(migrations: list[Migration], applied: Mapping[int, str]) -> None:
    for m in migrations:
        if m.version in applied and applied[m.version] != m.checksum:
            raise MigrationError(
                f"{m.path.name} was changed after it was applied (checksum {applied[m.version][:12]}… in "
                f"the database, {m.checksum[:12]}… on disk): migrations are forward-only, restore the file "
                "and put the change in a new one"
            )


def _check_timezone(conn: psycopg.Connection, timezone: str) -> None:
    # Both sides must know the name: Python computes {{hour_offset}}, the server buckets the days.
    # pg_timezone_names has full names only, so abbreviations like AEST (no DST) are refused too.
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise MigrationError(f"unknown time zone {timezone!r}: use an IANA name such as Australia/Sydney") from None
    known = scalar(conn, "SELECT EXISTS (SELECT FROM pg_timezone_names WHERE name = %s)", (timezone,))
    if not known:
        raise MigrationError(f"the database server does not know the time zone {timezone!r}")


def _warn_on_timezone_change(conn: psycopg.Connection, timezone: str) -> None:
    recorded = recorded_timezone(conn)
    if recorded is not None and recorded != timezone:
        logger.warning(
            "the aggregates use local days in %s but AMBER_TIMEZONE is %s; days stay in %s", recorded, timezone, recorded
        )


def _apply(conn: psycopg.Connection, migration: Migration, *, license: str, timezone: str) -> None:
    filename = migration.path.name
    statements = split_statements(expand(migration.text, license=license, timezone=timezone, filename=filename))
    record = (
        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
        (migration.version, migration.name, migration.checksum),
    )
    logger.info("applying %s (%s)", filename, "one transaction" if migration.transactional else "no transaction")
    # Never auto-prepared (psycopg prepares a query run 5 times): PGlite serves every connection from one
    # backend, where a statement prepared here would collide with the next connection's of the same name.
    if migration.transactional:
        with conn.transaction():
            _run(conn, filename, statements)
            conn.execute(*record, prepare=False)
    else:
        _run(conn, filename, statements)
        conn.execute(*record, prepare=False)


def _run(conn: psycopg.Connection, filename: str, statements: list[tuple[int, str]]) -> None:
    for line, statement in statements:
        try:
            conn.execute(statement, prepare=False)
        except psycopg.Error as exc:
            first = statement.splitlines()[0]
            message = (exc.diag.message_primary or str(exc)).strip()
            raise MigrationError(f"{filename}:{line}: {message} (in: {first})") from exc


def _set_password(conn: psycopg.Connection, role: str, password: str | _Revealable) -> None:
    secret = password if isinstance(password, str) else password.reveal()
    # libpq hashes locally: only the verifier travels, so log_statement cannot capture the password.
    verifier = conn.pgconn.encrypt_password(secret.encode(), role.encode(), b"scram-sha-256").decode()
    try:
        conn.execute(sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(verifier)))
    except psycopg.Error as exc:
        # Not chained: keep the statement (with the verifier) out of tracebacks.
        raise MigrationError(f"could not set the {role} password: {exc.diag.message_primary}") from None
    logger.info("set LOGIN and a password on role %s", role)


# --- status -----------------------------------------------------------------------------------------


def timescaledb_extension(conn: psycopg.Connection) -> tuple[str | None, str | None]:
    """(timescaledb's version in this database or None, the server's TimescaleDB license or None)."""
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    license = scalar(conn, "SELECT current_setting('timescaledb.license', true)") or None
    return (row[0] if row else None), license


def migration_status(conn: psycopg.Connection, *, sql_dir: Path = SQL_DIR) -> MigrationStatus:
    """Read-only summary of the database's migration state (works on a database never migrated)."""
    migrations = load_migrations(sql_dir)
    by_version = {m.version: m for m in migrations}
    rows: list[tuple[int, str, str, dt.datetime]] = []
    if scalar(conn, "SELECT to_regclass('schema_migrations')") is not None:
        rows = conn.execute(
            "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version"
        ).fetchall()
    applied_versions = {row[0] for row in rows}
    version, license = timescaledb_extension(conn)
    return MigrationStatus(
        applied=tuple(row[1] for row in rows),
        pending=tuple(m.name for m in migrations if m.version not in applied_versions),
        changed=tuple(
            row[1] for row in rows if row[0] in by_version and by_version[row[0]].checksum != row[2]
        ),
        unknown=tuple(row[1] for row in rows if row[0] not in by_version),
        timescaledb_version=version,
        license=license,
        aggregate_kind=aggregate_kind_or_none(conn),
        timezone=recorded_timezone(conn),
        applied_at={row[1]: row[3] for row in rows},
    )
