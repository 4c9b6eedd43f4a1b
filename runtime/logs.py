"""Logging set-up: the one place a process configures logging (library modules only get loggers).

    configure_logging(settings.log_level)   # once, in an entry point: lines on stderr, httpx quietened
"""

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str | int) -> None:
    logging.basicConfig(level=level, format=FORMAT, stream=sys.stderr)
    # httpx logs every request URL at INFO; ours are enough.
    logging.getLogger("httpx").setLevel(logging.WARNING)
