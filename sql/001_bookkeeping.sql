-- Bookkeeping: the TimescaleDB extension, the list of applied migrations (written by loader/migrate.py)
-- and amber_settings, the values that migrations bake into the schema (the time zone of the local-day
-- aggregates) so that `amber-home doctor` can compare them with the environment.

CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE schema_migrations IS
    'Migrations from sql/ applied to this database, one row per file; written only by loader/migrate.py.';
COMMENT ON COLUMN schema_migrations.version IS 'The file''s number: NNN in sql/NNN_purpose.sql.';
COMMENT ON COLUMN schema_migrations.name IS 'The file name without .sql, e.g. 003_prices.';
COMMENT ON COLUMN schema_migrations.checksum IS
    'SHA-256 (hex) of the file as written, before placeholders are expanded; a different checksum later means an applied file was edited.';
COMMENT ON COLUMN schema_migrations.applied_at IS 'When the file was applied (UTC timestamptz).';

CREATE TABLE IF NOT EXISTS amber_settings (
    key         text PRIMARY KEY,
    value       text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE amber_settings IS
    'Settings baked into the schema by migrations (key timezone: the IANA zone of cost_daily/cost_monthly days).';
COMMENT ON COLUMN amber_settings.key IS 'Setting name, e.g. timezone.';
COMMENT ON COLUMN amber_settings.value IS 'Setting value as text, e.g. Australia/Sydney.';
COMMENT ON COLUMN amber_settings.updated_at IS 'When a migration last wrote the value (UTC timestamptz).';
