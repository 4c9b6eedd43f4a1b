"""loader.db against the real TimescaleDB: inserts, idempotent re-runs, precedence, in-batch duplicates,
nesting in a caller's transaction, forecast horizons, raw jsonb, exact sums, interval alignment."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import psycopg
import pytest

from amber.models import ACTUAL_INTERVAL, CURRENT_INTERVAL, FORECAST_INTERVAL
from loader import rows as R
from loader.db import WriteResult, upsert_sites, write_forecasts, write_prices, write_usage
from loader.migrate import migrate
from tests.loader import SITE, T0, parse_prices, parse_site, parse_usages, price_item, site_item, usage_item

FETCHED = dt.datetime(2025, 1, 15, 0, 7, tzinfo=dt.UTC)
LATER = FETCHED + dt.timedelta(minutes=5)
FIVE = dt.timedelta(minutes=5)


@pytest.fixture
def conn(apache_db):
    migrate(apache_db, timezone="Australia/Sydney")
    with psycopg.connect(apache_db) as connection:
        yield connection


def prices(conn, *columns: str) -> list[tuple]:
    cols = ", ".join(columns or ("channel_type", "interval_start", "interval_type", "per_kwh"))
    rows = conn.execute(f"SELECT {cols} FROM prices ORDER BY site_id, channel_type, interval_start").fetchall()
    conn.commit()
    return rows


def usage(conn, *columns: str) -> list[tuple]:
    cols = ", ".join(columns or ("channel_identifier", "interval_start", "quality", "kwh", "cost"))
    rows = conn.execute(f"SELECT {cols} FROM usage ORDER BY site_id, channel_identifier, interval_start").fetchall()
    conn.commit()
    return rows


def count(conn, table: str) -> int:
    (n,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    conn.commit()
    return n


# --- columns -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "table, columns, generated",
    [("prices", R.PRICE_COLUMNS, ()), ("usage", R.USAGE_COLUMNS, ()),
     ("forecasts", R.FORECAST_COLUMNS, ("horizon_minutes",)),
     ("sites", R.SITE_COLUMNS, ("updated_at",)), ("channels", R.CHANNEL_COLUMNS, ())],
)  # fmt: skip
def test_row_columns_are_the_tables_columns(conn, table, columns, generated):
    names = [
        name
        for (name,) in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
            (table,),
        )
    ]
    assert [n for n in names if n not in generated] == list(columns)


def test_sql_rank_matches_rows_price_rank(conn):
    from loader.db import _rank_sql

    for kind in (ACTUAL_INTERVAL, CURRENT_INTERVAL, FORECAST_INTERVAL, "SomethingNew"):
        (rank,) = conn.execute(f"SELECT {_rank_sql('%s::text')}", (kind,)).fetchone()
        assert rank == R.price_rank(kind), kind


# --- prices ------------------------------------------------------------------------------------------


def window(n: int = 6, **kwargs) -> list:
    return parse_prices(
        *(price_item(T0 + i * FIVE, channel=channel, per_kwh=20 + i + c / 10, **kwargs)
          for i in range(n) for c, channel in enumerate(("general", "feedIn")))
    )  # fmt: skip


def test_write_prices_inserts_aligned_rows(conn):
    batch = window()
    result = write_prices(conn, SITE, batch, fetched_at=FETCHED)
    assert result == WriteResult(rows=12, written=12, kept=0, inserted=12)
    conn.commit()
    rows = prices(conn, "channel_type", "interval_start", "interval_end", "nem_time", "nem_date", "per_kwh",
                  "raw->>'startTime'", "fetched_at")  # fmt: skip
    assert len(rows) == 12
    general = [r for r in rows if r[0] == "general"]
    # interval_start = startTime - 1 s; each start equals the previous end.
    assert [r[1] for r in general] == [T0 + i * FIVE for i in range(6)]
    assert all(a[2] == b[1] for a, b in itertools.pairwise(general))
    assert general[0][3] == T0 + FIVE and general[0][4] == dt.date(2025, 1, 15)
    assert general[0][5] == Decimal("20.0") and general[1][5] == Decimal("21.0")
    assert general[0][6] == "2025-01-15T00:00:01Z"
    assert {r[7] for r in rows} == {FETCHED}


def test_boundary_start_is_kept(conn):
    write_prices(conn, SITE, parse_prices(price_item(T0, start_second=0)), fetched_at=FETCHED)
    assert prices(conn, "interval_start", "raw->>'startTime'") == [(T0, "2025-01-15T00:00:00Z")]


def test_rerun_is_harmless(conn):
    batch = window()
    write_prices(conn, SITE, batch, fetched_at=FETCHED)
    conn.commit()
    before = prices(conn, "*")
    again = write_prices(conn, SITE, batch, fetched_at=LATER)
    assert again == WriteResult(rows=12, written=0, kept=12, inserted=0)
    # Unchanged rows are not rewritten: fetched_at still says when this version was first fetched.
    assert prices(conn, "*") == before


def test_changed_value_updates_in_place(conn):
    write_prices(conn, SITE, window(), fetched_at=FETCHED)
    changed = window()
    changed[3] = parse_prices(price_item(T0 + FIVE, channel="feedIn", per_kwh=-3.5))[0]
    result = write_prices(conn, SITE, changed, fetched_at=LATER)
    assert result == WriteResult(rows=12, written=1, kept=11, inserted=0)
    assert result.updated == 1
    assert count(conn, "prices") == 12
    row = conn.execute(
        "SELECT per_kwh, fetched_at FROM prices WHERE channel_type = 'feedIn' AND interval_start = %s", (T0 + FIVE,)
    ).fetchone()
    assert row == (Decimal("-3.5"), LATER)


# (stored, offered, expected winner) — "old"/"new" are the per_kwh of the two versions.
PRECEDENCE = [
    (ACTUAL_INTERVAL, CURRENT_INTERVAL, "old"),  # an actual is not overwritten by a current
    (ACTUAL_INTERVAL, "SomethingNew", "old"),  # nor by an unknown type
    (CURRENT_INTERVAL, ACTUAL_INTERVAL, "new"),  # the actual replaces the current
    (CURRENT_INTERVAL, CURRENT_INTERVAL, "new"),  # a newer current replaces the older one
    (ACTUAL_INTERVAL, ACTUAL_INTERVAL, "new"),  # an actual correction replaces the actual
    ("SomethingNew", CURRENT_INTERVAL, "new"),
    ("SomethingNew", "SomethingNew", "new"),
    (CURRENT_INTERVAL, "SomethingNew", "old"),
]


@pytest.mark.parametrize("stored, offered, winner", PRECEDENCE)
def test_price_precedence(conn, stored, offered, winner):
    write_prices(conn, SITE, parse_prices(price_item(T0, type=stored, per_kwh=10.5)), fetched_at=FETCHED)
    result = write_prices(conn, SITE, parse_prices(price_item(T0, type=offered, per_kwh=11.5)), fetched_at=LATER)
    expected = (offered, Decimal("11.5"), LATER) if winner == "new" else (stored, Decimal("10.5"), FETCHED)
    assert prices(conn, "interval_type", "per_kwh", "fetched_at") == [expected]
    assert (result.written, result.kept) == ((1, 0) if winner == "new" else (0, 1))


def test_current_estimate_becomes_final(conn):
    estimate = parse_prices(price_item(T0, type=CURRENT_INTERVAL, estimate=True, per_kwh=30.1, price_range=(25.0, 35.0)))
    final = parse_prices(price_item(T0, type=CURRENT_INTERVAL, estimate=False, per_kwh=31.2))
    write_prices(conn, SITE, estimate, fetched_at=FETCHED)
    assert write_prices(conn, SITE, final, fetched_at=LATER).written == 1
    assert prices(conn, "estimate", "per_kwh", "range_min", "range_max") == [(False, Decimal("31.2"), None, None)]


def test_forecast_intervals_are_not_prices(conn):
    batch = parse_prices(price_item(T0), price_item(T0 + FIVE, type=CURRENT_INTERVAL),
                         price_item(T0 + 2 * FIVE, type=FORECAST_INTERVAL))  # fmt: skip
    assert write_prices(conn, SITE, batch, fetched_at=FETCHED) == WriteResult(2, 2, 0, 2)
    assert [r[2] for r in prices(conn)] == [ACTUAL_INTERVAL, CURRENT_INTERVAL]
    assert count(conn, "forecasts") == 0


def test_duplicates_inside_one_batch(conn):
    batch = parse_prices(
        price_item(T0, type=CURRENT_INTERVAL, per_kwh=1.0),
        price_item(T0, type=ACTUAL_INTERVAL, per_kwh=2.0),  # the actual wins over the current ...
        price_item(T0, type=CURRENT_INTERVAL, per_kwh=3.0),  # ... even when the current comes later
        price_item(T0 + FIVE, type=CURRENT_INTERVAL, per_kwh=4.0),
        price_item(T0 + FIVE, type=CURRENT_INTERVAL, per_kwh=5.0),  # same rank: the later item wins
    )
    assert write_prices(conn, SITE, batch, fetched_at=FETCHED) == WriteResult(rows=5, written=2, kept=3, inserted=2)
    assert [(r[2], r[3]) for r in prices(conn)] == [(ACTUAL_INTERVAL, Decimal("2.0")), (CURRENT_INTERVAL, Decimal("5.0"))]


def test_raw_jsonb_equals_the_api_object(conn):
    item = price_item(T0, type=CURRENT_INTERVAL, per_kwh=26.60356, advanced=(24.663, 27.063, 33.263),
                      price_range=(1e-05, 123456.123456), newField={"nested": [1, 2.5, "x", None, True]},
                      descriptor="brandNewDescriptor")  # fmt: skip
    (interval,) = parse_prices(item)
    write_prices(conn, SITE, [interval], fetched_at=FETCHED)
    [(raw, descriptor)] = prices(conn, "raw", "descriptor")
    assert raw == item == interval.raw
    assert descriptor == "brandNewDescriptor"
    # Numbers inside the stored jsonb are the API's decimals too.
    (per_kwh,) = conn.execute("SELECT (raw->'perKwh')::numeric FROM prices").fetchone()
    assert per_kwh == Decimal("26.60356")


def test_decimal_sums_are_exact(conn):
    # 0.1 + 0.2 is 0.30000000000000004 in floating point; the stored values sum exactly.
    batch = parse_prices(price_item(T0, per_kwh=0.1, spot_per_kwh=0.00001),
                         price_item(T0 + FIVE, per_kwh=0.2, spot_per_kwh=0.00002))  # fmt: skip
    write_prices(conn, SITE, batch, fetched_at=FETCHED)
    (total, spot) = conn.execute("SELECT sum(per_kwh), sum(spot_per_kwh) FROM prices").fetchone()
    assert total == Decimal("0.3") and str(total) == "0.3"
    assert spot == Decimal("0.00003")
    costs = [10.78286, 0.123456, -3.33333, 7.1, 0.000001]
    write_usage(conn, SITE, parse_usages(*(usage_item(T0 + i * 6 * FIVE, cost=c, kwh=0.0177) for i, c in enumerate(costs))),
                fetched_at=FETCHED)  # fmt: skip
    (cost, kwh) = conn.execute("SELECT sum(cost), sum(kwh) FROM usage").fetchone()
    assert cost == Decimal("14.672987") and kwh == Decimal("0.0885")
    assert sum(costs) != 14.672987  # what float arithmetic would have made of it


def test_empty_batches(conn):
    assert write_prices(conn, SITE, [], fetched_at=FETCHED) == WriteResult(0, 0, 0)
    assert write_forecasts(conn, SITE, iter(()), issued_at=FETCHED) == WriteResult(0, 0, 0)
    assert write_usage(conn, SITE, [], fetched_at=FETCHED) == WriteResult(0, 0, 0)
    assert write_forecasts(conn, SITE, window(2), issued_at=FETCHED) == WriteResult(0, 0, 0)  # no forecasts in it


def test_generators_are_accepted(conn):
    result = write_prices(conn, SITE, (i for i in window()), fetched_at=FETCHED)
    assert result.rows == result.written == 12


# --- transactions ------------------------------------------------------------------------------------


def progress(conn, rows: int) -> None:
    conn.execute(
        "INSERT INTO backfill_progress (site_id, stream, window_start, window_end, completed_at, rows)"
        " VALUES (%s, 'prices', '2025-01-15', '2025-01-15', now(), %s)",
        (SITE, rows),
    )


def test_alone_each_write_commits(conn):
    write_prices(conn, SITE, window(), fetched_at=FETCHED)
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with psycopg.connect(conn.info.dsn) as other:
        assert other.execute("SELECT count(*) FROM prices").fetchone() == (12,)


def test_nested_in_a_callers_transaction_rolls_back_with_it(conn):
    with pytest.raises(RuntimeError), conn.transaction():
        result = write_prices(conn, SITE, window(), fetched_at=FETCHED)
        write_usage(conn, SITE, parse_usages(usage_item(T0)), fetched_at=FETCHED)
        progress(conn, result.rows)
        raise RuntimeError("the caller fails after writing")
    assert count(conn, "prices") == count(conn, "usage") == count(conn, "backfill_progress") == 0


def test_nested_in_an_implicit_transaction(conn):
    # A non-autocommit connection that already ran a statement is in a transaction: the write is a savepoint.
    progress(conn, 12)
    write_prices(conn, SITE, window(), fetched_at=FETCHED)
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    conn.rollback()
    assert count(conn, "prices") == count(conn, "backfill_progress") == 0


def test_data_and_bookkeeping_commit_together(conn):
    with conn.transaction():
        first = write_prices(conn, SITE, window(3), fetched_at=FETCHED)
        # A second batch in the same transaction must not see the first batch's staged rows again.
        second = write_prices(conn, SITE, parse_prices(price_item(T0 + 10 * FIVE)), fetched_at=FETCHED)
        progress(conn, first.rows + second.rows)
    assert (first.written, second.rows, second.written, second.kept) == (6, 1, 1, 0)
    assert count(conn, "prices") == 7
    assert conn.execute("SELECT rows FROM backfill_progress").fetchone() == (7,)


def test_failed_batch_leaves_the_callers_transaction_usable(conn):
    import dataclasses

    # The parser drops reversed intervals; built by hand, one violates CHECK (interval_end > interval_start).
    (ok,) = parse_prices(price_item(T0 + FIVE, start_second=0))
    bad = dataclasses.replace(ok, end_time=ok.start_time)
    with conn.transaction():
        write_prices(conn, SITE, window(1), fetched_at=FETCHED)
        with pytest.raises(psycopg.errors.CheckViolation):
            write_prices(conn, SITE, [*parse_prices(price_item(T0 + 2 * FIVE)), bad], fetched_at=FETCHED)
        write_usage(conn, SITE, parse_usages(usage_item(T0)), fetched_at=FETCHED)
    assert count(conn, "prices") == 2  # the first batch; nothing of the failed one
    assert count(conn, "usage") == 1


def test_a_concurrent_writer_of_the_same_site_waits_and_the_batch_is_upserted(conn, caplog):
    """Another session has an uncommitted actual in the batch's range: the writer waits for its site lock
    (the backfill and the loader run side by side), then finds the row and upserts with the usual
    precedence — no failed fast insert, so no unique-violation ERROR in the server's log."""
    import threading

    caplog.set_level("DEBUG", logger="loader.db")
    with psycopg.connect(conn.info.dsn) as other:
        write_prices(other, SITE, parse_prices(price_item(T0 + 2 * FIVE, per_kwh=99.0)), fetched_at=FETCHED)
        other.execute("DELETE FROM prices")  # keep the chunk, lose the row
        other.commit()
        with other.transaction():
            write_prices(other, SITE, parse_prices(price_item(T0 + 2 * FIVE, per_kwh=99.0)), fetched_at=FETCHED)
            outcome: list = []
            batch = parse_prices(*(price_item(T0 + i * FIVE, type=CURRENT_INTERVAL, per_kwh=1.0 + i) for i in range(4)))
            writer = threading.Thread(
                target=lambda: outcome.append(write_prices(conn, SITE, batch, fetched_at=LATER)), daemon=True
            )
            writer.start()
            with psycopg.connect(conn.info.dsn, autocommit=True) as watcher:
                for _ in range(200):
                    (waiting,) = watcher.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'",
                        (conn.info.backend_pid,),
                    ).fetchone()
                    if waiting:
                        break
                    threading.Event().wait(0.05)
                assert waiting, "the writer should wait for the other session's site lock"
        writer.join(timeout=30)
    assert outcome == [WriteResult(rows=4, written=3, kept=1, inserted=3)]
    assert "appeared in the batch's range meanwhile" not in caplog.text
    assert [(r[1], r[2], r[3]) for r in prices(conn)] == [
        (T0, CURRENT_INTERVAL, Decimal("1.0")), (T0 + FIVE, CURRENT_INTERVAL, Decimal("2.0")),
        (T0 + 2 * FIVE, ACTUAL_INTERVAL, Decimal("99.0")), (T0 + 3 * FIVE, CURRENT_INTERVAL, Decimal("4.0")),
    ]  # fmt: skip


