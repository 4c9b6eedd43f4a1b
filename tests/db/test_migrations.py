"""sql/ migrations and loader/migrate.py: idempotent on both tiers, the right object kinds per license,
forward-only checksums, no-transaction files, the advisory lock, the template syntax, doctor's status."""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path

import psycopg
import pytest

from loader.migrate import (
    SQL_DIR,
    MigrationError,
    expand,
    load_migrations,
    migrate,
    migration_status,
    split_statements,
    update_extension,
)

TZ = "Australia/Sydney"
ALL = [m.name for m in load_migrations()]
TABLES = ["schema_migrations", "amber_settings", "sites", "channels", "prices", "usage", "forecasts", "backfill_progress"]
HYPERTABLES = {"prices", "usage", "forecasts"}
AGGREGATES = {"price_hourly", "usage_hourly", "cost_daily", "cost_monthly"}
VIEWS = {"forecast_latest", "forecast_accuracy"}


def relkinds(conn) -> dict[str, str]:
    return dict(
        conn.execute(
            "SELECT relname, relkind::text FROM pg_class WHERE relnamespace = 'public'::regnamespace"
            " AND relkind IN ('r', 'v', 'm')"
        ).fetchall()
    )


def assert_every_column_commented(conn, relations) -> None:
    missing = conn.execute(
        """
        SELECT c.relname || '.' || a.attname
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        WHERE c.relname = ANY(%s) AND c.relnamespace = 'public'::regnamespace
          AND a.attnum > 0 AND NOT a.attisdropped AND col_description(c.oid, a.attnum) IS NULL
        ORDER BY 1
        """,
        (list(relations),),
    ).fetchall()
    assert missing == []
    uncommented = conn.execute(
        "SELECT relname FROM pg_class WHERE relname = ANY(%s) AND relnamespace = 'public'::regnamespace"
        " AND obj_description(oid, 'pg_class') IS NULL",
        (list(relations),),
    ).fetchall()
    assert uncommented == []


def assert_common_schema(conn) -> None:
    kinds = relkinds(conn)
    for table in TABLES:
        assert kinds.get(table) == "r", table
    for view in VIEWS:
        assert kinds.get(view) == "v", view
    hypertables = {
        row[0] for row in conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables").fetchall()
    }
    assert hypertables == HYPERTABLES
    assert conn.execute("SELECT value FROM amber_settings WHERE key = 'timezone'").fetchone()[0] == TZ
    applied = conn.execute("SELECT name, checksum FROM schema_migrations ORDER BY version").fetchall()
    assert applied == [(m.name, m.checksum) for m in load_migrations()]
    assert_every_column_commented(conn, TABLES + sorted(VIEWS) + sorted(AGGREGATES))


def test_apache_migrate_twice_creates_materialized_views(apache_db):
    assert migrate(apache_db, timezone=TZ) == ALL
    assert migrate(apache_db, timezone=TZ) == []
    with psycopg.connect(apache_db, autocommit=True) as conn:
        assert_common_schema(conn)
        kinds = relkinds(conn)
        assert {name: kinds.get(name) for name in AGGREGATES} == {name: "m" for name in AGGREGATES}
        # CONCURRENTLY needs a unique index on each view, and the views must already be populated.
        indexed = conn.execute(
            "SELECT DISTINCT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid"
            " WHERE i.indisunique AND c.relkind = 'm'"
        ).fetchall()
        assert {row[0] for row in indexed} == AGGREGATES
        for name in sorted(AGGREGATES):
            conn.execute(f"REFRESH MATERIALIZED VIEW CONCURRENTLY {name}")
        # Policies are a TSL feature; the Apache build must not have tried.
        assert conn.execute("SELECT count(*) FROM timescaledb_information.jobs WHERE job_id >= 1000").fetchone()[0] == 0
        status = migration_status(conn)
    assert (status.license, status.aggregate_kind, status.pending, status.timezone) == ("apache", "materialized view", (), TZ)
    assert status.applied == tuple(ALL)
    assert status.problems(timezone=TZ) == []


