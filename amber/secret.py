"""Keep secrets out of logs and messages: every redaction of Amber-Home lives here.

    key = Secret(raw)                     # repr/str: a fixed mask; key.reveal() where a client needs it
    plain(url)                            # the text of a str or Secret (anything Revealable)
    redact_url(url)                       # database and notification URLs, safe to log or show
    api_location(url)                     # where an HTTP API is, for log lines
    mask(text, [key])                     # every occurrence of known secrets replaced by ***
    secret_fragments(url)                 # the pieces of a notification URL that may be tokens
    logger.addFilter(LogScrubber(frags))  # a logger's records with URLs redacted and fragments masked
    first_line(exc)                       # one line of an exception, for a one-line error message

`Secret` holds an API key or password so that an accidental `print(settings)`, log line or
traceback shows a mask instead of the value; code that needs the value calls `reveal()`.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Iterable
from typing import Protocol
from urllib.parse import unquote, urlsplit

__all__ = [
    "MASK",
    "LogScrubber",
    "Revealable",
    "Secret",
    "api_location",
    "first_line",
    "mask",
    "plain",
    "redact_url",
    "secret_fragments",
]

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


class Revealable(Protocol):
    """What a function that takes a secret or a plain string accepts besides `str` (a `Secret`)."""

    def reveal(self) -> str: ...


def plain(value: str | Revealable) -> str:
    """The text of `value`: itself if a str, else revealed. Call it only where the value is handed on."""
    return value if isinstance(value, str) else value.reveal()


def first_line(exc: BaseException) -> str:
    """The first line of `exc`'s message (libpq's run to several), or its type's name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def mask(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of each of `secrets` replaced by the mask; longer ones first, so a
    secret that contains another is masked whole. Empty strings are ignored."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


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


# --- notification URLs in free text (Apprise's log lines) ----------------------------------------------

_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def secret_fragments(url: str) -> set[str]:
    """Pieces of a notification URL that may be tokens: user info, undotted hosts (tgram://BOT:TOKEN/…),
    path segments and query values, raw and percent-decoded. Dotted host names like ntfy.sh stay."""
    rest = url.partition("://")[2].partition("#")[0]
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, _, hostport = netloc.rpartition("@")
    found = {p for part in userinfo.split(":") if part for p in (part, unquote(part))}  # always secret
    pieces = [p for p in hostport.split(":") if "." not in p]
    pieces += path.split("/") + [item.partition("=")[2] for item in query.split("&")]
    # Shorter pieces are words like "hook" or port numbers, not worth masking.
    found |= {v for piece in pieces for v in (piece, unquote(piece)) if len(v) >= 6}
    return found


class LogScrubber(logging.Filter):
    """A filter for a library's logger that may log secrets (Apprise logs service URLs: ntfy the topic URL
    at INFO, most plugins request URLs and payloads at DEBUG). Drops DEBUG and TRACE lines, redacts URLs
    with redact_url, masks every fragment in `fragments` (add more as they become known) and hides
    tracebacks."""

    def __init__(self, fragments: Iterable[str] = ()) -> None:
        super().__init__()
        self.fragments: set[str] = set(fragments)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.INFO:
            return False
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001  a malformed record must not break the call that logged it
            message = str(record.msg)
        clean = mask(_URL_IN_TEXT.sub(lambda m: redact_url(m.group()), message), self.fragments)
        if record.exc_info or record.exc_text:
            record.exc_info, record.exc_text = None, None
            clean += " (traceback hidden: it may hold a notification URL)"
        if clean != message:
            record.msg, record.args = clean, ()
        return True