def test_autocommit_connection_with_dict_rows(apache_db):
    from psycopg.rows import dict_row

    migrate(apache_db, timezone="Australia/Sydney")
    with psycopg.connect(apache_db, autocommit=True, row_factory=dict_row) as conn:
        assert write_prices(conn, SITE, window(), fetched_at=FETCHED) == WriteResult(12, 12, 0, 12)
        changed = [*window()[:-1], parse_prices(price_item(T0 + 5 * FIVE, channel="feedIn", per_kwh=1.5))[0]]
        assert write_prices(conn, SITE, changed, fetched_at=FETCHED) == WriteResult(12, 1, 11, 0)
        assert conn.execute("SELECT count(*) AS n FROM prices").fetchone() == {"n": 12}


# --- usage -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stored, offered, winner",
    [("billable", "estimated", "old"),  # billable is never overwritten by an estimate
     ("estimated", "billable", "new"),
     ("estimated", "estimated", "new"),  # a newer estimate replaces the older one
     ("billable", "billable", "new"),  # a billable correction
     ("billable", "somethingNew", "new"),  # everything else updates in place
     ("somethingNew", "estimated", "new")],
)  # fmt: skip
def test_usage_precedence(conn, stored, offered, winner):
    write_usage(conn, SITE, parse_usages(usage_item(T0, quality=stored, kwh=0.5, cost=12.5)), fetched_at=FETCHED)
    result = write_usage(conn, SITE, parse_usages(usage_item(T0, quality=offered, kwh=0.6, cost=15.0)), fetched_at=LATER)
    expected = (offered, Decimal("0.6"), LATER) if winner == "new" else (stored, Decimal("0.5"), FETCHED)
    assert usage(conn, "quality", "kwh", "fetched_at") == [expected]
    assert (result.written, result.kept) == ((1, 0) if winner == "new" else (0, 1))


