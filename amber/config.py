"""TEMPORARY re-export for files another helper of issue 11 is moving (doctor, backup, restore, query,
loader/bill.py); the settings live in runtime/settings.py. Delete this file when their imports are fixed."""

from runtime.settings import *  # noqa: F403
from runtime.settings import ConfigError, MqttBroker, Settings, load_settings_or_exit  # noqa: F401
