"""Keep secrets out of logs: a masking wrapper and a URL redactor.

`Secret` holds an API key or password so that an accidental `print(settings)`, log line or
traceback shows a mask instead of the value; code that needs the value calls `reveal()`.
`redact_url` makes database and Apprise URLs safe to log or show in doctor output.
"""

from __future__ import annotations

import hmac
import re
from urllib.parse import urlsplit

__all__ = ["Secret", "redact_url"]

MASK = "***"


class Secret:
    """An immutable secret string whose repr and str are a fixed mask."""

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"Secret wraps a str, not {type(value).__name__}")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """The secret itself; call it only where the value is handed to a client."""
        return self._value

    def __repr__(self) -> str:
        # Fixed, so the mask says nothing about the length or content.
        return "Secret('********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        # Constant-time, so comparing against a secret does not leak it by timing.
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Secret is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Secret is immutable")

    def __reduce__(self) -> tuple[object, ...]:
        # The default protocol would restore state through the blocked __setattr__; this keeps
        # copy.deepcopy and dataclasses.asdict working on Settings.
        return (Secret, (self._value,))


_DB_SCHEMES = ("postgresql", "postgres")
# Query parameters whose values are credentials in libpq URLs and webhook URLs.
_SENSITIVE_KEY = re.compile(r"pass|secret|token|key|auth|sig|cred", re.IGNORECASE)
# libpq key=value DSN: password='quoted \' value' or password=bare; an unclosed quote masks
# to the end.
_DSN_PASSWORD = re.compile(
    r"(?<![\w.])((?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)", re.IGNORECASE
)
_DSN_KEY = re.compile(
    r"(?:^|\s)(?:host|hostaddr|port|dbname|user|password|service|sslmode)\s*=", re.IGNORECASE
)
# A host name worth keeping: dotted name, IPv4, bracketed IPv6 or localhost, with an optional port.
# Apprise often puts a token where the host goes (tgram://TOKEN/chat, pover://user@TOKEN), and
# tokens have no dots, so an undotted "host" is masked.
_PLAIN_HOST = re.compile(
    r"(?:\[[0-9A-Fa-f:.]+\]|localhost|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)(?::\d+)?"
)


def api_location(url: str) -> str:
    """Where an HTTP API is, for log lines: scheme, host, port and path of `url` — never user info, query
    or fragment. The Amber API's key travels in a header, so its base URL holds no secret of its own:
    https://api.amber.com.au/v1, http://simulator:8765/v1."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return redact_url(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


def redact_url(url: str) -> str:
    """Return `url` with its credentials replaced by `***`, for log lines and doctor output.

    - PostgreSQL URLs (postgresql://, postgres://) keep user, host, port, database and options;
      the password and credential-like query values (password=, sslpassword=) are masked.
    - libpq key=value DSNs have password= (and sslpassword=) masked.
    - Any other URL (Apprise services, webhooks) may carry tokens in the user info, host, path
      or query, so only the scheme, a plain host name and the query parameter names are kept:
      ntfy://user:pw@ntfy.sh/topic?priority=high -> ntfy://***@ntfy.sh/***?priority=***
    - Anything else is masked whole, since it may be a bare token.
    When unsure, it masks too much rather than too little.
    """
    if not url:
        return url
    scheme, sep, rest = url.partition("://")
    if not sep:
        if _DSN_KEY.search(url):
            return _DSN_PASSWORD.sub(lambda m: m.group(1) + MASK, url)
        return MASK
    if scheme.lower() in _DB_SCHEMES:
        return f"{scheme}://{_redact_db(rest)}"
    return f"{scheme}://{_redact_other(rest)}"


# user:password@ where the password runs to the LAST "@": a password with an unencoded
# @ / ? or # then stays inside the mask instead of spilling into the output.
_DB_USERINFO = re.compile(r"([^:/?#@]*):(.*)@", re.DOTALL)


def _redact_db(rest: str) -> str:
    if match := _DB_USERINFO.match(rest):
        rest = f"{match.group(1)}:{MASK}@{rest[match.end():]}"
    base, has_query, query = rest.partition("?")
    return base + has_query + _redact_query(query, everything=False)


def _redact_other(rest: str) -> str:
    rest, _, _fragment = rest.partition("#")  # a fragment never reaches a server; drop it
    rest, has_query, query = rest.partition("?")
    userinfo, at, hostpath = rest.rpartition("@")
    host, slash, path = hostpath.partition("/")
    userinfo = MASK if userinfo else ""
    host = host if _PLAIN_HOST.fullmatch(host) else (MASK if host else "")
    path = MASK if path else ""
    return f"{userinfo}{at}{host}{slash}{path}{has_query}{_redact_query(query, everything=True)}"


def _redact_query(query: str, *, everything: bool) -> str:
    items = []
    for item in query.split("&"):
        key, eq, value = item.partition("=")
        if eq and value and (everything or _SENSITIVE_KEY.search(key)):
            item = f"{key}={MASK}"
        elif not eq and item and everything:
            item = MASK
        items.append(item)
    return "&".join(items)