def test_usage_channels_are_separate_rows_and_duplicates_collapse(conn):
    batch = parse_usages(
        usage_item(T0, identifier="E1", kwh=0.5),
        usage_item(T0, identifier="B1", channel="feedIn", kwh=-0.25, cost=-1.0),
        usage_item(T0, identifier="E1", kwh=0.7, quality="billable"),
        usage_item(T0, identifier="E1", kwh=0.9, quality="estimated"),  # later, but estimated: billable wins
    )
    assert write_usage(conn, SITE, batch, fetched_at=FETCHED) == WriteResult(rows=4, written=2, kept=2, inserted=2)
    assert usage(conn, "channel_identifier", "kwh", "quality") == [
        ("B1", Decimal("-0.25"), "billable"), ("E1", Decimal("0.7"), "billable")
    ]
    assert write_usage(conn, SITE, batch, fetched_at=LATER) == WriteResult(rows=4, written=0, kept=4, inserted=0)


def test_usage_raw_and_alignment(conn):
    item = usage_item(T0, kwh=0.412, cost=10.78286)
    write_usage(conn, SITE, parse_usages(item), fetched_at=FETCHED)
    assert usage(conn, "interval_start", "interval_end", "raw", "duration_minutes") == [
        (T0, T0 + 6 * FIVE, item, 30)
    ]


