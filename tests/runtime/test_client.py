"""runtime.client: the demo key is the simulator's, and the demo is used only without a key and off Amber."""

from __future__ import annotations

import pytest

from runtime.client import (
    DEMO_API_KEY,
    NO_KEY,
    client_from_settings,
    service_settings,
    with_demo_key,
)
from runtime.settings import ConfigError, Settings
from simulator.config import SimulatorConfig


def test_the_demo_key_is_the_simulators_default_token() -> None:
    assert SimulatorConfig().api_key == DEMO_API_KEY


def test_a_key_of_ones_own_is_kept() -> None:
    settings = Settings.from_env({"AMBER_API_KEY": "psk_mine"})
    assert with_demo_key(settings) == (settings, False)


def test_without_a_key_the_simulator_gets_the_demo_key_and_amber_refuses() -> None:
    demo, is_demo = with_demo_key(Settings.from_env({"AMBER_API_BASE_URL": "http://127.0.0.1:8765/v1"}))
    assert is_demo and demo.api_key is not None and demo.api_key.reveal() == DEMO_API_KEY
    with pytest.raises(ConfigError, match="AMBER_API_KEY is not set"):
        with_demo_key(Settings.from_env({}))
    with pytest.raises(ConfigError):
        client_from_settings(Settings.from_env({}))


def test_service_settings_prints_the_fix_and_returns_none(capsys: pytest.CaptureFixture[str]) -> None:
    assert service_settings({}) is None
    assert NO_KEY in capsys.readouterr().err
    assert service_settings({"LOG_LEVEL": "loud"}) is None
    assert "LOG_LEVEL" in capsys.readouterr().err
    settings, demo = service_settings({"AMBER_API_BASE_URL": "http://127.0.0.1:8765/v1"}) or (None, None)
    assert demo is True and settings is not None
