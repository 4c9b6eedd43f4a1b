"""Tests for runtime.settings (Settings.from_env); amber.secret's own are in tests/amber/test_secret.py."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import re
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from amber.secret import Secret, redact_url
from runtime.settings import (
    DOCUMENTED_IN,
    ConfigError,
    MqttBroker,
    Settings,
    load_settings_or_exit,
    settings_table_markdown,
)

# Distinctive fake secrets, so "not in the output" checks cannot pass by accident.
API_KEY = "psk_FAKEKEY_q7Zx91"
DB_PASSWORD = "dbPW_fake_K2v8"
DB_URL = f"postgresql://amber:{DB_PASSWORD}@db:5432/amber"
READER_PASSWORD = "readerPW_fake_M4t3"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def load(**env: str) -> Settings:
    return Settings.from_env(env, now=NOW)


def problems(**env: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(**env)
    return info.value


# --- defaults and valid values -------------------------------------------------------------


def test_empty_environment_gives_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.api_key is None
    assert not settings.has_api_key
    assert settings.api_base_url == "https://api.amber.com.au/v1"
    assert settings.database_url.reveal() == "postgresql://amber@127.0.0.1:5432/amber"
    assert settings.historical_start_date is None
    assert settings.site_ids is None
    assert settings.timezone == ZoneInfo("Australia/Sydney")
    assert settings.timezone_name == "Australia/Sydney"
    assert settings.log_level == "INFO"
    assert settings.reader_password is None
    assert settings.exporter_port == 9847


def test_empty_values_count_as_unset() -> None:
    blank = {name: "" for name in ("AMBER_API_KEY", "AMBER_TIMEZONE", "EXPORTER_PORT",
                                   "DATABASE_URL", "DATABASE_URL_FILE", "LOG_LEVEL")}
    assert Settings.from_env(blank) == Settings.from_env({})


def test_valid_values_are_parsed() -> None:
    settings = load(
        AMBER_API_KEY=f"  {API_KEY}\n",
        AMBER_API_BASE_URL="http://simulator:8080/v1/",
        DATABASE_URL=DB_URL,
        HISTORICAL_START_DATE="2023-07-01",
        AMBER_SITE_ID=" 01F5A5CRKMZ5BCX9P1S4V990AM, SITE_2,,SITE_2 ",
        AMBER_TIMEZONE="Australia/Perth",
        LOG_LEVEL="debug",
        AMBER_READER_PASSWORD=READER_PASSWORD,
        EXPORTER_PORT="9100",
    )
    assert settings.has_api_key
    assert settings.api_key == Secret(API_KEY)
    assert settings.api_base_url == "http://simulator:8080/v1"
    assert settings.database_url.reveal() == DB_URL
    assert settings.historical_start_date == date(2023, 7, 1)
    assert settings.site_ids == ("01F5A5CRKMZ5BCX9P1S4V990AM", "SITE_2")
    assert settings.timezone_name == "Australia/Perth"
    assert settings.log_level == "DEBUG"
    assert settings.reader_password is not None
    assert settings.reader_password.reveal() == READER_PASSWORD
    assert settings.exporter_port == 9100


def test_settings_are_frozen() -> None:
    settings = Settings.from_env({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.log_level = "DEBUG"  # type: ignore[misc]


# --- invalid values ------------------------------------------------------------------------


def test_every_problem_is_reported_together() -> None:
    error = problems(AMBER_TIMEZONE="Mars/Olympus_Mons", LOG_LEVEL="LOUD", EXPORTER_PORT="0")
    lines = str(error).splitlines()
    assert lines[0] == "Invalid configuration (3 problems):"
    assert len(lines) == 4 and len(error.problems) == 3
    assert any(line.startswith("  - AMBER_TIMEZONE='Mars/Olympus_Mons': ") for line in lines)
    assert any(line.startswith("  - LOG_LEVEL='LOUD': must be one of DEBUG") for line in lines)
    assert any(line.startswith("  - EXPORTER_PORT='0': ") and "1 to 65535" in line for line in lines)


@pytest.mark.parametrize(
    ("name", "value", "fix"),
    [
        ("AMBER_API_BASE_URL", "api.amber.com.au/v1", "http:// or https://"),
        ("AMBER_API_BASE_URL", "ftp://api.amber.com.au", "http:// or https://"),
        ("AMBER_API_BASE_URL", "https://", "http:// or https://"),
        ("AMBER_API_BASE_URL", "http://host:port/v1", "http:// or https://"),
        ("HISTORICAL_START_DATE", "01/07/2023", "YYYY-MM-DD"),
        ("HISTORICAL_START_DATE", "20230701", "YYYY-MM-DD"),
        ("HISTORICAL_START_DATE", "2023-02-30", "YYYY-MM-DD"),
        ("AMBER_SITE_ID", "site one", "separated by commas"),
        ("AMBER_SITE_ID", ",", "separated by commas"),
        ("LOG_LEVEL", "TRACE", "DEBUG, INFO, WARNING, ERROR"),
        ("EXPORTER_PORT", "65536", "1 to 65535"),
        ("EXPORTER_PORT", "http", "1 to 65535"),
        ("EXPORTER_PORT", "-1", "1 to 65535"),
        ("MQTT_TOPIC_PREFIX", "amber/#", "without wildcards"),
        ("MQTT_TOPIC_PREFIX", "amber//home", "empty levels"),
        ("MQTT_DISCOVERY_PREFIX", "home assistant", "without wildcards, spaces"),
        ("MQTT_USERNAME", "amber home", "whitespace"),
    ],
)
def test_invalid_value_names_variable_value_and_fix(name: str, value: str, fix: str) -> None:
    (problem,) = problems(**{name: value}).problems
    assert problem.startswith(f"{name}={value!r}: ")
    assert fix in problem


@pytest.mark.parametrize(
    "zone", ["Australia/Sydney", "Australia/Brisbane", "Australia/Adelaide", "UTC"]
)
def test_valid_time_zones(zone: str) -> None:
    assert load(AMBER_TIMEZONE=zone).timezone == ZoneInfo(zone)


@pytest.mark.parametrize(
    "zone",
    ["Mars/Olympus_Mons", "australia/sydney", "Australia", "/etc/passwd", "../etc/x", "AEST"],
)
def test_invalid_time_zones(zone: str) -> None:
    (problem,) = problems(AMBER_TIMEZONE=zone).problems
    assert problem.startswith(f"AMBER_TIMEZONE={zone!r}: is not an IANA time zone name")
    assert "Australia/Sydney" in problem


def test_start_date_in_the_future_is_judged_in_the_configured_zone() -> None:
    # 15:00 UTC on 30 June is already 1 July in Sydney (UTC+10) but not in Perth (UTC+8).
    now = datetime(2024, 6, 30, 15, 0, tzinfo=UTC)
    env = {"HISTORICAL_START_DATE": "2024-07-01"}
    assert Settings.from_env(env, now=now).historical_start_date == date(2024, 7, 1)
    with pytest.raises(ConfigError) as info:
        Settings.from_env({**env, "AMBER_TIMEZONE": "Australia/Perth"}, now=now)
    (problem,) = info.value.problems
    assert problem.startswith("HISTORICAL_START_DATE='2024-07-01': is in the future")
    assert "2024-06-30 in Australia/Perth" in problem


def test_future_date_check_still_runs_when_the_zone_is_invalid() -> None:
    error = problems(HISTORICAL_START_DATE="2099-01-01", AMBER_TIMEZONE="Nowhere/Land")
    assert len(error.problems) == 2


def test_load_settings_or_exit(capsys: pytest.CaptureFixture[str]) -> None:
    assert load_settings_or_exit({"LOG_LEVEL": "error"}).log_level == "ERROR"
    with pytest.raises(SystemExit) as info:
        load_settings_or_exit({"LOG_LEVEL": "LOUD", "EXPORTER_PORT": "x"})
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "LOG_LEVEL='LOUD'" in err and "EXPORTER_PORT='x'" in err


# --- secrets from files --------------------------------------------------------------------


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_secrets_are_read_from_files(tmp_path: Path) -> None:
    settings = load(
        AMBER_API_KEY_FILE=write(tmp_path, "key", f"\n {API_KEY}\n"),
        DATABASE_URL_FILE=write(tmp_path, "db", DB_URL + "\n"),
        AMBER_READER_PASSWORD_FILE=write(tmp_path, "reader", READER_PASSWORD),
    )
    assert settings.api_key == Secret(API_KEY)
    assert settings.database_url == Secret(DB_URL)
    assert settings.reader_password == Secret(READER_PASSWORD)


def test_value_and_file_both_set_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "key", API_KEY)
    (problem,) = problems(AMBER_API_KEY=API_KEY, AMBER_API_KEY_FILE=path).problems
    assert problem == "AMBER_API_KEY and AMBER_API_KEY_FILE are both set; set only one of them"


def test_file_problems_are_reported_for_each_variable(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    empty = write(tmp_path, "empty", " \n")
    not_text = tmp_path / "binary"
    not_text.write_bytes(b"\xff\xfe" + API_KEY.encode())
    error = problems(
        AMBER_API_KEY_FILE=missing,
        DATABASE_URL_FILE=str(tmp_path),  # a directory
        AMBER_READER_PASSWORD_FILE=empty,
    )
    fix = "check the path and that the secret is mounted"
    assert error.problems == (
        f"AMBER_API_KEY_FILE={missing!r}: cannot read the file (No such file or directory); {fix}",
        f"DATABASE_URL_FILE={str(tmp_path)!r}: cannot read the file (Is a directory); {fix}",
        f"AMBER_READER_PASSWORD_FILE={empty!r}: the file is empty; put the secret in it",
    )
    (problem,) = problems(AMBER_API_KEY_FILE=str(not_text)).problems
    assert problem.endswith("the file is not UTF-8 text")


def test_invalid_secret_from_file_names_the_file_but_not_the_value(tmp_path: Path) -> None:
    path = write(tmp_path, "db", f"mysql://amber:{DB_PASSWORD}@db/amber")
    (problem,) = problems(DATABASE_URL_FILE=path).problems
    assert problem.startswith("DATABASE_URL (from DATABASE_URL_FILE): must be a URL like ")
    assert DB_PASSWORD not in problem


# --- secrets never leak --------------------------------------------------------------------


def test_secrets_do_not_appear_in_settings_str_or_repr() -> None:
    settings = load(
        AMBER_API_KEY=API_KEY, DATABASE_URL=DB_URL, AMBER_READER_PASSWORD=READER_PASSWORD
    )
    for text in (str(settings), repr(settings), f"{settings}"):
        for secret in (API_KEY, DB_PASSWORD, READER_PASSWORD):
            assert secret not in text
        assert "Secret('********')" in text


def test_secrets_do_not_appear_in_config_errors() -> None:
    error = problems(
        AMBER_API_KEY=f"Bearer {API_KEY}",
        DATABASE_URL=f"mysql://amber:{DB_PASSWORD}@db/amber",
        AMBER_READER_PASSWORD=READER_PASSWORD,
        AMBER_READER_PASSWORD_FILE="/run/secrets/reader",
        LOG_LEVEL="LOUD",
    )
    message = str(error)
    assert len(error.problems) == 4
    for secret in (API_KEY, "Bearer", DB_PASSWORD, "mysql", READER_PASSWORD):
        assert secret not in message
    assert "AMBER_API_KEY: contains whitespace" in message
    assert "DATABASE_URL: must be a URL like postgresql://" in message


# --- Secret --------------------------------------------------------------------------------


def test_secret_survives_copy_and_pickle() -> None:
    secret = Secret(API_KEY)
    assert copy.deepcopy(secret) == secret
    assert pickle.loads(pickle.dumps(secret)) == secret
    settings = load(AMBER_API_KEY=API_KEY)
    assert dataclasses.asdict(settings)["api_key"] == secret


# --- docs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("doc_path", DOCUMENTED_IN)
def test_docs_table_matches_the_settings(doc_path: str) -> None:
    doc = (Path(__file__).parents[2] / doc_path).read_text(encoding="utf-8")
    match = re.search(r"<!-- BEGIN generated[^\n]*-->\n(.*?)<!-- END generated -->", doc, re.DOTALL)
    assert match, f"{doc_path} lost its generated-table markers"
    assert match.group(1) == settings_table_markdown(), (
        f"{doc_path} is stale: regenerate the tables with `uv run python -m runtime.settings --write`"
    )


def test_docs_table_lists_every_variable_and_file_variant() -> None:
    names = re.findall(r"^\| `(\w+)` \|", settings_table_markdown(), re.MULTILINE)
    # The first variables in their documented order; later ones are appended as features add them.
    assert names[:12] == [
        "AMBER_API_KEY", "AMBER_API_KEY_FILE", "AMBER_API_BASE_URL", "DATABASE_URL",
        "DATABASE_URL_FILE", "HISTORICAL_START_DATE", "AMBER_SITE_ID", "AMBER_TIMEZONE",
        "LOG_LEVEL", "AMBER_READER_PASSWORD", "AMBER_READER_PASSWORD_FILE", "EXPORTER_PORT",
    ]
    assert len(names) == len(set(names))
    settings_fields = {f.name for f in dataclasses.fields(Settings)}
    for name in names:
        if name.endswith("_FILE"):
            assert name.removesuffix("_FILE") in names, f"{name} without its variable"
    documented = {n for n in names if not n.endswith("_FILE")}
    assert len(documented) <= len(settings_fields), "a documented variable fills no Settings field"


# --- MQTT -------------------------------------------------------------------------------------------


def test_mqtt_is_off_without_a_url_and_has_home_assistant_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.mqtt_url is None and settings.mqtt_username is None and settings.mqtt_password is None
    assert settings.mqtt_topic_prefix == "amber-home" and settings.mqtt_discovery_prefix == "homeassistant"


@pytest.mark.parametrize(
    ("url", "broker"),
    [
        ("mqtt://mosquitto", MqttBroker("mosquitto", 1883, False)),
        ("mqtt://192.168.1.5:1884/", MqttBroker("192.168.1.5", 1884, False)),
        ("mqtts://broker.example.org", MqttBroker("broker.example.org", 8883, True)),
    ],
)
def test_mqtt_urls(url: str, broker: MqttBroker) -> None:
    assert load(MQTT_URL=url).mqtt_url == broker
    assert str(broker).startswith(("mqtt://", "mqtts://"))


@pytest.mark.parametrize(
    ("url", "fix"),
    [
        ("tcp://mosquitto:1883", "mqtt:// or mqtts://"),
        ("mqtt://", "mqtt:// or mqtts://"),
        ("mqtt://mosquitto:port", "mqtt:// or mqtts://"),
        ("mqtt://mosquitto:1883/amber", "MQTT_TOPIC_PREFIX"),
        (f"mqtt://amber:{READER_PASSWORD}@mosquitto:1883", "MQTT_USERNAME and MQTT_PASSWORD"),
    ],
)
def test_bad_mqtt_urls_say_the_fix_and_are_never_quoted(url: str, fix: str) -> None:
    (problem,) = problems(MQTT_URL=url).problems
    assert problem.startswith("MQTT_URL: ") and fix in problem
    assert READER_PASSWORD not in problem


def test_the_mqtt_password_comes_from_a_file_and_needs_a_user(tmp_path: Path) -> None:
    path = write(tmp_path, "mqtt", f"{READER_PASSWORD}\n")
    settings = load(MQTT_URL="mqtt://mosquitto", MQTT_USERNAME="amber-home", MQTT_PASSWORD_FILE=path)
    assert settings.mqtt_password.reveal() == READER_PASSWORD and READER_PASSWORD not in repr(settings)
    (problem,) = problems(MQTT_PASSWORD=READER_PASSWORD).problems
    assert "MQTT_USERNAME" in problem and READER_PASSWORD not in problem
AWKWARD_PASSWORD = "p%zz w@rd/:?#'\\"  # everything a URL or a libpq string could trip over


def test_database_password_file_is_applied_to_the_url_exactly(tmp_path: Path) -> None:
    from psycopg.conninfo import conninfo_to_dict

    secret = tmp_path / "writer_password"
    secret.write_text(AWKWARD_PASSWORD + "\n")
    settings = load(DATABASE_URL="postgresql://amber_writer@timescaledb:5432/amber?sslmode=disable",
                    DATABASE_PASSWORD_FILE=str(secret))
    params = conninfo_to_dict(settings.database_url.reveal())
    assert params["password"] == AWKWARD_PASSWORD
    assert (params["user"], params["host"], params["dbname"], params["sslmode"]) == (
        "amber_writer", "timescaledb", "amber", "disable")
    assert AWKWARD_PASSWORD not in repr(settings) and "zz" not in redact_url(settings.database_url.reveal())


def test_database_password_and_a_password_in_the_url_is_an_error_without_either() -> None:
    error = problems(DATABASE_URL=DB_URL, DATABASE_PASSWORD=AWKWARD_PASSWORD)
    assert error.problems == (
        "DATABASE_PASSWORD: DATABASE_URL has a password of its own; remove it from the URL or unset DATABASE_PASSWORD",
    )
    assert DB_PASSWORD not in str(error) and AWKWARD_PASSWORD not in str(error)


def test_writer_and_reader_passwords_come_from_files(tmp_path: Path) -> None:
    (tmp_path / "w").write_text("writer-secret")
    (tmp_path / "r").write_text("reader-secret")
    settings = load(AMBER_WRITER_PASSWORD_FILE=str(tmp_path / "w"), AMBER_READER_PASSWORD_FILE=str(tmp_path / "r"))
    assert settings.writer_password.reveal() == "writer-secret"
    assert settings.reader_password.reveal() == "reader-secret"


def test_a_url_that_is_not_secret_is_shown_without_its_password() -> None:
    (problem,) = problems(AMBER_API_BASE_URL="http://user:apiS3cret@host:port/v1").problems
    assert problem.startswith("AMBER_API_BASE_URL='http://***@host:port/v1': ") and "apiS3cret" not in problem


def test_a_database_url_libpq_would_quote_is_refused_without_quoting_it() -> None:
    (problem,) = problems(DATABASE_URL="postgresql://amber:p%zz w@db/amber").problems
    assert problem.startswith("DATABASE_URL: is not a valid URL: percent-encode spaces and %") and "zz" not in problem


# --- compose: the demo's simulator and the database password from a file ------------------------------


def test_demo_api_is_used_only_without_a_key_and_without_a_chosen_api() -> None:
    demo = {"AMBER_DEMO_API_BASE_URL": "http://simulator:8765/v1"}
    assert Settings.from_env(demo).api_base_url == "http://simulator:8765/v1"
    assert Settings.from_env({**demo, "AMBER_API_KEY": "psk_x"}).api_base_url == "https://api.amber.com.au/v1"
    chosen = {**demo, "AMBER_API_BASE_URL": "http://sim.lan:8765/v1"}
    assert Settings.from_env(chosen).api_base_url == "http://sim.lan:8765/v1"
    assert Settings.from_env({}).api_base_url == "https://api.amber.com.au/v1"


def test_database_password_from_a_file_goes_into_the_url(tmp_path) -> None:
    secret = tmp_path / "writer_password"
    secret.write_text("p@ss:w/rd %x\n")
    env = {"DATABASE_URL": "postgresql://amber_writer@timescaledb:5432/amber?sslmode=disable",
           "DATABASE_PASSWORD_FILE": str(secret)}  # fmt: skip
    url = Settings.from_env(env).database_url.reveal()
    assert url == "postgresql://amber_writer:p%40ss%3Aw%2Frd%20%25x@timescaledb:5432/amber?sslmode=disable"
    import psycopg.conninfo

    assert psycopg.conninfo.conninfo_to_dict(url)["password"] == "p@ss:w/rd %x"
    no_password = {"DATABASE_URL": "postgresql://amber@db/amber", "DATABASE_PASSWORD": "s3cret"}
    assert Settings.from_env(no_password).database_url.reveal() == "postgresql://amber:s3cret@db/amber"
    assert "s3cret" not in repr(Settings.from_env(no_password))
