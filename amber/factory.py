"""TEMPORARY re-export for amber_home/doctor.py (another helper moves it); the client set-up lives in
runtime/client.py. Delete this file when doctor's imports are fixed."""

from runtime.client import DEMO_API_KEY, NO_KEY, client_from_settings, with_demo_key  # noqa: F401
