"""`amber-home doctor` and `amber-home migrate` against the real simulator and the real TimescaleDB."""

import io

import pytest

from amber_home.cli import main
from maintenance import doctor
from simulator import SimulatorConfig, SimulatorServer

SECRET_PASSWORD = "s3cret-doctor-pw"


@pytest.fixture(scope="module")
def sim():
    with SimulatorServer(SimulatorConfig(seed=7, sites=2, api_key="doctor-key-XYZ")) as server:
        yield server


def env_for(sim, db_url, **extra):
    return {"AMBER_API_KEY": sim.api_key, "AMBER_API_BASE_URL": sim.base_url, "DATABASE_URL": db_url, **extra}


def statuses(checks):
    return {(c.name, c.status) for c in checks}


def test_fresh_database_needs_migrate_then_all_ok(sim, apache_db, capsys):
    checks = doctor.run_checks(env_for(sim, apache_db))
    assert ("Amber API", doctor.OK) in statuses(checks)
    assert ("migrations", doctor.FAIL) in statuses(checks) or ("TimescaleDB", doctor.FAIL) in statuses(checks)

    assert main(["migrate"], env_for(sim, apache_db)) == 0
    assert "applied" in capsys.readouterr().out
    assert main(["migrate"], env_for(sim, apache_db)) == 0
    assert "up to date" in capsys.readouterr().out

    checks = doctor.run_checks(env_for(sim, apache_db))
    by_name = {c.name: c for c in checks}
    assert all(c.status != doctor.FAIL for c in checks), checks
    assert "license apache" in by_name["TimescaleDB"].detail
    assert "materialized views refreshed by the loader" in by_name["TimescaleDB"].detail
    assert "2 site(s)" in by_name["Amber API"].detail
    assert by_name["data"].status == doctor.WARN  # no rows yet: tells the user to backfill

    out = io.StringIO()
    doctor.render(checks, file=out)
    table = out.getvalue()
    assert "Amber API" in table and "TimescaleDB" in table
    assert sim.api_key not in table


def test_wrong_key_and_unreachable_database_fail_without_leaking_secrets(sim, capsys):
    url = f"postgresql://amber:{SECRET_PASSWORD}@127.0.0.1:1/amber"
    env = {"AMBER_API_KEY": "wrong-key-ABC", "AMBER_API_BASE_URL": sim.base_url, "DATABASE_URL": url}
    assert main(["doctor"], env) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out
    assert "app.amber.com.au/developers" in out  # how to create a key
    assert "cannot connect" in out
    assert SECRET_PASSWORD not in out and "wrong-key-ABC" not in out


def test_invalid_configuration_is_reported_not_raised():
    checks = doctor.run_checks({"AMBER_TIMEZONE": "Mars/Olympus", "LOG_LEVEL": "LOUD"})
    assert [c.status for c in checks] == [doctor.FAIL, doctor.FAIL]
    assert any("AMBER_TIMEZONE" in c.detail for c in checks)


def test_migrate_reports_unreachable_database_in_one_line(capsys):
    env = {"DATABASE_URL": f"postgresql://amber:{SECRET_PASSWORD}@127.0.0.1:1/amber"}
    assert main(["migrate"], env) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot reach the database at postgresql://amber:***@127.0.0.1:1/amber")
    assert len(err.splitlines()) == 1 and SECRET_PASSWORD not in err
