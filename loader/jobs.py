"""TEMPORARY re-export for amber_home/doctor.py (another helper moves it); job health lives in
exporter/jobs.py. Delete this file when doctor's imports are fixed."""

from exporter.jobs import *  # noqa: F403
from exporter.jobs import judge, read_jobs  # noqa: F401
