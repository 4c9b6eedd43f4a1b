"""Render query results as a table, CSV or JSON. Pure: no database; writes only to the stream it is given.

    render(tables, "table" | "csv" | "json", out, tty=out.isatty(), zone=ZoneInfo(...))

A `Table` holds the database's values in the database's units (cents, kWh, c/kWh, percent) and each
`Column` says which unit its values are in (`kind`). Units change only in the human table:

| kind      | table (for people)                  | csv / json (for programs)                          |
| --------- | ----------------------------------- | -------------------------------------------------- |
| money     | dollars with cents: $12.34, -$0.50  | exact cents as stored (key ends in `_cents`)       |
| kwh       | 3 decimals                          | exact                                              |
| price     | c/kWh, 2 decimals                   | exact (averages carry numeric's ~16-20 digits)     |
| percent   | 1 decimal                           | exact                                              |
| timestamp | local time, minutes and zone        | ISO 8601 with the local UTC offset                 |
| age       | 3 h 20 min                          | whole seconds (key ends in `_seconds`)             |
| hour      | 07:00                               | hour of day, 0-23                                  |

Exact decimals are written as JSON *numbers* with every digit (never through float), so the JSON is
valid and lossless: read it with `json.loads(text, parse_float=decimal.Decimal)` to keep the cents
exact (a plain `json.loads` or jq gives doubles). NaN and infinities, which JSON lacks, become null.
One table is a JSON array of objects; several (summary) are an object of arrays keyed by table name.
CSV puts several tables one after another, separated by an empty line, each with its header.

The table format uses rich on a terminal and a plain, space-aligned table otherwise (pipes and files
get no ANSI codes and no box-drawing characters, so grep/awk/cut work on it).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TextIO
from zoneinfo import ZoneInfo

__all__ = ["FORMATS", "Column", "Table", "cell_text", "render", "render_csv", "render_json", "render_plain"]

FORMATS = ("table", "csv", "json")
NUMERIC_KINDS = frozenset({"int", "money", "kwh", "price", "percent", "age", "hour"})
_PLACES = {"kwh": Decimal("0.001"), "price": Decimal("0.01"), "percent": Decimal("0.1")}
MISSING = "–"  # an en dash marks a missing value in the human table


@dataclass(frozen=True)
class Column:
    key: str  # csv header and json key, naming the unit where it is not obvious: net_cents, kwh_in
    label: str  # table header: "Net", "kWh in"
    kind: str = "auto"  # see the module docstring; "auto" formats by the value's Python type
    in_table: bool = True  # False: left out of the human table (e.g. the site id when there is one site)


@dataclass(frozen=True)
class Table:
    name: str  # json key when several tables are printed together
    title: str  # shown above the human table
    columns: tuple[Column, ...]
    rows: Iterable[tuple[Any, ...]]  # a tuple; or (query sql) an iterator, read once: csv and json stream it
    footer: tuple[Any, ...] | None = None  # totals row, human table only
    note: str | None = None  # one line under the human table
    status: str | None = None  # a statement without a result set (SET, …): its command tag


def render(tables: Sequence[Table], fmt: str, out: TextIO, *, tty: bool, zone: ZoneInfo) -> None:
    if fmt == "csv":
        render_csv(tables, out, zone=zone)
    elif fmt == "json":
        render_json(tables, out, zone=zone)
    elif fmt == "table":
        if tty:
            render_rich(tables, out, zone=zone)
        else:
            render_plain(tables, out, zone=zone)
    else:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


# --- the human table -----------------------------------------------------------------------------


def dollars(cents: Decimal | int | float) -> str:
    """$12.34 for 1234 cents; -$0.50 for a credit. Half a cent rounds away from zero."""
    value = (Decimal(cents) / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if value == 0:
        value = Decimal("0.00")  # no "-$0.00"
    return f"-${-value:,.2f}" if value < 0 else f"${value:,.2f}"


def age_text(age: dt.timedelta) -> str:
    """3 h 20 min, 2 d 4 h, 45 s; negative ages (clocks apart) count as 0."""
    seconds = max(0, int(age.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def cell_text(value: Any, kind: str, zone: ZoneInfo) -> str:
    """One value as the human table shows it."""
    if value is None:
        return MISSING
    if kind == "money":
        return dollars(value)
    if kind in _PLACES and isinstance(value, (Decimal, int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        if isinstance(value, Decimal) and not value.is_finite():
            return str(value)
        return f"{Decimal(value).quantize(_PLACES[kind], rounding=ROUND_HALF_UP):,}"
    if kind == "age" and isinstance(value, dt.timedelta):
        return age_text(value)
    if kind == "hour":
        return f"{int(value):02d}:00"
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(zone)
            if kind == "timestamp":
                return value.strftime("%Y-%m-%d %H:%M %Z")
        return value.isoformat(sep=" ")  # a user's query: every digit, like psql
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), default=str)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    return str(value)


def _right(column: Column, values: Sequence[Any]) -> bool:
    if column.kind in NUMERIC_KINDS:
        return True
    if column.kind == "auto":
        present = [v for v in values if v is not None]
        return bool(present) and all(isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) for v in present)
    return False


def _visible(table: Table) -> list[int]:
    return [i for i, column in enumerate(table.columns) if column.in_table]


def render_plain(tables: Sequence[Table], out: TextIO, *, zone: ZoneInfo) -> None:
    """Space-aligned columns under a dashed header line; no colour, no box drawing."""
    for number, table in enumerate(tables):
        if number:
            out.write("\n")
        if table.title:
            out.write(f"{table.title}\n")
        if table.status is not None:
            out.write(f"{table.status}\n")
            continue
        _write_plain_table(table, out, zone)
        if table.note:
            out.write(f"{table.note}\n")


def _write_plain_table(table: Table, out: TextIO, zone: ZoneInfo) -> None:
    indexes = _visible(table)
    columns = [table.columns[i] for i in indexes]
    body = [[cell_text(row[i], table.columns[i].kind, zone) for i in indexes] for row in table.rows]
    footer = (
        [cell_text(table.footer[i], table.columns[i].kind, zone) if table.footer[i] is not None else "" for i in indexes]
        if table.footer is not None
        else None
    )
    lines = body + ([footer] if footer else [])
    widths = [max([len(c.label)] + [len(line[j]) for line in lines]) for j, c in enumerate(columns)]
    right = [_right(c, [row[i] for row in table.rows]) for c, i in zip(columns, indexes, strict=True)]
    rule = "  ".join("-" * w for w in widths) + "\n"
    out.write(_plain_line([c.label for c in columns], widths, right))
    out.write(rule)
    for cells in body:
        out.write(_plain_line(cells, widths, right))
    if footer:
        out.write(rule)
        out.write(_plain_line(footer, widths, right))


def _plain_line(cells: Sequence[str], widths: Sequence[int], right: Sequence[bool]) -> str:
    parts = [cell.rjust(w) if r else cell.ljust(w) for cell, w, r in zip(cells, widths, right, strict=True)]
    return "  ".join(parts).rstrip() + "\n"


def render_rich(tables: Sequence[Table], out: TextIO, *, zone: ZoneInfo, force_terminal: bool | None = None) -> None:
    """The same tables drawn by rich for a terminal."""
    from rich import box
    from rich.console import Console
    from rich.table import Table as RichTable

    console = Console(file=out, force_terminal=force_terminal, highlight=False, soft_wrap=False)
    for number, table in enumerate(tables):
        if number:
            console.print()
        if table.status is not None:
            if table.title:
                console.print(table.title, style="bold")
            console.print(table.status)
            continue
        indexes = _visible(table)
        grid = RichTable(
            title=table.title or None,
            title_justify="left",
            title_style="bold",
            box=box.SIMPLE_HEAD,
            show_footer=table.footer is not None,
            caption=table.note,
            caption_justify="left",
        )
        for i in indexes:
            column = table.columns[i]
            footer = ""
            if table.footer is not None and table.footer[i] is not None:
                footer = cell_text(table.footer[i], column.kind, zone)
            grid.add_column(
                column.label,
                justify="right" if _right(column, [row[i] for row in table.rows]) else "left",
                footer=footer,
                overflow="fold",
            )
        for row in table.rows:
            grid.add_row(*(_rich_cell(row[i], table.columns[i].kind, zone) for i in indexes))
        console.print(grid)


def _rich_cell(value: Any, kind: str, zone: ZoneInfo):
    from rich.text import Text

    text = cell_text(value, kind, zone)
    return Text(text, style="dim") if value is None else Text(text)


# --- csv and json ---------------------------------------------------------------------------------


def _machine_value(value: Any, kind: str, zone: ZoneInfo) -> Any:
    """The value as csv and json carry it: exact numbers, ISO times, seconds for ages."""
    if value is None:
        return None
    if kind == "age" and isinstance(value, dt.timedelta):
        return int(value.total_seconds())
    if kind == "hour":
        return int(value)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(zone)
    return value


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), default=str)
    if isinstance(value, dt.timedelta):
        return str(value.total_seconds())
    return str(value)


def render_csv(tables: Sequence[Table], out: TextIO, *, zone: ZoneInfo) -> None:
    writer = csv.writer(out, lineterminator="\n")
    for number, table in enumerate(tables):
        if number:
            out.write("\n")
        if table.status is not None:
            continue
        writer.writerow([column.key for column in table.columns])
        for row in table.rows:
            writer.writerow(
                [_csv_text(_machine_value(value, c.kind, zone)) for value, c in zip(row, table.columns, strict=False)]
            )


def json_text(value: Any) -> str:
    """Compact JSON for one value; Decimals become numbers with every digit, never via float."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return json.dumps(value) if math.isfinite(value) else "null"
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return json.dumps(value.isoformat())
    if isinstance(value, dt.timedelta):
        return json_text(value.total_seconds())
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {json_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(json_text(v) for v in value) + "]"
    if isinstance(value, (bytes, memoryview)):
        return json.dumps(bytes(value).hex())
    return json.dumps(str(value))


def _write_json_records(table: Table, out: TextIO, zone: ZoneInfo) -> None:
    """The table as a JSON array of objects, written row by row (a streamed result is never held)."""
    separator = "[\n"
    for row in () if table.status is not None else table.rows:
        fields = ", ".join(
            f"{json.dumps(c.key)}: {json_text(_machine_value(value, c.kind, zone))}"
            for value, c in zip(row, table.columns, strict=False)
        )
        out.write(f"{separator}  {{{fields}}}")
        separator = ",\n"
    out.write("[]" if separator == "[\n" else "\n]")


def render_json(tables: Sequence[Table], out: TextIO, *, zone: ZoneInfo) -> None:
    if len(tables) == 1:
        _write_json_records(tables[0], out, zone)
        out.write("\n")
        return
    for number, table in enumerate(tables):
        out.write(f"{',' if number else '{'}\n{json.dumps(table.name)}: ")
        _write_json_records(table, out, zone)
    out.write("\n}\n")
