"""amber.secret: Secret, redact_url, api_location, and the helpers every redaction shares."""

from __future__ import annotations

import logging

import pytest

from amber.secret import LogScrubber, Secret, api_location, first_line, mask, plain, redact_url

API_KEY = "psk_FAKEKEY_q7Zx91"


# --- Secret --------------------------------------------------------------------------------


def test_secret_masks_and_reveals() -> None:
    secret = Secret(API_KEY)
    assert secret.reveal() == API_KEY
    assert repr(secret) == str(secret) == f"{secret}" == "Secret('********')"
    assert repr(Secret("x")) == repr(Secret("a much longer secret"))  # no length hint
    assert secret and not Secret("")
    assert secret == Secret(API_KEY) and secret != Secret("other") and secret != API_KEY
    assert len({secret, Secret(API_KEY)}) == 1
    with pytest.raises(AttributeError):
        secret._value = "changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Secret(None)  # type: ignore[arg-type]


# --- redact_url ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # PostgreSQL URLs keep everything but the password.
        ("postgresql://amber:s3cret@db:5432/amber", "postgresql://amber:***@db:5432/amber"),
        ("postgres://amber:s3cret@db/amber", "postgres://amber:***@db/amber"),
        ("postgresql://amber@127.0.0.1:5432/amber", "postgresql://amber@127.0.0.1:5432/amber"),
        ("postgresql://amber:p@ss@db/amber", "postgresql://amber:***@db/amber"),
        ("postgresql://amber:s3c?ret#x/y@db/amber", "postgresql://amber:***@db/amber"),
        ("postgresql://amber:s3cret@[::1]:5432/db", "postgresql://amber:***@[::1]:5432/db"),
        ("postgresql:///amber?host=/run/pg", "postgresql:///amber?host=/run/pg"),
        (
            "postgresql://amber@db/amber?sslmode=require&password=s3cret",
            "postgresql://amber@db/amber?sslmode=require&password=***",
        ),
        # key=value DSNs.
        (
            "host=db port=5432 user=amber password=s3cret dbname=amber",
            "host=db port=5432 user=amber password=*** dbname=amber",
        ),
        ("host=db password = 's3 c\\'ret' dbname=amber", "host=db password = *** dbname=amber"),
        ("host=db password='s3cret", "host=db password=***"),
        ("host=db sslpassword=s3cret", "host=db sslpassword=***"),
        # Apprise and webhook URLs: tokens may sit in user info, host, path or query.
        ("ntfy://user:s3cret@ntfy.sh/mytopic", "ntfy://***@ntfy.sh/***"),
        ("tgram://123456789:AAHs3cretToken/987654", "tgram://***/***"),
        ("discord://1234567890/s3cretToken", "discord://***/***"),
        ("pover://userKEYs3cret@tokenS3cret", "pover://***@***"),
        (
            "https://hooks.slack.com/services/T000/B000/s3cretToken",
            "https://hooks.slack.com/***",
        ),
        (
            "json://localhost:8080/notify?token=s3cret&format=json",
            "json://localhost:8080/***?token=***&format=***",
        ),
        ("mailto://user:s3cret@gmail.com?to=me@example.com", "mailto://***@gmail.com?to=***"),
        ("https://api.amber.com.au", "https://api.amber.com.au"),
        # Nothing recognisable: could be a bare token.
        ("s3cretToken", "***"),
        ("", ""),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected
    assert "s3cret" not in redact_url(url).lower()


# --- api_location --------------------------------------------------------------------------


def test_api_location_names_the_host_and_never_credentials():
    assert api_location("https://api.amber.com.au/v1") == "https://api.amber.com.au/v1"
    assert api_location("http://simulator:8765/v1") == "http://simulator:8765/v1"
    shown = api_location("https://user:s3cret@api.example.com:8443/v1?token=abc#x")
    assert shown == "https://api.example.com:8443/v1"
    assert "s3cret" not in api_location("s3cret")


# --- shared helpers -------------------------------------------------------------------------


def test_mask_replaces_every_known_secret_longest_first() -> None:
    assert mask("key abc123 and abc123456", ["abc123", "abc123456", ""]) == "key *** and ***"
    assert mask("nothing here", []) == "nothing here"


def test_plain_and_first_line() -> None:
    assert plain("text") == "text" and plain(Secret("s3cret")) == "s3cret"
    assert first_line(ValueError("  first\nsecond ")) == "first"
    assert first_line(ValueError("")) == "ValueError"


def test_log_scrubber_masks_urls_and_fragments_and_drops_debug() -> None:
    scrubber = LogScrubber({"my-secret-topic"})

    def record(level: int, msg: str, *args: object) -> logging.LogRecord:
        return logging.LogRecord("apprise", level, __file__, 1, msg, args, None)

    info = record(logging.INFO, "sent to '%s', topic %s", "https://ntfy.sh/my-secret-topic", "my-secret-topic")
    assert scrubber.filter(info) and info.getMessage() == "sent to 'https://ntfy.sh/***', topic ***"
    assert not scrubber.filter(record(logging.DEBUG, "anything"))