def test_tsl_migrate_twice_creates_continuous_aggregates_and_policies(tsl_db):
    # PGlite serves one connection at a time: everything goes through this one.
    with psycopg.connect(tsl_db, autocommit=True) as conn:
        assert migrate(conn, timezone=TZ) == ALL
        assert migrate(conn, timezone=TZ) == []
        assert_common_schema(conn)
        caggs = dict(
            conn.execute(
                "SELECT view_name, materialized_only FROM timescaledb_information.continuous_aggregates"
            ).fetchall()
        )
        assert caggs == {name: False for name in AGGREGATES}  # real-time
        parent = conn.execute(
            """
            SELECT parent.user_view_name
            FROM _timescaledb_catalog.continuous_agg child
            JOIN _timescaledb_catalog.continuous_agg parent ON parent.mat_hypertable_id = child.parent_mat_hypertable_id
            WHERE child.user_view_name = 'cost_monthly'
            """
        ).fetchone()
        assert parent == ("cost_daily",)  # hierarchical
        # amber_job_health() names a refresh policy's aggregate whatever the version (jobs.hypertable_name
        # is the materialization hypertable before 2.20 and the aggregate from 2.20 on).
        jobs = conn.execute("SELECT policy, relation FROM amber_job_health() WHERE job_id >= 1000").fetchall()
        assert {name for policy, name in jobs if policy == "refresh"} == AGGREGATES
        assert sorted(job for job in jobs if job[0] != "refresh") == [
            ("compression", "prices"),
            ("compression", "usage"),
            ("retention", "forecasts"),
        ]
        compressed = conn.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables WHERE compression_enabled ORDER BY 1"
        ).fetchall()
        assert compressed == [("prices",), ("usage",)]
        status = migration_status(conn)
        assert (status.license, status.aggregate_kind, status.pending) == ("timescale", "continuous", ())
        assert status.problems(timezone=TZ) == []


def copy_sql(tmp_path: Path) -> Path:
    target = tmp_path / "sql"
    shutil.copytree(SQL_DIR, target)
    return target


def test_changed_checksum_of_an_applied_file_is_an_error(apache_db, tmp_path):
    sql_dir = copy_sql(tmp_path)
    migrate(apache_db, timezone=TZ, sql_dir=sql_dir)
    with (sql_dir / "003_prices.sql").open("a") as f:
        f.write("\nCREATE INDEX IF NOT EXISTS prices_descriptor ON prices (descriptor);\n")
    with pytest.raises(MigrationError) as info:
        migrate(apache_db, timezone=TZ, sql_dir=sql_dir)
    message = str(info.value)
    assert "003_prices.sql" in message and "forward-only" in message and "\n" not in message
    with psycopg.connect(apache_db) as conn:
        status = migration_status(conn, sql_dir=sql_dir)
        assert status.changed == ("003_prices",)
        assert any("003_prices" in problem for problem in status.problems())
        # Nothing of the edit ran.
        assert conn.execute("SELECT to_regclass('prices_descriptor')").fetchone()[0] is None


def test_new_file_applies_and_failed_file_rolls_back(apache_db, tmp_path):
    sql_dir = copy_sql(tmp_path)
    migrate(apache_db, timezone=TZ, sql_dir=sql_dir)
    (sql_dir / "900_broken.sql").write_text(
        "-- Test: the first statement works, the second fails; neither may stay.\n"
        "CREATE TABLE half_done (id int);\n"
        "SELECT no_such_column FROM prices;\n"
    )
    with pytest.raises(MigrationError, match=r"900_broken\.sql:3: column \"no_such_column\" does not exist"):
        migrate(apache_db, timezone=TZ, sql_dir=sql_dir)
    with psycopg.connect(apache_db) as conn:
        assert conn.execute("SELECT to_regclass('half_done')").fetchone()[0] is None
        assert migration_status(conn, sql_dir=sql_dir).pending == ("900_broken",)
    (sql_dir / "900_broken.sql").write_text("-- Test: fixed.\nCREATE TABLE half_done (id int);\n")
    assert migrate(apache_db, timezone=TZ, sql_dir=sql_dir) == ["900_broken"]


