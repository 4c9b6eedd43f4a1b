"""Stopping long-running services cleanly: `docker stop` sends SIGTERM, Ctrl-C sends SIGINT.

    stop = threading.Event()
    stop_on_signals(stop, logger)   # then loop until stop.is_set(), finish the step, exit 0
"""

import logging
import signal
import threading


def stop_on_signals(stop: threading.Event, logger: logging.Logger) -> None:
    """Set `stop` on SIGTERM or SIGINT (logging which), so the service finishes its current step and exits 0."""

    def _stop(signum: int, _frame: object) -> None:
        logger.info("received %s; stopping", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stop)
