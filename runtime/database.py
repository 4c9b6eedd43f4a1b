"""Open a psycopg 3 connection from a database URL, named so `pg_stat_activity` shows who is who.

    conn = connect(settings.database_url, application_name="amber-home loader", autocommit=True)
    except psycopg.OperationalError as exc: print(f"error: {unreachable(settings.database_url, exc)}")

Every Amber-Home process connects through `connect()`: the `application_name` (e.g. "amber-home loader")
tells an operator which service holds a lock or runs a slow query. The URL may be a `Secret`
(runtime.settings keeps DATABASE_URL in one); it is revealed only here, where it is handed to libpq, and a
URL libpq cannot parse is refused without quoting it (libpq's own message would quote the password).
`unreachable()` words the one-line error for a server that does not answer, with the URL redacted.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from amber.secret import Revealable, first_line, plain, redact_url

__all__ = ["cannot_reach", "connect", "one_row", "scalar", "unreachable"]


def connect(
    url: str | Revealable,
    *,
    application_name: str,
    autocommit: bool = False,
    connect_timeout: int = 10,
    **kwargs: Any,
) -> psycopg.Connection:
    """A new connection to `url`; keyword arguments override the URL's own parameters."""
    conninfo = plain(url)
    try:
        conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        # libpq's message quotes the part it could not parse, which is usually the password.
        raise psycopg.ProgrammingError(
            "the database URL is not valid: percent-encode spaces and % in it (space as %20, % as %25)"
        ) from None
    return psycopg.connect(
        conninfo,
        application_name=application_name,
        autocommit=autocommit,
        connect_timeout=connect_timeout,
        **kwargs,
    )


def unreachable(url: str | Revealable, exc: BaseException) -> str:
    """What to say when the server at `url` cannot be reached (libpq's message names host and port, never
    the password; the URL is redacted)."""
    return cannot_reach(redact_url(plain(url)), exc)


def cannot_reach(where: str, exc: BaseException) -> str:
    """The same, for a caller that already holds the redacted location `where`."""
    return f"cannot reach the database at {where}: {first_line(exc)}; check DATABASE_URL and that TimescaleDB is running"


def one_row(conn: psycopg.Connection[Any] | psycopg.Cursor[Any], query: Any, params: Any = None) -> tuple[Any, ...]:
    """The one row `query` always returns (an aggregate, SHOW, a function call)."""
    row = conn.execute(query, params).fetchone()
    if row is None:
        raise psycopg.ProgrammingError("the statement returned no row where one was expected")
    return row


def scalar(conn: psycopg.Connection[Any] | psycopg.Cursor[Any], query: Any, params: Any = None) -> Any:
    """The first column of the one row `query` returns (count(*), EXISTS, SHOW, to_regclass(...), …)."""
    return one_row(conn, query, params)[0]
