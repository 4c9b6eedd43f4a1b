"""TEMPORARY re-export for files another helper of issue 11 is moving (doctor, backup, query, loader/migrate.py);
connect lives in runtime/database.py. Delete this file when their imports are fixed."""

from runtime.database import connect  # noqa: F401
