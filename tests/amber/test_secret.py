"""amber.secret: api_location, and the helpers every redaction shares."""

from __future__ import annotations

import logging

from amber.secret import LogScrubber, Secret, api_location, first_line, mask, plain


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
