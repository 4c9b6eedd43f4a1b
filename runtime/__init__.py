"""What every Amber-Home process needs, whichever service it runs; imports nothing of ours but `amber`.

    settings.py   Settings.from_env, ConfigError, load_settings_or_exit (every variable, validated)
    client.py     service_settings (demo key fallback), client_from_settings
    database.py   connect (named, redacted errors), unreachable (the one-line message)
    logs.py       configure_logging, once per process
    signals.py    stop_on_signals (SIGTERM/SIGINT set an Event)
"""
