"""TEMPORARY re-export for amber_home/commands/{backup,restore}.py (another helper moves them); logging is
configured in runtime/logs.py. Delete this file when their imports are fixed."""

from runtime.logs import configure_logging  # noqa: F401
