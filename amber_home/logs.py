"""Logging set-up, done once by each command's entry point (library modules only get loggers)."""

import logging
import sys


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx logs every request URL at INFO; ours are enough.
    logging.getLogger("httpx").setLevel(logging.WARNING)