# --- forecasts ---------------------------------------------------------------------------------------


def forecast(start: dt.datetime, per_kwh: float = 30.0, **kwargs):
    return parse_prices(price_item(start, type=FORECAST_INTERVAL, per_kwh=per_kwh, advanced=(20.0, 30.0, 40.0), **kwargs))


def forecasts(conn) -> list[tuple]:
    rows = conn.execute(
        "SELECT interval_start, horizon_minutes, issued_at, per_kwh FROM forecasts ORDER BY interval_start, horizon_minutes"
    ).fetchall()
    conn.commit()
    return rows


@pytest.mark.parametrize(
    "lead, horizon",
    [(dt.timedelta(minutes=-3), 0), (dt.timedelta(minutes=4), 0), (dt.timedelta(minutes=5), 5),
     (dt.timedelta(minutes=29), 15), (dt.timedelta(hours=1, minutes=1), 60), (dt.timedelta(hours=30), 1440),
     (dt.timedelta(hours=49), 2880)],
)  # fmt: skip
def test_forecast_horizon_buckets(conn, lead, horizon):
    start = T0 + dt.timedelta(days=3)
    assert write_forecasts(conn, SITE, forecast(start), issued_at=start - lead) == WriteResult(1, 1, 0, 1)
    assert [(r[0], r[1]) for r in forecasts(conn)] == [(start, horizon)]


