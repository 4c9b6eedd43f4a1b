"""The README's examples work: its psql queries run as amber_reader, and every command it shows exists."""

import re
from pathlib import Path

import psycopg
import pytest

from amber_home.cli import SUBCOMMANDS
from loader.migrate import migrate

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def sql_examples() -> list[str]:
    blocks = re.findall(r"```sql\n(.*?)```", README, re.DOTALL)
    statements = [s.strip() for block in blocks for s in block.split(";")]
    return [s for s in statements if s and not all(line.startswith("--") for line in s.splitlines())]


def test_readme_has_sql_examples():
    assert len(sql_examples()) >= 4


def test_readme_sql_examples_run_as_the_reader(apache_db):
    migrate(apache_db, timezone="Australia/Sydney", reader_password="readme-pw")
    reader = psycopg.conninfo.make_conninfo(apache_db, user="amber_reader", password="readme-pw")
    with psycopg.connect(reader) as conn:
        conn.execute("SET TIME ZONE 'Australia/Sydney'")
        for statement in sql_examples():
            try:
                conn.execute(statement).fetchall()
            except psycopg.Error as exc:
                pytest.fail(f"README example fails: {exc}\n{statement}")


def test_every_amber_home_command_in_the_readme_exists():
    used = set(re.findall(r"^\s*(?:\S+ )*?amber-home (\w+)", README, re.MULTILINE))
    assert {"migrate", "backfill", "collect", "export", "query"} <= used
    unknown = sorted(used - set(SUBCOMMANDS))
    assert not unknown, f"README shows commands the CLI lacks: {unknown}"
