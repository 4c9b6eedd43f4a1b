-- amber_reader: the read-only role for Grafana and psql users. SELECT on every table, view and aggregate
-- in the public schema, now and (default privileges) for objects later migrations create; nothing else.
-- The role is created without LOGIN; `migrate(..., reader_password=...)` adds LOGIN and a password.

-- Roles are cluster-wide: another database of the same cluster may have created it, maybe at this very
-- moment (advisory locks are per database), hence IF NOT EXISTS and the exception handler.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'amber_reader') THEN
        CREATE ROLE amber_reader NOLOGIN;
        -- Defence in depth: even a mistaken GRANT cannot let a reader session write.
        ALTER ROLE amber_reader SET default_transaction_read_only = on;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

GRANT USAGE ON SCHEMA public TO amber_reader;
-- Includes views, materialized views and continuous aggregates; TimescaleDB passes a grant on a
-- continuous aggregate on to its internal materialization hypertable.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO amber_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO amber_reader;