def test_forecasts_keep_the_latest_issue_per_bucket(conn):
    start = T0 + dt.timedelta(hours=10)
    first = start - dt.timedelta(hours=9)  # lead 9 h -> bucket 480
    later = start - dt.timedelta(hours=8, minutes=30)  # lead 8.5 h -> bucket 480, closer to it
    short = start - dt.timedelta(minutes=20)  # bucket 15
    assert write_forecasts(conn, SITE, forecast(start, 31.0), issued_at=first).inserted == 1
    assert write_forecasts(conn, SITE, forecast(start, 32.0), issued_at=later) == WriteResult(1, 1, 0, 0)
    # An older issue of the same bucket arriving late does not replace the newer one.
    assert write_forecasts(conn, SITE, forecast(start, 33.0), issued_at=first) == WriteResult(1, 0, 1, 0)
    assert write_forecasts(conn, SITE, forecast(start, 34.0), issued_at=short).inserted == 1
    # Same issue again: nothing changes.
    assert write_forecasts(conn, SITE, forecast(start, 34.0), issued_at=short) == WriteResult(1, 0, 1, 0)
    assert forecasts(conn) == [(start, 15, short, Decimal("34.0")), (start, 480, later, Decimal("32.0"))]


def test_forecasts_take_only_forecast_intervals(conn):
    batch = parse_prices(
        price_item(T0, type=ACTUAL_INTERVAL),
        price_item(T0 + FIVE, type=CURRENT_INTERVAL),
        *(price_item(T0 + i * FIVE, type=FORECAST_INTERVAL, per_kwh=40 + i, advanced=(1.0, 2.0, 3.0),
                     price_range=(35.0, 45.5)) for i in range(2, 8)),
        price_item(T0 + 7 * FIVE, type=FORECAST_INTERVAL, per_kwh=99.0),  # duplicate: the later item wins
    )  # fmt: skip
    result = write_forecasts(conn, SITE, batch, issued_at=T0 + FIVE)
    assert result == WriteResult(rows=7, written=6, kept=1, inserted=6)
    rows = conn.execute(
        "SELECT interval_start, horizon_minutes, per_kwh, advanced_price_predicted, range_max, raw"
        " FROM forecasts ORDER BY interval_start"
    ).fetchall()
    assert [r[0] for r in rows] == [T0 + i * FIVE for i in range(2, 8)]
    assert [r[1] for r in rows] == [5, 5, 15, 15, 15, 30]
    assert rows[0][2:5] == (Decimal(42), Decimal("2.0"), Decimal("45.5"))
    assert rows[-1][2] == Decimal("99.0")
    assert rows[0][5] == batch[2].raw
    # Prices and forecasts split one API response between them.
    assert write_prices(conn, SITE, batch, fetched_at=T0 + FIVE).rows == 2