def test_no_transaction_directive_runs_statements_outside_a_transaction(apache_db, tmp_path):
    sql_dir = copy_sql(tmp_path)
    body = "CREATE INDEX CONCURRENTLY IF NOT EXISTS usage_quality ON sites (status);\n"
    (sql_dir / "901_concurrent_index.sql").write_text("-- Test: an index built without locking writers.\n" + body)
    with pytest.raises(MigrationError, match="cannot run inside a transaction block"):
        migrate(apache_db, timezone=TZ, sql_dir=sql_dir)
    (sql_dir / "901_concurrent_index.sql").write_text(
        "-- Test: an index built without locking writers.\n-- migrate: no-transaction\n" + body
    )
    assert migrate(apache_db, timezone=TZ, sql_dir=sql_dir) == ["901_concurrent_index"]
    with psycopg.connect(apache_db) as conn:
        assert conn.execute("SELECT to_regclass('usage_quality')").fetchone()[0] is not None


def test_concurrent_migrators_take_turns(apache_db):
    results: list[list[str]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def run() -> None:
        start.wait()
        try:
            results.append(migrate(apache_db, timezone=TZ))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sorted(results, key=len) == [[], [], [], ALL]


def test_migration_status_of_a_fresh_database_and_bad_time_zones(apache_db):
    with psycopg.connect(apache_db, autocommit=True) as conn:
        status = migration_status(conn)
        assert (status.applied, status.pending, status.aggregate_kind, status.timezone) == ((), tuple(ALL), None, None)
        assert status.timescaledb_version is None
        for bad in ("Mars/Olympus_Mons", "AEST"):
            with pytest.raises(MigrationError, match="time zone"):
                migrate(conn, timezone=bad)
        assert conn.execute("SELECT to_regclass('schema_migrations')").fetchone()[0] is None
        migrate(conn, timezone=TZ)
        problems = migration_status(conn).problems(timezone="Australia/Perth")
        assert len(problems) == 1 and "Australia/Sydney" in problems[0] and "Australia/Perth" in problems[0]


def test_every_sql_file_opens_with_a_comment_saying_what_it_does():
    for migration in load_migrations():
        first = migration.text.splitlines()[0]
        assert first.startswith("-- ") and len(first) > 20, migration.path.name


# --- template syntax and statement splitting (no database) ---------------------------------------

TEMPLATE = """-- Test file.
CREATE MATERIALIZED VIEW v {{aggregate_with}} AS SELECT time_bucket('1 day', ts, {{timezone}}) FROM t {{aggregate_data}};
-- @if timescale
SELECT add_continuous_aggregate_policy('v');
-- @else
CREATE UNIQUE INDEX ON v (x);
-- @end
COMMENT ON {{aggregate_kind}} v IS 'it''s; here';
"""


def test_expand_selects_sections_and_fills_placeholders_by_license():
    tsl = expand(TEMPLATE, license="timescale", timezone="Australia/Adelaide")
    assert "WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS" in tsl
    assert "'Australia/Adelaide'" in tsl and "WITH NO DATA;" in tsl
    assert "add_continuous_aggregate_policy" in tsl and "UNIQUE INDEX" not in tsl
    assert "COMMENT ON VIEW v" in tsl
    apache = expand(TEMPLATE, license="apache", timezone="Australia/Sydney")
    assert "v  AS" in apache and "WITH DATA;" in apache and "NO DATA" not in apache
    assert "add_continuous_aggregate_policy" not in apache and "UNIQUE INDEX" in apache
    assert "COMMENT ON MATERIALIZED VIEW v" in apache
    # Dropped lines stay as blank lines: line numbers in errors match the file.
    assert len(tsl.splitlines()) == len(apache.splitlines()) == len(TEMPLATE.splitlines())
    assert "INTERVAL '30 minutes'" in expand("{{hour_offset}}", license="apache", timezone="Australia/Adelaide")
    assert "INTERVAL '0 minutes'" in expand("{{hour_offset}}", license="apache", timezone="Australia/Sydney")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("SELECT {{nope}};", "unknown placeholder"),
        ("-- @if timescale\nSELECT 1;\n", "without @end"),
        ("-- @end\n", "without @if"),
        ("-- @if timescale\n-- @if apache\n-- @end\n", "nested"),
        ("-- @if enterprise\n-- @end\n", "@if takes one of"),
    ],
)
def test_expand_rejects_bad_templates(text, error):
    with pytest.raises(MigrationError, match=error):
        expand(text, license="apache", timezone=TZ)


