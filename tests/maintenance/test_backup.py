"""`amber-home backup` and `amber-home restore` on the real TimescaleDB (Apache build), through the CLI.

A migrated database with a week of realistic rows (5-minute prices on three channels, 30-minute usage on
three meter channels, a day of forecasts on the full horizon ladder) is backed up, dropped, and restored
into a new empty database: same rows and sums, hypertables still hypertables, aggregates equal. A
non-empty target is refused without --yes and replaced with it; an older pg_dump/pg_restore is a one-line
error naming the fix; the password never appears in output nor in the client programs' arguments.

The PostgreSQL 17 clients are `scripts/timescaledb bin` wrappers (the root's, run with chroot); the
"too old" client is the host's PostgreSQL 15 (Debian 12's postgresql-client-15, installed by scripts/test).
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
from pathlib import Path

import psycopg
import pytest

from amber_home.cli import main
from loader.aggregates import AGGREGATES, refresh_aggregates
from tests.support.servers import SETUP_HINT, TIMESCALEDB_SCRIPT

PASSWORD = "pw-Backup-S3cret"  # trust auth ignores it; it must never show up anywhere
OLD_PG_BIN = Path("/usr/lib/postgresql/15/bin")
HYPERTABLES = ["forecasts", "prices", "usage"]
STAT_COLUMNS = ("cost", "kwh", "per_kwh")
TABLES = ("prices", "usage", "forecasts", "sites", "channels")

# Amber's horizon ladder (sql/005_forecasts.sql): one forecast row per bucket.
LADDER_MINUTES = (0, 5, 15, 30, 60, 120, 240, 480, 720, 1440, 2880)

PRICES_SQL = """
INSERT INTO prices (site_id, channel_type, interval_start, interval_end, nem_time, nem_date, duration_minutes,
                    per_kwh, spot_per_kwh, renewables, descriptor, spike_status, interval_type, tariff_period,
                    tariff_season, demand_window, raw, fetched_at)
