"""Operator tools, one module per job; `amber-home` (amber_home/commands) parses their options and calls them.

    maintenance/backup.py     pg_dump archive + manifest           (`amber-home backup`)
    maintenance/restore.py    restore into a new database, verify, swap  (`amber-home restore`)
    maintenance/doctor.py     configuration, API key, database, migrations, jobs  (`amber-home doctor`)
    maintenance/manifest.py   what an archive holds (backup writes it, restore checks against it)
    maintenance/postgres.py   pg_dump / pg_restore, their environment, connections (backup and restore)
    maintenance/tool.py       the frame backup and restore run in: settings, logging, one-line errors

They may import amber, loader and exporter; no service imports them.
"""