# --- sites -------------------------------------------------------------------------------------------


def test_upsert_sites_and_channels(conn):
    first = parse_site(site_item("s1"))
    other = parse_site(site_item("s2", channels=(("E1", "general", None),), interval_length=None))
    upsert_sites(conn, [first, other])
    upsert_sites(conn, [first, other])  # idempotent
    closed = parse_site(site_item("s1", status="closed", closed_on="2025-02-01",
                                  channels=(("E1", "general", "A200"), ("E2", "controlledLoad", "A180"))))  # fmt: skip
    upsert_sites(conn, [closed])
    conn.commit()
    sites = conn.execute(
        "SELECT site_id, nmi, status, closed_on, interval_length_minutes, raw FROM sites ORDER BY 1"
    ).fetchall()
    assert sites == [
        ("s1", "6407000000", "closed", dt.date(2025, 2, 1), 5, closed.raw),
        ("s2", "6407000000", "active", None, None, other.raw),
    ]
    channels = conn.execute("SELECT site_id, identifier, type, tariff FROM channels ORDER BY 1, 2").fetchall()
    # B1 is no longer listed but kept: usage rows may refer to it.
    assert channels == [
        ("s1", "B1", "feedIn", "A100"), ("s1", "E1", "general", "A200"), ("s1", "E2", "controlledLoad", "A180"),
        ("s2", "E1", "general", None),
    ]  # fmt: skip
    upsert_sites(conn, [])


