"""The manifest next to a backup archive: what the archive holds, for restore to check against.

    take_manifest(conn) -> Manifest           counts, sums and structure as `conn`'s snapshot sees them
    manifest_path(archive) -> FILE.manifest.json
    read_manifest(archive) -> Manifest | None (None: no manifest next to the archive)
    file_digest(path) -> (SHA-256 hex, bytes)
    table_lines(tables) -> ["  prices      315,360 rows  2025-01-01 00:00 … 2025-12-31 23:55 UTC", …]

Manifest (JSON; MANIFEST_FORMAT)
    the archive's name, size and SHA-256; the server, pg_dump and TimescaleDB versions; the license and
    aggregate kind; per table of the public schema: rows, sums of kwh / cost / per_kwh / spot_per_kwh
    where the table has them (exact numerics, as strings), first and last interval_start; the
    hypertables; per aggregate: rows and sums. `restore` checks the archive against the SHA-256 and the
    restored database against everything else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from loader.aggregates import AGGREGATES, aggregate_kind_or_none
from loader.migrate import timescaledb_extension
from maintenance.postgres import BackupError, server_version
from runtime.database import one_row, scalar

__all__ = [
    "MANIFEST_FORMAT",
    "Manifest",
    "file_digest",
    "manifest_path",
    "read_manifest",
    "table_lines",
    "take_manifest",
]

MANIFEST_FORMAT = "amber-home-backup/1"
# Numeric columns summed in the manifest wherever a table or aggregate has them.
TABLE_SUM_COLUMNS = ("kwh", "cost", "per_kwh", "spot_per_kwh")
AGGREGATE_SUM_COLUMNS = ("intervals", "kwh", "cost", "kwh_imported", "kwh_exported", "avg_per_kwh")
SHOWN_TABLES = ("prices", "usage", "forecasts")


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


def file_digest(path: Path) -> tuple[str, int]:
    """(SHA-256 hex, size in bytes) of the file at `path`, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def table_lines(tables: Mapping[str, Mapping], names: Sequence[str] = SHOWN_TABLES) -> list[str]:
    """'  prices      315,360 rows  2025-01-01 … 2025-12-31' for each of `names` present."""
    lines = []
    for name in names:
        info = tables.get(name)
        if info is None:
            continue
        span = ""
        if info.get("first"):
            span = f"  {info['first'][:16].replace('T', ' ')} … {info['last'][:16].replace('T', ' ')} UTC"
        lines.append(f"  {name:<10} {info['rows']:>11,} rows{span}")
    return lines


# --- taking one -------------------------------------------------------------------------------------------


def take_manifest(conn: psycopg.Connection) -> Manifest:
    """Counts, sums and structure of the database as `conn` sees it (the caller picks the snapshot)."""
    kind = aggregate_kind_or_none(conn)
    tables = {name: _measure(conn, name, TABLE_SUM_COLUMNS) for name in _public_tables(conn)}
    aggregates = (
        {a.name: _measure(conn, a.name, AGGREGATE_SUM_COLUMNS) for a in AGGREGATES} if kind is not None else {}
    )
    version, license = timescaledb_extension(conn)
    return Manifest(
        tables=tables,
        hypertables=_hypertables(conn),
        aggregates=aggregates,
        server_version=server_version(conn)[1],
        timescaledb_version=version,
        license=license,
        aggregate_kind=kind,
        database=conn.info.dbname,
    )


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
    select: list[sql.Composable] = [sql.SQL("count(*)")]
    select += [sql.SQL("sum({})").format(sql.Identifier(c)) for c in summed]
    if ranged:
        select += [sql.SQL("min(interval_start)"), sql.SQL("max(interval_start)")]
    row = one_row(
        conn, sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(select), sql.Identifier("public", relation))
    )
    out: dict[str, Any] = {"rows": int(row[0]), "sums": {c: _numeric(v) for c, v in zip(summed, row[1:], strict=False)}}
    if ranged:
        first, last = row[1 + len(summed):]
        # UTC, so two servers (or sessions) with other TimeZone settings describe the same rows alike.
        out["first"] = first.astimezone(dt.UTC).isoformat() if first else None
        out["last"] = last.astimezone(dt.UTC).isoformat() if last else None
    return out


def _hypertables(conn: psycopg.Connection) -> list[str]:
    if scalar(conn, "SELECT to_regclass('timescaledb_information.hypertables')") is None:
        return []
    rows = conn.execute(
        "SELECT hypertable_name FROM timescaledb_information.hypertables WHERE hypertable_schema = 'public'"
        " ORDER BY 1"
    ).fetchall()
    return [row[0] for row in rows]
