-- Least privilege by design (SECURITY.md): three roles, each able to do its job and nothing else.
--   superuser     runs migrate only (CREATE EXTENSION, DDL, these grants).
--   amber_writer  the loader: owns the data tables, views and aggregates (so it can write them and refresh
--                 the aggregates: refresh_continuous_aggregate and REFRESH MATERIALIZED VIEW need
--                 ownership), TEMP for its COPY staging tables; not a superuser, no CREATE anywhere.
--   amber_reader  the exporter, Grafana, `query`, psql: SELECT on the data and nothing else. No TEMP, no
--                 CREATE in any schema, no large objects, no advisory locks (which could starve migrate),
--                 no server files; a role-level statement timeout, idle-in-transaction timeout, temp-file
--                 limit (superuser-only to change) and connection limit.
-- migrate sets the password each is configured with (AMBER_WRITER_PASSWORD / AMBER_READER_PASSWORD) and
-- LOGIN. amber_writer has LOGIN from the start: TimescaleDB's jobs run as their owner in a background
-- worker, which PostgreSQL refuses for a NOLOGIN role; without a password it still cannot log in with one. Job health (timescaledb_information.job_errors) is
-- shown to members of a job's owner: the jobs belong to amber_writer and amber_reader is a member WITH
-- INHERIT FALSE, SET FALSE, which confers no privilege at all.
-- migrate: every-run (objects of later migrations are created by the superuser; running this file after
-- every migrate that applied something hands them to amber_writer and renews the grants; restore runs it too)

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'amber_writer') THEN
        CREATE ROLE amber_writer NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- created by another database of this cluster at this very moment
END
$$;
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'amber_reader') THEN
        CREATE ROLE amber_reader NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

ALTER ROLE amber_writer LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 10;
ALTER ROLE amber_reader NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 20;
ALTER ROLE amber_reader SET default_transaction_read_only = on;
ALTER ROLE amber_reader SET statement_timeout = '60s';
ALTER ROLE amber_reader SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE amber_reader SET temp_file_limit = '256MB';
ALTER ROLE amber_reader SET lock_timeout = '10s';
-- Membership that confers nothing (no inherited privileges, no SET ROLE): only makes pg_has_role(…,
-- 'MEMBER') true, which is what TimescaleDB's job_errors view asks of a job's owner.
GRANT amber_writer TO amber_reader WITH INHERIT FALSE, SET FALSE, ADMIN FALSE;

-- The database: only the two roles (and the owner and superusers) connect; nobody else gets TEMP or CREATE.
-- (PGlite, the TSL test tier, serves template1 in single-user mode and cannot update pg_database; no
-- deployment keeps its data in template1.)
DO $$
BEGIN
    IF current_database() <> 'template1' THEN
        EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO amber_writer, amber_reader', current_database());
        EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO amber_writer', current_database());
    END IF;
END
$$;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO amber_writer, amber_reader;

-- Functions every role may call by default that write or hold server state: large objects (they persist
-- outside any table, owned by whoever made them) and advisory locks (migrate's lock key).
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure FROM pg_proc p
        WHERE p.pronamespace = 'pg_catalog'::regnamespace
          AND (p.proname LIKE 'lo\_%' OR p.proname IN ('loread', 'lowrite')
               OR p.proname LIKE 'pg\_advisory\_%' OR p.proname LIKE 'pg\_try\_advisory\_%')
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
        IF f::text LIKE 'pg\_%advisory%' THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO amber_writer', f);
        END IF;
    END LOOP;
END
$$;

-- Ownership: every table, view, aggregate and (SECURITY INVOKER) function of the public schema. Stay with
-- the migrator: schema_migrations, and SECURITY DEFINER functions, whose owner is a deliberate choice of
-- the migration that made them (a read-only window on what amber_reader may not read directly). A
-- hypertable's chunks, and a continuous aggregate's materialization hypertable and internal views, follow
-- their owner (TimescaleDB passes ALTER … OWNER on). Functions keep PUBLIC's EXECUTE: an invoker function
-- can do no more than its caller's privileges allow (amber_prune_forecasts needs DELETE on forecasts).
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT c.oid::regclass AS rel, c.relkind,
               EXISTS (SELECT FROM pg_namespace n WHERE n.nspname = '_timescaledb_catalog')
               AND EXISTS (SELECT FROM _timescaledb_catalog.continuous_agg a
                           WHERE a.user_view_schema = 'public' AND a.user_view_name = c.relname) AS is_cagg
        FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
          AND c.relname <> 'schema_migrations'
          AND c.relowner <> 'amber_writer'::regrole
          AND NOT EXISTS (SELECT FROM pg_depend d
                          WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format(
            CASE WHEN r.is_cagg OR r.relkind = 'm' THEN 'ALTER MATERIALIZED VIEW %s OWNER TO amber_writer'
                 WHEN r.relkind = 'v' THEN 'ALTER VIEW %s OWNER TO amber_writer'
                 ELSE 'ALTER TABLE %s OWNER TO amber_writer' END,
            r.rel);
    END LOOP;
    FOR r IN
        SELECT p.oid::regprocedure AS fn FROM pg_proc p
        WHERE p.pronamespace = 'public'::regnamespace AND p.proowner <> 'amber_writer'::regrole AND NOT p.prosecdef
          AND NOT EXISTS (SELECT FROM pg_depend d
                          WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('ALTER ROUTINE %s OWNER TO amber_writer', r.fn);
    END LOOP;
END
$$;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO amber_writer, amber_reader;  -- schema_migrations for the writer

-- TimescaleDB's jobs (aggregate refresh and compression policies) run as, and are shown to members of,
-- their owner.
-- @if timescale
UPDATE _timescaledb_config.bgw_job SET owner = 'amber_writer'
WHERE owner::text <> 'amber_writer' AND hypertable_id IS NOT NULL;
-- @end
