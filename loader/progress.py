"""How a backfill shows its progress; display only — `loader.backfill` reports facts, this module
turns them into a progress bar or log lines.

    make_progress(stream=sys.stderr) -> RichProgress on a terminal, LogProgress otherwise
    eta_seconds(requests_left, rate, seconds_per_request) -> float   (pure)

Both reporters take the same calls: `start(plan)`, `window_done(event)` after each window, and
`finish(result)`. On a terminal (`rich`): one bar with requests done/total, rows written and an ETA;
log records emitted meanwhile are printed above the bar. Elsewhere (Docker logs, CI, a pipe): one
INFO line per window and a summary line.

The ETA accounts for the rate limit: the account allows `limit` requests per `window` seconds and the
backfill leaves `reserve` of them to the exporter, so N requests cannot take less than about
N / (limit − reserve) windows, however fast the last few went. The estimate is the larger of that
bound (starting from what the current window still allows and when it resets) and the time the
requests take at the speed measured so far.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TextIO

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from loader.backfill import BackfillResult
    from loader.windows import Plan, Window

__all__ = [
    "LogProgress",
    "NullProgress",
    "ProgressReporter",
    "RateState",
    "RichProgress",
    "WindowEvent",
    "eta_seconds",
    "format_duration",
    "make_progress",
]

logger = logging.getLogger("loader.backfill")


@dataclass(frozen=True, slots=True)
class RateState:
    """The request budget as the client sees it right now."""

    limit: int  # requests per window (from RateLimit-Policy once the server has answered)
    window: float  # seconds
    reserve: int  # requests per window left to the exporter
    remaining: int  # requests the account has left in the current window
    reset_in: float | None  # seconds until the current window resets, if known
    blocked_for: float | None = None  # seconds a 429 still blocks sending, if any

    @property
    def usable(self) -> int:
        return max(1, self.limit - self.reserve)

    @property
    def per_second(self) -> float:
        """Requests per second the backfill may sustain."""
        return self.usable / self.window


def eta_seconds(requests_left: int, rate: RateState, seconds_per_request: float) -> float:
    """Seconds the remaining requests need: the rate limit's bound or the measured speed, whichever
    is slower (see the module doc)."""
    if requests_left <= 0:
        return 0.0
    work = requests_left * max(seconds_per_request, 0.0)
    blocked = max(rate.blocked_for or 0.0, 0.0)
    available = 0 if blocked > 0 else max(0, rate.remaining - rate.reserve)
    if requests_left <= available:
        return work
    beyond = requests_left - available
    first_reset = max(blocked, rate.reset_in if rate.reset_in is not None else rate.window, 0.0)
    batches = math.ceil(beyond / rate.usable)
    last_batch = beyond - (batches - 1) * rate.usable
    bound = first_reset + (batches - 1) * rate.window + last_batch * max(seconds_per_request, 0.0)
    return max(work, bound)


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


@dataclass(frozen=True, slots=True)
class WindowEvent:
    """What happened to one window, and where the whole backfill stands after it."""

    window: Window
    rows: int  # rows the API returned for the window (after filtering to its days)
    written: int  # rows inserted or updated
    complete: bool  # recorded as complete (False: the newest days, fetched again next run)
    requests_done: int  # window requests made so far by this run
    requests_total: int  # window requests this run plans to make
    rows_written: int  # rows written so far by this run
    elapsed: float  # seconds since the run started
    seconds_per_request: float  # measured, excluding waits for the rate limit
    rate: RateState

    @property
    def requests_left(self) -> int:
        return max(0, self.requests_total - self.requests_done)

    @property
    def eta(self) -> float:
        return eta_seconds(self.requests_left, self.rate, self.seconds_per_request)


class ProgressReporter(Protocol):
    """`start` once, `window_done` per window, `finish` on success; `close` always (idempotent)."""

    def start(self, plan: Plan) -> None: ...
    def window_done(self, event: WindowEvent) -> None: ...
    def finish(self, result: BackfillResult) -> None: ...
    def close(self) -> None: ...


class NullProgress:
    """Reports nothing (tests, library use)."""

    def start(self, plan: Plan) -> None:
        pass

    def window_done(self, event: WindowEvent) -> None:
        pass

    def finish(self, result: BackfillResult) -> None:
        pass

    def close(self) -> None:
        pass


def _plan_line(plan: Plan) -> str:
    sites = len({w.site_id for w in plan.windows})
    done = sum(plan.done_days.values())
    line = (
        f"backfill plan: {plan.requests} requests ({plan.days} days in windows of up to "
        f"{plan.days_per_request}) for {sites} site(s)"
    )
    if done:
        line += f"; {done} days already complete are skipped"
    return line


def summary_line(result: BackfillResult) -> str:
    line = (
        f"backfill finished: {result.requests} requests for {result.windows_done} windows, "
        f"{result.rows_written:,} rows written in {format_duration(result.elapsed)}; "
        f"{result.windows_complete} windows complete"
    )
    if result.windows_open:
        line += f", {result.windows_open} left open (newest days, fetched again next run)"
    if result.rate_limited:
        line += f"; {result.rate_limited} rate-limit waits"
    if result.windows_failed:
        line += f"; {result.windows_failed} windows FAILED — run again to retry them"
    return line


class LogProgress:
    """One log line per window and a summary, for logs that are not a terminal."""

    def start(self, plan: Plan) -> None:
        logger.info("%s", _plan_line(plan))

    def window_done(self, event: WindowEvent) -> None:
        logger.info(
            "backfill %d/%d: %s: %d rows, %d written, %s; %s left",
            event.requests_done,
            event.requests_total,
            event.window,
            event.rows,
            event.written,
            "complete" if event.complete else "left open",
            format_duration(event.eta),
        )

    def finish(self, result: BackfillResult) -> None:
        logger.info("%s", summary_line(result))

    def close(self) -> None:
        pass


class RichProgress:
    """A `rich` progress bar on a terminal: requests done/total, rows written, rate-limit-aware ETA."""

    def __init__(self, stream: TextIO | None = None, *, clock=time.monotonic) -> None:
        from rich.console import Console

        self._console = Console(file=stream or sys.stderr)
        self._clock = clock
        self._progress: Progress | None = None
        self._task: TaskID  # set by start(); read only while there is a bar (self._progress)
        self._restore: list[tuple[logging.StreamHandler, TextIO]] = []

    def _columns(self):
        from rich.progress import BarColumn, ProgressColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
        from rich.text import Text

        clock = self._clock

        class EtaColumn(ProgressColumn):
            """Counts down from the last estimate between updates."""

            def render(self, task) -> Text:
                eta_at = task.fields.get("eta_at")
                if eta_at is None:
                    return Text("ETA –", style="progress.remaining")
                return Text(f"ETA {format_duration(max(0.0, eta_at - clock()))}", style="progress.remaining")

        return (
            TextColumn("[bold]backfill"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.completed}/{task.total} requests"),
            TextColumn("{task.fields[rows]:,} rows"),
            TimeElapsedColumn(),
            EtaColumn(),
            TextColumn("{task.fields[current]}", style="dim"),
        )

    def start(self, plan: Plan) -> None:
        from rich.progress import Progress

        self._console.print(_plan_line(plan), highlight=False)
        self._progress = Progress(*self._columns(), console=self._console, transient=False)
        self._progress.start()
        self._task = self._progress.add_task("backfill", total=plan.requests, rows=0, current="", eta_at=None)
        self._route_logging()

    def window_done(self, event: WindowEvent) -> None:
        if self._progress is None:
            return
        self._progress.update(
            self._task,
            completed=event.requests_done,
            total=event.requests_total,
            rows=event.rows_written,
            current=f"{event.window.stream} {event.window.end}",
            eta_at=self._clock() + event.eta,
        )

    def finish(self, result: BackfillResult) -> None:
        if self._progress is not None:
            self._progress.update(self._task, eta_at=self._clock(), current="")
        self.close()
        self._console.print(summary_line(result), highlight=False)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._unroute_logging()
            self._progress = None

    # While the bar is live, log records must go through the console or they tear the bar apart.
    def _route_logging(self) -> None:
        from rich.file_proxy import FileProxy

        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stderr, sys.__stderr__):
                self._restore.append((handler, handler.stream))
                handler.setStream(FileProxy(self._console, handler.stream))

    def _unroute_logging(self) -> None:
        for handler, stream in self._restore:
            handler.setStream(stream)
        self._restore.clear()


def make_progress(stream: TextIO | None = None) -> ProgressReporter:
    """A progress bar when `stream` (default stderr) is a terminal, log lines otherwise."""
    stream = stream or sys.stderr
    try:
        interactive = stream.isatty()
    except (AttributeError, ValueError):
        interactive = False
    return RichProgress(stream) if interactive else LogProgress()
