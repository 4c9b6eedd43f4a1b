"""amber_reader (Grafana, psql): SELECT on every table, view and aggregate, including continuous aggregates
and objects created later; every write, DDL and maintenance call refused. The role is cluster-wide, so
these tests tolerate it existing already."""

from __future__ import annotations

import logging

import psycopg
import pytest
from psycopg import errors
from psycopg.conninfo import make_conninfo

from loader.aggregates import refresh_aggregates
from loader.migrate import migrate

TZ = "Australia/Sydney"
READABLE = [
    "sites", "channels", "prices", "usage", "forecasts", "backfill_progress", "amber_settings", "schema_migrations",
    "forecast_latest", "forecast_accuracy", "price_hourly", "usage_hourly", "cost_daily", "cost_monthly",
]
REFUSED = [
    ("INSERT INTO prices (site_id, channel_type, interval_start, interval_end, nem_time, nem_date, duration_minutes,"
     " per_kwh, spot_per_kwh, renewables, descriptor, spike_status, interval_type, raw) VALUES ('x', 'general',"
     " now(), now() + interval '5 min', now(), current_date, 5, 1, 1, 1, 'low', 'none', 'ActualInterval', '{}')"),
    "UPDATE usage SET cost = 0",
    "DELETE FROM sites",
    "TRUNCATE backfill_progress",
    "INSERT INTO amber_settings VALUES ('timezone', 'UTC')",
    "CREATE TABLE public.mine (id int)",
    "CREATE VIEW public.mine AS SELECT 1",
    "CREATE SCHEMA mine",
    "SELECT amber_prune_forecasts()",
    "ALTER TABLE prices ADD COLUMN x int",
]


def seed_one_of_each(conn) -> None:
    conn.execute("INSERT INTO sites (site_id, nmi, raw) VALUES ('s', '6407000000', '{}')")
    conn.execute("INSERT INTO channels VALUES ('s', 'E1', 'general', 'A100')")
    conn.execute(
        """
        INSERT INTO usage (site_id, channel_identifier, channel_type, interval_start, interval_end, nem_time, nem_date,
                           duration_minutes, kwh, cost, quality, per_kwh, spot_per_kwh, renewables, descriptor,
                           spike_status, raw)
        SELECT 's', 'E1', 'general', s, s + interval '5 min', s + interval '5 min', s::date, 5, 0.1, 2.5, 'billable',
               25, 8, 40, 'low', 'none', '{}'
        FROM generate_series('2025-04-05 00:00Z'::timestamptz, '2025-04-06 00:00Z', '5 min') AS s
        """
    )
    conn.execute(
        """
        INSERT INTO prices (site_id, channel_type, interval_start, interval_end, nem_time, nem_date, duration_minutes,
                            per_kwh, spot_per_kwh, renewables, descriptor, spike_status, interval_type, raw)
        SELECT 's', 'general', s, s + interval '5 min', s + interval '5 min', s::date, 5, 25, 8, 40, 'low', 'none',
               'ActualInterval', '{}'
        FROM generate_series('2025-04-05 00:00Z'::timestamptz, '2025-04-06 00:00Z', '5 min') AS s
        """
    )


def assert_reads_but_cannot_write(conn) -> None:
    for relation in READABLE:
        conn.execute(f"SELECT * FROM {relation} LIMIT 5").fetchall()
    assert conn.execute("SELECT count(*) FROM usage").fetchone()[0] == 289
    assert conn.execute("SELECT sum(intervals) FROM usage_hourly").fetchone()[0] == 289
    assert conn.execute("SELECT sum(intervals) FROM cost_monthly").fetchone()[0] == 289
    for statement in REFUSED:
        with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
            conn.execute(statement)


def test_apache_reader_logs_in_with_password_reads_everything_writes_nothing(apache_db, caplog):
    password = "correct horse battery staple"
    with psycopg.connect(apache_db, autocommit=True) as admin:
        # Start from a role that cannot log in (it may exist from another database of this cluster).
        admin.execute(
            "DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'amber_reader')"
            " THEN ALTER ROLE amber_reader NOLOGIN PASSWORD NULL; END IF; END $$"
        )
    with caplog.at_level(logging.DEBUG):
        migrate(apache_db, timezone=TZ, reader_password=password)
    assert password not in caplog.text
    with psycopg.connect(apache_db, autocommit=True) as admin:
        can_login, verifier = admin.execute(
            "SELECT rolcanlogin, rolpassword FROM pg_authid WHERE rolname = 'amber_reader'"
        ).fetchone()
        assert can_login and verifier.startswith("SCRAM-SHA-256$") and password not in verifier
        seed_one_of_each(admin)
        refresh_aggregates(admin)
        admin.execute("CREATE TABLE added_later (id int)")  # default privileges cover future objects
        admin.execute("INSERT INTO added_later VALUES (1)")

    reader_url = make_conninfo(apache_db, user="amber_reader", password=password)
    with psycopg.connect(reader_url, autocommit=True) as reader:
        assert reader.execute("SELECT current_user").fetchone()[0] == "amber_reader"
        assert reader.execute("SELECT * FROM added_later").fetchall() == [(1,)]
        # Sessions start read-only; switch that off to prove the privileges themselves refuse writes.
        assert reader.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
        reader.execute("SET default_transaction_read_only = off")
        assert_reads_but_cannot_write(reader)
        for statement in ("REFRESH MATERIALIZED VIEW cost_daily", "DROP MATERIALIZED VIEW cost_monthly"):
            with pytest.raises(errors.InsufficientPrivilege):
                reader.execute(statement)


def test_tsl_reader_selects_continuous_aggregates(tsl_db):
    # PGlite ignores the login user, so the role is taken with SET ROLE on the one connection.
    with psycopg.connect(tsl_db, autocommit=True) as conn:
        migrate(conn, timezone=TZ, reader_password="only-the-verifier-travels")
        seed_one_of_each(conn)
        # Materialize half the day: the aggregates then read the internal materialization hypertable
        # below the watermark and the raw hypertable above it.
        conn.execute("CALL refresh_continuous_aggregate('usage_hourly', NULL, '2025-04-05 12:00Z')")
        materialized = conn.execute(
            "SELECT format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name)"
            " FROM timescaledb_information.continuous_aggregates WHERE view_name = 'usage_hourly'"
        ).fetchone()[0]
        conn.execute(
            "CREATE MATERIALIZED VIEW later_daily WITH (timescaledb.continuous) AS SELECT site_id,"
            " time_bucket('1 day', interval_start) AS day, sum(kwh) AS kwh FROM usage GROUP BY 1, 2 WITH NO DATA"
        )
        conn.execute("CALL refresh_continuous_aggregate('later_daily', NULL, NULL)")
        conn.execute("SET ROLE amber_reader")
        try:
            assert conn.execute("SELECT current_user").fetchone()[0] == "amber_reader"
            assert_reads_but_cannot_write(conn)
            assert conn.execute("SELECT count(*) FROM later_daily").fetchone()[0] == 2
            # The half-day really is materialized, and the role may read it where it lives.
            assert conn.execute(f"SELECT count(*) FROM {materialized}").fetchone()[0] == 12
            for statement in (
                "CALL refresh_continuous_aggregate('cost_daily', NULL, NULL)",
                "DROP MATERIALIZED VIEW cost_monthly",
                "SELECT add_retention_policy('usage', INTERVAL '1 day')",
            ):
                with pytest.raises(errors.InsufficientPrivilege):
                    conn.execute(statement)
        finally:
            conn.execute("RESET ROLE")
