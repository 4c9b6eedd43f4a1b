"""Exceptions raised by the Amber API layer.

    AmberError                    base; never raised itself
     ├── AmberAuthError           401/403: the key is missing, wrong or revoked. Fatal: stop, fix config.
     ├── AmberNotFoundError       404: unknown site id or state.
     ├── AmberBadRequestError     400/422 (and other 4xx), or arguments refused locally before sending;
     │                            carries the API's own message.
     ├── AmberRateLimitedError    429: wait for `reset_seconds` / `retry_after`, then try again.
     ├── AmberUnavailableError    5xx, timeouts, connection errors: back off and try again later.
     └── AmberResponseError       2xx whose body is unusable: not JSON, wrong shape, missing field.

Every error carries `endpoint` (a bounded label such as "prices") and `status` (HTTP status or None).
Messages are built by the client from its own text plus the API's message with the key redacted, so
no message, str or repr contains the API key.
"""

from __future__ import annotations

KEY_HELP_URL = "https://app.amber.com.au/developers"


class AmberError(Exception):
    """Base class for everything the Amber client raises on purpose."""

    def __init__(self, message: str, *, endpoint: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.endpoint = endpoint
        self.status = status

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, endpoint={self.endpoint!r}, status={self.status!r})"


class AmberAuthError(AmberError):
    """401/403. Retrying cannot help; the operator must supply a valid key."""


class AmberNotFoundError(AmberError):
    """404: the site id (or renewables state) does not exist for this account."""


class AmberBadRequestError(AmberError):
    """400/422 from the API, or invalid arguments caught before sending."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        status: int | None = None,
        api_message: str | None = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint, status=status)
        self.api_message = api_message


class AmberRateLimitedError(AmberError):
    """429 after the client's bounded waits were used up. Header values are None when absent."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        status: int | None = 429,
        reset_seconds: float | None = None,
        remaining: int | None = None,
        limit: int | None = None,
        policy: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint, status=status)
        self.reset_seconds = reset_seconds
        self.remaining = remaining
        self.limit = limit
        self.policy = policy
        self.retry_after = retry_after

    @property
    def wait_seconds(self) -> float | None:
        """The longest wait the server asked for, or None if it gave no hint."""
        hints = [s for s in (self.reset_seconds, self.retry_after) if s is not None]
        return max(hints) if hints else None


class AmberUnavailableError(AmberError):
    """5xx, timeout or connection failure that outlasted the client's bounded retries."""


class AmberResponseError(AmberError):
    """A successful status with a body we cannot use. `field` names the offending field, if any."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        status: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint, status=status)
        self.field = field