def test_impossible_intervals_never_reach_the_write_path(conn):
    """Before: NaN/Infinity/1e400 parsed, then jsonb refused the raw row and the whole batch (and the
    backfill) failed; a reversed interval broke a check constraint; a duration above 32767 wrapped."""
    import json

    from amber.parse import ParseWarnings, parse_price_intervals, parse_usage

    good = [price_item(T0 + i * FIVE, per_kwh=20 + i) for i in range(4)]
    nan, inf, huge = (price_item(T0 + (4 + i) * FIVE) for i in range(3))
    nan["perKwh"], inf["renewables"], huge["spotPerKwh"] = float("nan"), float("-inf"), 1e400
    reversed_ = price_item(T0 + 7 * FIVE)
    reversed_["endTime"], reversed_["startTime"] = reversed_["startTime"], reversed_["endTime"]
    long = price_item(T0 + 8 * FIVE, minutes=40000)
    warnings = ParseWarnings()
    body = json.dumps([*good, nan, inf, huge, reversed_, long])  # NaN, -Infinity, Infinity as JSON text
    intervals = parse_price_intervals(json.loads(body), warnings=warnings)
    assert len(intervals) == 4 and sum(w.kind == "dropped_interval" for w in warnings) == 5
    assert write_prices(conn, SITE, intervals, fetched_at=FETCHED).written == 4
    conn.commit()
    assert [r[3] for r in prices(conn)] == [Decimal(20 + i) for i in range(4)]

    bad_usage = usage_item(T0, kwh=float("nan"))
    usages = parse_usage(json.loads(json.dumps([usage_item(T0 + dt.timedelta(minutes=30)), bad_usage])))
    assert write_usage(conn, SITE, usages, fetched_at=FETCHED).written == 1
