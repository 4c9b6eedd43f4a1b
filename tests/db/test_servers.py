"""The two database tiers really are what the rest of the suite assumes."""

import psycopg


def test_apache_tier_is_timescaledb_apache_build(apache_db):
    with psycopg.connect(apache_db, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        assert conn.execute("SHOW timescaledb.license").fetchone()[0] == "apache"
        assert conn.execute("SHOW server_version_num").fetchone()[0].startswith("17")


def test_tsl_tier_has_continuous_aggregates(tsl_db):
    with psycopg.connect(tsl_db, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        assert conn.execute("SHOW timescaledb.license").fetchone()[0] == "timescale"
        conn.execute("CREATE TABLE t (ts timestamptz NOT NULL, v double precision)")
        conn.execute("SELECT create_hypertable('t', 'ts')")
        conn.execute("INSERT INTO t VALUES ('2025-01-01 00:00Z', 1), ('2025-01-01 01:00Z', 3)")
        conn.execute(
            "CREATE MATERIALIZED VIEW t_daily WITH (timescaledb.continuous) AS "
            "SELECT time_bucket('1 day', ts) AS day, avg(v) AS v FROM t GROUP BY 1 WITH NO DATA"
        )
        conn.execute("CALL refresh_continuous_aggregate('t_daily', NULL, NULL)")
        assert conn.execute("SELECT v FROM t_daily").fetchone()[0] == 2