def test_split_statements_respects_quotes_comments_and_dollar_bodies():
    text = (
        "-- header; with a semicolon\n"
        "CREATE TABLE a (x text DEFAULT 'a;b''c');\n"
        "DO $$ BEGIN PERFORM 1; END $$;\n"
        'COMMENT ON TABLE "we;ird" IS $tag$ x; $$ y $tag$; /* ; */\n'
        "-- trailing comment only\n"
    )
    statements = split_statements(text)
    assert [line for line, _ in statements] == [2, 3, 4]
    assert statements[0][1] == "CREATE TABLE a (x text DEFAULT 'a;b''c')"
    assert statements[1][1] == "DO $$ BEGIN PERFORM 1; END $$"
    assert statements[2][1] == 'COMMENT ON TABLE "we;ird" IS $tag$ x; $$ y $tag$'


def test_new_sessions_run_without_jit(apache_db):
    """JIT compiles thousands of expressions for queries over many chunks (30 s instead of 0.4 s)."""
    migrate(apache_db, timezone="Australia/Sydney")
    with psycopg.connect(apache_db) as conn:
        assert conn.execute("SHOW jit").fetchone()[0] == "off"


def older_release(conn) -> str:
    """The newest release with a direct update script to the installed version."""
    return conn.execute(
        "SELECT source FROM pg_extension_update_paths('timescaledb')"
        " WHERE target = (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb')"
        " AND path = source || '--' || target AND source ~ '^[0-9.]+$'"
        " ORDER BY string_to_array(source, '.')::int[] DESC LIMIT 1"
    ).fetchone()[0]


def test_an_older_extension_is_updated_by_migrate_in_a_fresh_session(apache_db, caplog):
    """As after an image bump: the database's extension is older than the server's library (simulated
    by recording the previous release in the catalog; only the new library exists, as in many images)."""
    assert update_extension(apache_db) is None  # not installed yet: nothing to update
    migrate(apache_db, timezone="Australia/Sydney")
    with psycopg.connect(apache_db, autocommit=True) as conn:
        current = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()[0]
        previous = older_release(conn)
        conn.execute("INSERT INTO prices (site_id, channel_type, interval_start, interval_end, nem_time, nem_date,"
                     " duration_minutes, per_kwh, spot_per_kwh, renewables, descriptor, spike_status, interval_type,"
                     " raw) VALUES ('s', 'general', '2025-01-01 00:00Z', '2025-01-01 00:05Z', '2025-01-01 00:05Z',"
                     " '2025-01-01', 5, 20, 5, 40, 'low', 'none', 'ActualInterval', '{}')")
        conn.execute("UPDATE _timescaledb_catalog.metadata SET value = %s WHERE key = 'timescaledb_version'", (previous,))
        conn.execute("UPDATE pg_extension SET extversion = %s WHERE extname = 'timescaledb'", (previous,))
    with psycopg.connect(apache_db, autocommit=True) as conn, pytest.raises(psycopg.errors.UndefinedFile):
        conn.execute("SELECT count(*) FROM prices")  # the old library is not there: any other first statement fails
    caplog.set_level(logging.INFO, logger="loader.migrate")
    assert migrate(apache_db, timezone="Australia/Sydney") == []
    assert f"updated the TimescaleDB extension to {current}" in caplog.text
    with psycopg.connect(apache_db, autocommit=True) as conn:
        assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()[0] == current
        assert conn.execute("SELECT count(*) FROM prices").fetchone()[0] == 1
    caplog.clear()
    assert update_extension(apache_db) is None  # current now: a notice, nothing else
    assert "updated the TimescaleDB extension" not in caplog.text


def test_a_non_superuser_never_tries_the_extension_update(apache_db):
    """Services migrate at start-up as amber_writer: they must not send the ALTER at all (the server would
    log an ERROR for every start); is_superuser comes with the connection, so no statement is needed."""
    migrate(apache_db, timezone="Australia/Sydney", writer_password="writer-pw")
    writer_url = apache_db.replace("postgres@", "amber_writer:writer-pw@")
    with psycopg.connect(apache_db, autocommit=True) as conn:
        previous = older_release(conn)
        conn.execute("UPDATE _timescaledb_catalog.metadata SET value = %s WHERE key = 'timescaledb_version'", (previous,))
        conn.execute("UPDATE pg_extension SET extversion = %s WHERE extname = 'timescaledb'", (previous,))
    # An ALTER sent as amber_writer would be refused (not the extension's owner) and raise here.
    assert update_extension(writer_url) is None
    assert update_extension(apache_db) is not None  # the superuser's migrate does it
