"""`amber-home doctor`'s checks: the configuration, the API key, the database, TimescaleDB and the
migrations, printed as one table of what is OK and what to fix.

    run(environ) -> exit status                  check, print the table; 1 when anything failed
    run_checks(environ, make_client=None) -> [Check]
    render(checks, file=None)

Each check returns `Check` rows and never raises for the condition it checks, so one broken part
does not hide the state of the others. The API key is used (one /sites request) but never printed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from runtime.database import scalar

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # OK | WARN | FAIL
    detail: str


def check_settings(environ: Mapping[str, str]):
    """(Settings or None, checks)."""
    from runtime.settings import ConfigError, Settings

    try:
        settings = Settings.from_env(environ)
    except ConfigError as exc:
        return None, [Check("configuration", FAIL, problem) for problem in exc.problems]
    return settings, [Check("configuration", OK, f"valid; local days in {settings.timezone_name}")]


def check_api(settings, make_client: Callable) -> Check:
    from amber.errors import AmberAuthError, AmberError
    from runtime.client import with_demo_key
    from runtime.settings import ConfigError

    # The same key rule as the services (a simulator gets its demo key), so `docker compose exec
    # SERVICE amber-home doctor` checks what that service uses.
    try:
        settings, _demo = with_demo_key(settings)
    except ConfigError as exc:
        return Check("Amber API", FAIL, exc.problems[0])
    try:
        with make_client(settings) as client:
            sites = client.sites()
    except AmberAuthError as exc:
        return Check("Amber API", FAIL, str(exc))
    except AmberError as exc:
        from amber.secret import redact_url

        return Check("Amber API", FAIL, f"{redact_url(settings.api_base_url)}: {exc}")
    wanted = settings.site_ids
    names = ", ".join(f"{s.id} ({s.status}, {s.interval_length or '?'} min)" for s in sites)
    if wanted and (missing := sorted(set(wanted) - {s.id for s in sites})):
        return Check("Amber API", FAIL, f"AMBER_SITE_ID names sites this key cannot see: {', '.join(missing)}")
    if not sites:
        return Check("Amber API", WARN, "the key works but sees no sites yet")
    return Check("Amber API", OK, f"key accepted; {len(sites)} site(s): {names}")


def check_database(settings) -> list[Check]:
    import psycopg

    from amber.secret import first_line, redact_url
    from loader.migrate import migration_status
    from runtime.database import connect

    where = redact_url(settings.database_url.reveal())
    try:
        conn = connect(settings.database_url, application_name="amber-home doctor", autocommit=True)
    except psycopg.Error as exc:
        return [Check("database", FAIL, f"cannot connect to {where}: {first_line(exc)}; check DATABASE_URL")]
    with conn:
        version = scalar(conn, "SHOW server_version")
        checks = [Check("database", OK, f"{where} (PostgreSQL {version})")]
        status = migration_status(conn)
        if status.timescaledb_version is None:
            available = conn.execute(
                "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'"
            ).fetchone()
            fix = "run amber-home migrate" if available else "install TimescaleDB on the server"
            checks.append(Check("TimescaleDB", FAIL, f"extension not installed: {fix}"))
        else:
            kind = {
                "continuous": "continuous aggregates with refresh policies",
                "materialized view": "materialized views refreshed by the loader",
            }.get(status.aggregate_kind or "", "not created yet")
            checks.append(
                Check("TimescaleDB", OK, f"{status.timescaledb_version}, license {status.license}; aggregates: {kind}")
            )
        problems = status.problems(timezone=settings.timezone_name)
        if problems:
            checks += [Check("migrations", FAIL if status.pending or status.changed else WARN, p) for p in problems]
        else:
            checks.append(Check("migrations", OK, f"{len(status.applied)} applied, none pending"))
        if status.timescaledb_version is not None and not status.pending:
            checks.append(check_data(conn))
            checks += check_jobs(conn)
    return checks


def check_jobs(conn) -> list[Check]:
    """TimescaleDB's background jobs (exporter.jobs.judge): a row per job that is not fine, else one row."""
    import datetime as dt

    from exporter.jobs import judge, read_jobs

    jobs = read_jobs(conn)
    if not jobs:
        return []
    now = dt.datetime.now(dt.UTC)
    verdicts = [judge(job, now) for job in jobs]
    problems = [Check("TimescaleDB jobs", v.level, v.detail) for v in verdicts if v.level != OK]
    if problems:
        return problems
    return [Check("TimescaleDB jobs", OK, f"{len(jobs)} job(s) doing their work")]


def check_data(conn) -> Check:
    newest = conn.execute(
        "SELECT max(interval_end), now() - max(interval_end) FROM prices WHERE interval_type = 'ActualInterval'"
    ).fetchone()
    if newest[0] is None:
        return Check("data", WARN, "no prices yet: run amber-home backfill, then amber-home collect")
    age_minutes = int(newest[1].total_seconds() // 60)
    status = OK if age_minutes <= 30 else WARN
    hint = "" if status == OK else " — is amber-home collect running?"
    return Check("data", status, f"newest actual price {newest[0]:%Y-%m-%d %H:%M} UTC ({age_minutes} min ago){hint}")


def run_checks(environ: Mapping[str, str], make_client: Callable | None = None) -> list[Check]:
    from runtime.client import client_from_settings

    settings, checks = check_settings(environ)
    if settings is None:
        return checks
    checks.append(check_api(settings, make_client or client_from_settings))
    checks += check_database(settings)
    return checks


def render(checks: Sequence[Check], file=None) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    marks = {OK: "[green]OK[/]", WARN: "[yellow]WARN[/]", FAIL: "[red]FAIL[/]"}
    table = Table("check", "status", "detail", title="amber-home doctor", title_justify="left")
    for check in checks:
        # Text, not markup: a detail quoting "[/x]" from a server or a file is printed as it is.
        table.add_row(Text(check.name), marks[check.status], Text(check.detail))
    Console(file=file or sys.stdout, width=120).print(table)


def run(environ: Mapping[str, str]) -> int:
    """Run every check and print the table; exit status 1 when anything failed."""
    checks = run_checks(environ)
    render(checks)
    return 1 if any(check.status == FAIL for check in checks) else 0
