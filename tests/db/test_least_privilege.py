"""sql/011_least_privilege.sql, tried as an attacker would: amber_reader (Grafana, `query`, psql) reads the
data and nothing else, by privilege and whatever its session settings; amber_writer (the loader) writes
and refreshes the aggregates without being a superuser; a session holding migrate's lock cannot hang
migrate. The roles are cluster-wide, so these tests tolerate them existing already."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors
from psycopg.conninfo import make_conninfo

from loader.aggregates import refresh_aggregates
from loader.migrate import MIGRATION_LOCK_KEY, MigrationError, migrate
from tests.db.test_reader_role import seed_one_of_each

TZ = "Australia/Sydney"

# Every route to a write, a file, a shell or server state that the reader's privileges must refuse,
# with default_transaction_read_only switched off first (any session can do that).
REFUSED_TO_READER = [
    "SELECT lo_create(0)",
    "SELECT lo_from_bytea(0, 'twenty-one megabytes')",
    "SELECT lo_import('/etc/passwd')",
    "CREATE TEMP TABLE mine (id int)",
    "CREATE TEMP VIEW mine AS SELECT 1",
    "CREATE FUNCTION public.mine() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "CREATE FUNCTION pg_temp.mine() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "SELECT pg_read_file('/etc/passwd')",
    "COPY prices TO '/tmp/amber-reader-was-here'",
    "COPY (SELECT 1) TO PROGRAM 'id'",
    f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})",
    f"SELECT pg_try_advisory_lock({MIGRATION_LOCK_KEY})",
    f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})",
    "SET temp_file_limit = -1",
    "ALTER ROLE amber_reader SET temp_file_limit = -1",
    "ALTER ROLE amber_reader CONNECTION LIMIT -1",
    "REINDEX TABLE prices",
    "CREATE EXTENSION IF NOT EXISTS dblink",
    "LOCK TABLE prices IN ACCESS EXCLUSIVE MODE",
    "SELECT amber_prune_forecasts()",
    # TimescaleDB's launcher and schedulers (the reader cannot even see their backend_type)
    ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usesysid <> (SELECT oid FROM pg_roles"
     " WHERE rolname = current_user)"),
    "SET ROLE amber_writer",
    "INSERT INTO sites (site_id, nmi, raw) VALUES ('x', '1', '{}')",
    "CREATE SCHEMA mine",
]


@pytest.fixture
def roles_db(apache_db):
    """(superuser URL, reader URL, writer URL) of a migrated database with a day of rows."""
    migrate(apache_db, timezone=TZ, writer_password="w-secret", reader_password="r-secret")
    with psycopg.connect(apache_db, autocommit=True) as admin:
        seed_one_of_each(admin)
    # The test cluster trusts loopback (see scripts/timescaledb); LOGIN is what migrate granted.
    return apache_db, make_conninfo(apache_db, user="amber_reader"), make_conninfo(apache_db, user="amber_writer")


def test_reader_cannot_write_hold_locks_or_reach_files_by_any_route(roles_db):
    _, reader_url, _ = roles_db
    with psycopg.connect(reader_url, autocommit=True) as reader:
        reader.execute("SELECT set_config('default_transaction_read_only', 'off', false)")
        assert reader.execute("SELECT count(*) FROM usage").fetchone()[0] == 289
        for statement in REFUSED_TO_READER:
            with pytest.raises(errors.InsufficientPrivilege), reader.transaction():
                reader.execute(statement)
        schemas = reader.execute(
            "SELECT nspname FROM pg_namespace WHERE has_schema_privilege('amber_reader', oid, 'CREATE')"
        ).fetchall()
        assert schemas == []
        assert reader.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()[0] == 0
        limits = {row[0]: row[1] for row in reader.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN"
            " ('statement_timeout', 'idle_in_transaction_session_timeout', 'temp_file_limit', 'lock_timeout')")}
        assert limits == {"statement_timeout": "60000", "idle_in_transaction_session_timeout": "60000",
                          "temp_file_limit": str(256 * 1024), "lock_timeout": "10000"}
        assert reader.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user").fetchone()[0] == 20


def test_reader_reads_job_health_views(roles_db):
    _, reader_url, _ = roles_db
    with psycopg.connect(reader_url) as reader:
        for view in ("jobs", "job_stats", "job_errors"):
            reader.execute(f"SELECT count(*) FROM timescaledb_information.{view}").fetchall()


def test_writer_writes_and_refreshes_without_being_a_superuser(roles_db):
    admin_url, _, writer_url = roles_db
    with psycopg.connect(writer_url, autocommit=True) as writer:
        assert writer.execute("SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles"
                              " WHERE rolname = current_user").fetchone() == (False, False, False)
        writer.execute("DELETE FROM usage WHERE interval_start >= '2025-04-05 12:00Z'")
        assert refresh_aggregates(writer)
        assert writer.execute("SELECT sum(intervals) FROM usage_hourly").fetchone()[0] == 144
        writer.execute("CREATE TEMP TABLE staging (id int)")  # the loader's COPY staging tables
        for statement in ("CREATE TABLE public.mine (id int)", "SELECT pg_read_file('/etc/passwd')",
                          "COPY (SELECT 1) TO PROGRAM 'id'", "SELECT lo_create(0)"):
            with pytest.raises(errors.InsufficientPrivilege), writer.transaction():
                writer.execute(statement)
    # Up to date: nothing to do and no privilege needed (the loader migrates at start as amber_writer).
    assert migrate(writer_url, timezone=TZ, reader_password="ignored") == []
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute("DELETE FROM schema_migrations WHERE version = 11")
    with pytest.raises(MigrationError, match=r"1 migration.s. pending and amber_writer is not a superuser: run"):
        migrate(writer_url, timezone=TZ)


def test_a_session_holding_the_migration_lock_makes_migrate_fail_fast_naming_it(roles_db):
    admin_url, _, _ = roles_db
    with psycopg.connect(admin_url, autocommit=True, application_name="a stuck psql") as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        with pytest.raises(MigrationError) as caught:
            migrate(admin_url, timezone=TZ, lock_wait_s=0.5)
    message = str(caught.value)
    assert message.startswith("waited 0.5 s for migrate's lock, held by pid ") and "a stuck psql" in message
    assert "\n" not in message


def test_tsl_writer_refreshes_continuous_aggregates_and_the_reader_sees_its_job_errors(tsl_db):
    # PGlite ignores the login user: the roles are taken with SET ROLE on the one connection.
    with psycopg.connect(tsl_db, autocommit=True) as conn:
        migrate(conn, timezone=TZ, writer_password="w", reader_password="r")
        seed_one_of_each(conn)
        owners = conn.execute(
            "SELECT DISTINCT pg_get_userbyid(c.relowner) FROM _timescaledb_catalog.continuous_agg a"
            " JOIN _timescaledb_catalog.hypertable h ON h.id = a.mat_hypertable_id"
            " JOIN pg_class c ON c.oid = format('%I.%I', h.schema_name, h.table_name)::regclass"
        ).fetchall()
        assert owners == [("amber_writer",)]
        job = conn.execute(
            "SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'policy_refresh_continuous_aggregate'"
            " LIMIT 1"
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO _timescaledb_internal.bgw_job_stat_history (job_id, pid, execution_start, execution_finish,"
            " succeeded, data) VALUES (%s, 1, now(), now(), false, '{\"error_data\": {\"message\": \"boom\"}}')",
            (job,),
        )
        conn.execute("SET ROLE amber_writer")
        conn.execute("CALL refresh_continuous_aggregate('usage_hourly', NULL, NULL)")
        assert conn.execute("SELECT sum(intervals) FROM usage_hourly").fetchone()[0] == 289
        conn.execute("RESET ROLE")
        conn.execute("SET ROLE amber_reader")
        try:
            jobs = conn.execute("SELECT count(*) FROM timescaledb_information.jobs WHERE job_id = %s", (job,))
            assert jobs.fetchone()[0] == 1
            conn.execute("SELECT count(*) FROM timescaledb_information.job_stats").fetchall()
            # (PGlite's template1 keeps PUBLIC's TEMP: the database-level grants are tested on the Apache tier.)
            seen = conn.execute("SELECT job_id FROM timescaledb_information.job_errors").fetchall()
            assert seen == [(job,)]
            for statement in ("CALL refresh_continuous_aggregate('usage_hourly', NULL, NULL)", "SELECT lo_create(0)"):
                with pytest.raises(errors.InsufficientPrivilege):
                    conn.execute(statement)
        finally:
            conn.execute("RESET ROLE")


def test_objects_of_later_migrations_go_to_the_writer_and_definer_functions_stay_callable(apache_db, tmp_path):
    """011 runs again after every migrate that applies a later file: a later table is the writer's and
    readable; a later SECURITY DEFINER function (a read-only window such as amber_job_health()) keeps its
    owner and stays callable by the reader."""
    import shutil

    from loader.migrate import SQL_DIR

    for path in SQL_DIR.glob("*.sql"):
        shutil.copy(path, tmp_path)
    migrate(apache_db, timezone=TZ, reader_password="r", sql_dir=tmp_path)
    (tmp_path / "099_later.sql").write_text(
        "-- A later migration: a table, and a definer function reading what only a superuser may.\n"
        "CREATE TABLE IF NOT EXISTS later_table (id int);\n"
        "CREATE OR REPLACE FUNCTION later_roles() RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER\n"
        "SET search_path = pg_catalog, pg_temp AS 'SELECT count(*) FROM pg_authid';\n"
    )
    assert migrate(apache_db, timezone=TZ, sql_dir=tmp_path) == ["099_later"]
    with psycopg.connect(apache_db, autocommit=True) as admin:
        owners = dict(admin.execute(
            "SELECT 'later_table', tableowner::text FROM pg_tables WHERE tablename = 'later_table'"
            " UNION ALL SELECT 'later_roles', pg_get_userbyid(proowner)::text FROM pg_proc WHERE proname = 'later_roles'"
        ).fetchall())
        superuser = admin.execute("SELECT current_user").fetchone()[0]
    assert owners == {"later_table": "amber_writer", "later_roles": superuser}
    with psycopg.connect(make_conninfo(apache_db, user="amber_reader")) as reader:
        assert reader.execute("SELECT count(*) FROM later_table").fetchone()[0] == 0
        assert reader.execute("SELECT later_roles()").fetchone()[0] > 0
        with pytest.raises(errors.InsufficientPrivilege):
            reader.execute("SELECT count(*) FROM pg_authid")