SELECT %(site)s, ct, s, s + d, s + d, (s + d - interval '1 second') AT TIME ZONE 'Etc/GMT-10', 5,
       p.per_kwh, p.spot, p.renewables, p.descriptor, 'none', 'ActualInterval', p.period, 'default', false,
       jsonb_build_object(
           'type', 'ActualInterval', 'duration', 5, 'spotPerKwh', p.spot, 'perKwh', p.per_kwh,
           'date', ((s + d - interval '1 second') AT TIME ZONE 'Etc/GMT-10')::date,
           'nemTime', to_char((s + d) AT TIME ZONE 'Etc/GMT-10', 'YYYY-MM-DD"T"HH24:MI:SS"+10:00"'),
           'startTime', to_char((s + interval '1 second') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           'endTime', to_char((s + d) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           'renewables', p.renewables, 'channelType', ct,
           'tariffInformation', jsonb_build_object('period', p.period, 'season', 'default', 'demandWindow', false),
           'spikeStatus', 'none', 'descriptor', p.descriptor),
       s + d + interval '40 seconds'
FROM generate_series(%(start)s::timestamptz, %(start)s::timestamptz + %(days)s * interval '1 day' - interval '5 minutes',
                     interval '5 minutes') AS s,
     unnest(ARRAY['general', 'controlledLoad', 'feedIn']) AS ct,
     LATERAL (SELECT interval '5 minutes' AS d, (extract(epoch FROM s) / 300)::bigint AS n) AS k,
     LATERAL (SELECT round(0.5 + (n * 104729 %% 3001) / 293.0, 5) AS spot,
                     round(10 + (n %% 800) / 10.0, 1) AS renewables) AS w,
     LATERAL (SELECT CASE ct WHEN 'feedIn' THEN -round(w.spot * 0.9, 5)
                             WHEN 'controlledLoad' THEN round(12 + w.spot * 1.1, 5)
                             ELSE round(18 + w.spot * 1.1, 5) END AS per_kwh,
                     CASE WHEN w.spot > 9 THEN 'high' WHEN w.spot > 4 THEN 'neutral' ELSE 'low' END AS descriptor,
                     CASE WHEN extract(hour FROM s AT TIME ZONE 'Australia/Sydney') BETWEEN 10 AND 14
                          THEN 'solarSponge' WHEN extract(hour FROM s AT TIME ZONE 'Australia/Sydney') BETWEEN 16 AND 20
                          THEN 'peak' ELSE 'offPeak' END AS period,
                     w.spot, w.renewables) AS p
"""

USAGE_SQL = """
INSERT INTO usage (site_id, channel_identifier, channel_type, interval_start, interval_end, nem_time, nem_date,
                   duration_minutes, kwh, cost, quality, per_kwh, spot_per_kwh, renewables, descriptor, spike_status,
                   tariff_period, tariff_season, demand_window, raw, fetched_at)
SELECT %(site)s, ch.id, ch.type, s, s + d, s + d, (s + d - interval '1 second') AT TIME ZONE 'Etc/GMT-10', 30,
       u.kwh, round(u.kwh * u.per_kwh, 5), u.quality, u.per_kwh, u.spot, u.renewables, 'neutral', 'none',
       'offPeak', 'default', false,
       jsonb_build_object(
           'type', 'Usage', 'duration', 30, 'spotPerKwh', u.spot, 'perKwh', u.per_kwh,
           'date', ((s + d - interval '1 second') AT TIME ZONE 'Etc/GMT-10')::date,
           'nemTime', to_char((s + d) AT TIME ZONE 'Etc/GMT-10', 'YYYY-MM-DD"T"HH24:MI:SS"+10:00"'),
           'startTime', to_char((s + interval '1 second') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           'endTime', to_char((s + d) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           'renewables', u.renewables, 'channelType', ch.type,
           'tariffInformation', jsonb_build_object('period', 'offPeak', 'season', 'default', 'demandWindow', false),
           'spikeStatus', 'none', 'descriptor', 'neutral', 'channelIdentifier', ch.id, 'kwh', u.kwh,
           'quality', u.quality, 'cost', round(u.kwh * u.per_kwh, 5)),
       s + d + interval '1 day'
FROM generate_series(%(start)s::timestamptz, %(start)s::timestamptz + %(days)s * interval '1 day' - interval '30 minutes',
                     interval '30 minutes') AS s,
     (VALUES ('E1', 'general'), ('E2', 'controlledLoad'), ('B1', 'feedIn')) AS ch (id, type),
     LATERAL (SELECT interval '30 minutes' AS d, (extract(epoch FROM s) / 1800)::bigint AS n) AS k,
     LATERAL (SELECT CASE ch.type WHEN 'feedIn' THEN -round((n %% 13) * 0.0177, 4)
                                  WHEN 'controlledLoad' THEN round((n %% 5) * 0.0311, 4)
                                  ELSE round(0.05 + (n %% 17) * 0.0123, 4) END AS kwh,
                     CASE ch.type WHEN 'feedIn' THEN -round(3 + (n * 7919 %% 1009) / 1000.0, 5)
                                  ELSE round(15 + (n * 7919 %% 4001) / 100.0, 5) END AS per_kwh,
                     round((n * 104729 %% 3001) / 293.0, 5) AS spot,
                     round(10 + (n %% 800) / 10.0, 1) AS renewables,
                     CASE WHEN n %% 11 = 0 THEN 'estimated' ELSE 'billable' END AS quality) AS u
"""

FORECASTS_SQL = """
INSERT INTO forecasts (site_id, channel_type, interval_start, interval_end, issued_at, nem_time, nem_date,
                       duration_minutes, per_kwh, spot_per_kwh, renewables, descriptor, spike_status,
                       advanced_price_low, advanced_price_predicted, advanced_price_high, raw)
SELECT %(site)s, ct, s, s + interval '5 minutes', s - h * interval '1 minute', s + interval '5 minutes',
       (s + interval '5 minutes' - interval '1 second') AT TIME ZONE 'Etc/GMT-10', 5,
       f.per_kwh, f.spot, 40, 'neutral', 'none', f.per_kwh - 3, f.per_kwh, f.per_kwh + 5,
       jsonb_build_object('type', 'ForecastInterval', 'duration', 5, 'perKwh', f.per_kwh, 'spotPerKwh', f.spot,
                          'channelType', ct, 'renewables', 40, 'descriptor', 'neutral', 'spikeStatus', 'none',
                          'advancedPrice', jsonb_build_object('low', f.per_kwh - 3, 'predicted', f.per_kwh,
                                                              'high', f.per_kwh + 5))
FROM generate_series(%(start)s::timestamptz, %(start)s::timestamptz + %(days)s * interval '1 day' - interval '5 minutes',
                     interval '5 minutes') AS s,
     unnest(ARRAY['general', 'feedIn']) AS ct,
     unnest(%(ladder)s::int[]) AS h,
     LATERAL (SELECT (extract(epoch FROM s) / 300)::bigint AS n) AS k,
     LATERAL (SELECT round(0.5 + ((n + h) * 104729 %% 3001) / 293.0, 5) AS spot) AS w,
     LATERAL (SELECT CASE ct WHEN 'feedIn' THEN -round(w.spot * 0.9, 5) ELSE round(18 + w.spot * 1.1, 5) END AS per_kwh,
                     w.spot) AS f
"""


def fill_household(
    conn: psycopg.Connection, *, site: str = "01HSITE5MIN", start: str = "2025-06-01 00:00+00",
    days: int = 7, forecast_days: int = 1,
) -> None:
    """A 5-minute site's rows as the loader stores them: prices on three channel types, 30-minute usage
    on three meter channels, and `forecast_days` of forecasts with every horizon bucket filled."""
    conn.execute(
        "INSERT INTO sites (site_id, nmi, network, status, active_from, interval_length_minutes, raw)"
        " VALUES (%s, '4102000000', 'Ausgrid', 'active', '2024-01-01', 5, '{}')",
        (site,),
    )
    conn.execute(
        "INSERT INTO channels (site_id, identifier, type, tariff) VALUES"
        " (%(s)s, 'E1', 'general', 'EA116'), (%(s)s, 'E2', 'controlledLoad', 'EA030'), (%(s)s, 'B1', 'feedIn', 'EA116')",
        {"s": site},
    )
    args = {"site": site, "start": start, "days": days}
    conn.execute(PRICES_SQL, args)
    conn.execute(USAGE_SQL, args)
    conn.execute(FORECASTS_SQL, {**args, "days": forecast_days, "ladder": list(LADDER_MINUTES)})
    conn.commit()


def stats(url: str) -> dict:
    """Per table: count, sum(cost), sum(kwh), sum(per_kwh) where present; the hypertables; every
    aggregate's full contents."""
    out: dict = {"tables": {}, "aggregates": {}}
    with psycopg.connect(url) as conn:
        for table in TABLES:
            columns = {r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s", (table,))}
            sums = ", ".join(f"sum({c})" if c in columns else "NULL" for c in STAT_COLUMNS)
            out["tables"][table] = conn.execute(f"SELECT count(*), {sums} FROM {table}").fetchone()
        out["hypertables"] = [r[0] for r in conn.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables ORDER BY 1")]
        for aggregate in AGGREGATES:
            out["aggregates"][aggregate.name] = conn.execute(
                f"SELECT * FROM {aggregate.name} ORDER BY 1, 2, 3, 4").fetchall()
    return out


def with_password(url: str) -> str:
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@")


@pytest.fixture(scope="module")
def pg17_bin(tmp_path_factory):
    """A directory of PostgreSQL 17 client wrappers (scripts/timescaledb bin), for AMBER_PG_BIN."""
    directory = tmp_path_factory.mktemp("pg17-bin")
    result = subprocess.run([str(TIMESCALEDB_SCRIPT), "bin", str(directory)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"scripts/timescaledb bin failed: {result.stderr.strip()} — {SETUP_HINT}", pytrace=False)
    return directory


@pytest.fixture(scope="module")
def archive(timescale_server, pg17_bin, tmp_path_factory):
    """(archive path, stats of the source database, backup's stdout): a migrated database with a week of
    rows and refreshed aggregates, backed up through the CLI and then dropped."""
    name = timescale_server.create_database()
    url = timescale_server.url(name)
    env = {"DATABASE_URL": with_password(url), "AMBER_PG_BIN": str(pg17_bin)}
    try:
        assert main(["migrate"], env) == 0
        with psycopg.connect(url) as conn:
            fill_household(conn)
            refresh_aggregates(conn)
        source = stats(url)
        path = tmp_path_factory.mktemp("backup") / "household.dump"
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):  # no capsys in module fixtures
            code = main(["backup", "--output", str(path)], env)
        assert code == 0, err.getvalue()
    finally:
        timescale_server.drop_database(name)  # "the server died": only the archive is left
    return path, source, out.getvalue() + err.getvalue()


@pytest.fixture
def empty_db(timescale_server):
    name = timescale_server.create_database()
    yield timescale_server.url(name)
    timescale_server.drop_database(name)


def test_backup_prints_size_and_row_counts_and_writes_a_manifest(archive):
    path, source, output = archive
    assert path.is_file() and path.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    first = output.splitlines()[0]
    assert f"written to {path}" in first and ("kB" in first or "MB" in first)
    for table in ("prices", "usage", "forecasts"):
        rows = source["tables"][table][0]
        assert any(line.split()[:3] == [table, f"{rows:,}", "rows"] for line in output.splitlines()), output
    manifest = json.loads(Path(f"{path}.manifest.json").read_text())
    assert manifest["tables"]["prices"]["rows"] == 7 * 288 * 3
    assert manifest["tables"]["usage"]["rows"] == 7 * 48 * 3
    assert manifest["tables"]["forecasts"]["rows"] == 288 * 2 * len(LADDER_MINUTES)
    assert manifest["hypertables"] == HYPERTABLES
    assert manifest["bytes"] == path.stat().st_size and len(manifest["sha256"]) == 64
    assert PASSWORD not in output and PASSWORD not in Path(f"{path}.manifest.json").read_text()


def test_restore_into_an_empty_database_gives_back_the_same_data(archive, empty_db, pg17_bin, capsys):
    path, source, _ = archive
    env = {"DATABASE_URL": with_password(empty_db), "AMBER_PG_BIN": str(pg17_bin)}
    assert main(["restore", str(path)], env) == 0
    out, err = capsys.readouterr()
    assert "verified against the manifest" in out, out + err
    assert "aggregates match the backup's" in out
    assert PASSWORD not in out + err

    restored = stats(empty_db)
    assert restored["tables"] == source["tables"]
    assert restored["hypertables"] == source["hypertables"] == HYPERTABLES
    assert restored["aggregates"] == source["aggregates"]
    assert all(rows for rows in restored["aggregates"].values())
    with psycopg.connect(empty_db) as conn:
        # TimescaleDB is out of restore mode, the reader role can read, the schema is current.
        assert conn.execute("SHOW timescaledb.restoring").fetchone()[0] == "off"
        assert conn.execute("SELECT has_table_privilege('amber_reader', 'prices', 'SELECT')").fetchone()[0]
        chunks = conn.execute("SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = 'prices'")
        assert chunks.fetchone()[0] >= 1
    assert main(["migrate"], env) == 0
    assert "up to date" in capsys.readouterr().out


def test_restore_refuses_a_non_empty_database_unless_yes(archive, apache_db, pg17_bin, capsys):
    path, source, _ = archive
    env = {"DATABASE_URL": with_password(apache_db), "AMBER_PG_BIN": str(pg17_bin)}
    assert main(["migrate"], env) == 0
    with psycopg.connect(apache_db) as conn:
        fill_household(conn, site="01HOTHERSITE", days=1, forecast_days=0)
    capsys.readouterr()

    assert main(["restore", str(path)], env) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: database ") and "is not empty" in err and "--yes" in err
    assert stats(apache_db)["tables"]["prices"][0] == 288 * 3  # untouched

    assert main(["restore", str(path), "--yes"], env) == 0
    out, err = capsys.readouterr()
    assert "replaced the database" in out and "verified against the manifest" in out, out + err
    restored = stats(apache_db)
    assert restored["tables"] == source["tables"]
    assert restored["aggregates"] == source["aggregates"]


def test_restore_refuses_while_other_clients_are_connected(archive, empty_db, pg17_bin, capsys):
    path, _, _ = archive
    env = {"DATABASE_URL": empty_db, "AMBER_PG_BIN": str(pg17_bin)}
    with psycopg.connect(empty_db, application_name="amber-home loader"):
        assert main(["restore", str(path)], env) == 1
    err = capsys.readouterr().err
    assert "other clients are connected" in err and "amber-home loader" in err and len(err.strip().splitlines()) == 1


def test_an_older_pg_dump_or_pg_restore_is_a_one_line_error(archive, apache_db, tmp_path, capsys):
    if not (OLD_PG_BIN / "pg_dump").is_file():
        pytest.fail(f"{OLD_PG_BIN}/pg_dump is missing — {SETUP_HINT} (it installs postgresql-client-15)", pytrace=False)
    path, _, _ = archive
    env = {"DATABASE_URL": with_password(apache_db), "AMBER_PG_BIN": str(OLD_PG_BIN)}
    output = tmp_path / "old.dump"
    assert main(["backup", "--output", str(output)], env) == 1
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: pg_dump 15 cannot dump PostgreSQL 17: set AMBER_PG_BIN to a PostgreSQL 17 client")
    assert "docker compose exec" in err
    assert not output.exists() and not list(tmp_path.iterdir())
    assert PASSWORD not in out + err

    assert main(["restore", str(path)], env) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: pg_restore 15 cannot restore into PostgreSQL 17: set AMBER_PG_BIN")
    assert len(err.strip().splitlines()) == 1 and PASSWORD not in err


def test_password_reaches_pg_dump_through_pgpassword_not_argv(apache_db, pg17_bin, tmp_path, capsys):
    """A recording pg_dump in AMBER_PG_BIN: its argv lacks the password, its environment has it, and no
    other secret from the environment is passed on."""
    record = tmp_path / "record"
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "pg_dump").write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = --version ]; then exec {pg17_bin}/pg_dump --version; fi\n'
        f'printf "%s\\n" "$@" > {record}.argv; env > {record}.env\n'
        f'exec {pg17_bin}/pg_dump "$@"\n'
    )
    (fake / "pg_dump").chmod(0o755)
    env = {"DATABASE_URL": with_password(apache_db), "AMBER_PG_BIN": str(fake), "AMBER_API_KEY": "key-NOT-for-pg"}
    assert main(["migrate"], env) == 0
    assert main(["backup", "--output", str(tmp_path / "b.dump")], env) == 0
    out, err = capsys.readouterr()
    argv = Path(f"{record}.argv").read_text()
    child_env = Path(f"{record}.env").read_text()
    assert PASSWORD not in argv and PASSWORD not in out + err
    assert f"PGPASSWORD={PASSWORD}" in child_env.splitlines()
    assert "key-NOT-for-pg" not in child_env and "DATABASE_URL" not in child_env
    assert "--snapshot=" in argv and "--format=custom" in argv


def test_restore_checks_the_manifest_belongs_to_the_archive(archive, empty_db, pg17_bin, tmp_path, capsys):
    path, _, _ = archive
    copy = tmp_path / "copy.dump"
    copy.write_bytes(path.read_bytes() + b"\0")
    Path(f"{copy}.manifest.json").write_text(Path(f"{path}.manifest.json").read_text())
    env = {"DATABASE_URL": empty_db, "AMBER_PG_BIN": str(pg17_bin)}
    assert main(["restore", str(copy)], env) == 1
    err = capsys.readouterr().err
    assert "does not match copy.dump.manifest.json" in err and len(err.strip().splitlines()) == 1


def test_restore_reports_rows_that_do_not_match_the_manifest(archive, empty_db, pg17_bin, tmp_path, capsys,
                                                              timescale_server):
    path, source, _ = archive
    before = databases(timescale_server)
    copy = tmp_path / "tampered.dump"
    copy.write_bytes(path.read_bytes())
    manifest = json.loads(Path(f"{path}.manifest.json").read_text())
    manifest["tables"]["usage"]["rows"] += 1  # as if a row had been lost on the way
    Path(f"{copy}.manifest.json").write_text(json.dumps(manifest))
    assert main(["restore", str(copy)], {"DATABASE_URL": empty_db, "AMBER_PG_BIN": str(pg17_bin)}) == 1
    err = capsys.readouterr().err
    expected = source["tables"]["usage"][0]
    assert f"restore verification failed: usage has {expected} rows, the backup {expected + 1}" in err
    # The restored copy is dropped; the target was never touched (still empty).
    assert databases(timescale_server) == before
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT to_regclass('usage')").fetchone()[0] is None


def test_restore_without_a_manifest_restores_and_says_it_is_unverified(archive, empty_db, pg17_bin, tmp_path, capsys):
    path, source, _ = archive
    bare = tmp_path / "plain.dump"
    bare.write_bytes(path.read_bytes())
    assert main(["restore", str(bare)], {"DATABASE_URL": empty_db, "AMBER_PG_BIN": str(pg17_bin)}) == 0
    out = capsys.readouterr().out
    assert "not verified: no manifest plain.dump.manifest.json" in out
    restored = stats(empty_db)
    assert restored["tables"] == source["tables"] and restored["aggregates"] == source["aggregates"]


def test_restore_checks_the_timescaledb_version_before_replacing_anything(archive, apache_db, pg17_bin, tmp_path,
                                                                           capsys):
    path, _, _ = archive
    copy = tmp_path / "future.dump"
    copy.write_bytes(path.read_bytes())
    manifest = json.loads(Path(f"{path}.manifest.json").read_text())
    manifest["timescaledb_version"] = "2.99.0"
    Path(f"{copy}.manifest.json").write_text(json.dumps(manifest))
    env = {"DATABASE_URL": apache_db, "AMBER_PG_BIN": str(pg17_bin)}
    assert main(["migrate"], env) == 0
    capsys.readouterr()
    assert main(["restore", str(copy), "--yes"], env) == 1
    err = capsys.readouterr().err
    assert "made with TimescaleDB 2.99.0, which this server does not have" in err and len(err.strip().splitlines()) == 1
    with psycopg.connect(apache_db) as conn:  # not dropped
        assert conn.execute("SELECT to_regclass('prices')").fetchone()[0] is not None


def databases(server) -> set[str]:
    with psycopg.connect(server.admin_url) as conn:
        return {row[0] for row in conn.execute("SELECT datname FROM pg_database")}


@pytest.mark.parametrize("damage", ["garbage", "truncated", "truncated-header"])
def test_restore_yes_of_a_bad_archive_fails_and_leaves_the_marker_data(
    archive, apache_db, timescale_server, pg17_bin, tmp_path, capsys, damage
):
    """Garbage, or a real archive cut off (without its manifest, whose SHA-256 would catch it first):
    restore --yes exits 1 with one line, the target keeps its rows, no half-restored database is left."""
    path, _, _ = archive
    bad = tmp_path / f"{damage}.dump"
    data = path.read_bytes()
    bad.write_bytes({"garbage": bytes(range(256)) * 20, "truncated": data[: len(data) * 2 // 3],
                     "truncated-header": data[:2000]}[damage])
    env = {"DATABASE_URL": with_password(apache_db), "AMBER_PG_BIN": str(pg17_bin)}
    assert main(["migrate"], env) == 0
    with psycopg.connect(apache_db) as conn:
        fill_household(conn, site="01HMARKER", days=1, forecast_days=0)
    before = stats(apache_db)
    others = databases(timescale_server)
    capsys.readouterr()

    assert main(["restore", str(bad), "--yes"], env) == 1
    out, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert "restored" not in out and PASSWORD not in out + err
    assert stats(apache_db) == before
    assert databases(timescale_server) == others


def test_restore_yes_keeps_the_replaced_database_and_gives_the_writer_the_data(
    archive, apache_db, timescale_server, pg17_bin, capsys
):
    path, source, _ = archive
    env = {"DATABASE_URL": with_password(apache_db), "AMBER_PG_BIN": str(pg17_bin)}
    assert main(["migrate"], env) == 0
    with psycopg.connect(apache_db) as conn:
        fill_household(conn, site="01HMARKER", days=1, forecast_days=0)
    capsys.readouterr()
    assert main(["restore", str(path), "--yes"], env) == 0
    out = capsys.readouterr().out
    kept = out.split("the old one is kept as ")[1].split(",")[0]
    assert kept.startswith(apache_db.rsplit("/", 1)[1] + "_before_restore_")
    assert stats(apache_db)["tables"] == source["tables"]
    try:
        with psycopg.connect(timescale_server.url(kept)) as old:
            assert old.execute("SELECT count(*) FROM prices").fetchone()[0] == 288 * 3
        with psycopg.connect(apache_db) as conn:
            owners = conn.execute("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
                                  " AND tablename <> 'schema_migrations'").fetchall()
            assert owners == [("amber_writer",)]
            assert conn.execute("SELECT setting FROM pg_settings WHERE name = 'jit'").fetchone()[0] == "off"
    finally:
        timescale_server.drop_database(kept)
