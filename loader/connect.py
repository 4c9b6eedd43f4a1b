"""Open a psycopg 3 connection from a database URL, named so `pg_stat_activity` shows who is who.

Every Amber-Home service connects through `connect()`: the `application_name` (e.g. "amber-home loader")
tells an operator which service holds a lock or runs a slow query. The URL may be a `Secret`
(amber.config keeps DATABASE_URL in one); it is revealed only here, where it is handed to libpq, and a
URL libpq cannot parse is refused without quoting it (libpq's own message would quote the password).
"""

from __future__ import annotations

from typing import Any, Protocol

import psycopg
from psycopg.conninfo import conninfo_to_dict

__all__ = ["connect"]


class _Revealable(Protocol):
    def reveal(self) -> str: ...


def connect(
    url: str | _Revealable,
    *,
    application_name: str,
    autocommit: bool = False,
    connect_timeout: int = 10,
    **kwargs: Any,
) -> psycopg.Connection:
    """A new connection to `url`; keyword arguments override the URL's own parameters."""
    conninfo = url if isinstance(url, str) else url.reveal()
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
