-- Job health: amber_job_health(), one row per TimescaleDB background job (refresh policies, compression,
-- retention, TimescaleDB's own jobs) with what it does, when it last did its work and how its last run
-- ended. `amber-home doctor`, the exporter (amber_timescaledb_job_* metrics) and the Health dashboard
-- read it as amber_reader; psql users can too: SELECT * FROM amber_job_health();
--
-- Why a function and not a view: a view over timescaledb_information would make
-- `ALTER EXTENSION timescaledb UPDATE` fail (update scripts drop and recreate those views), and a SQL
-- function whose body is a string records no dependency. SECURITY DEFINER with a fixed search_path: the
-- reader sees job status without any privilege on TimescaleDB's internal tables.
--
-- Version-robust: timescaledb_information.jobs.hypertable_name names a continuous aggregate's
-- materialization hypertable before 2.20 and the aggregate itself from 2.20 on; joining
-- continuous_aggregates on either gives the aggregate's name on both.
--
-- The known error: with PostgreSQL 17.x some TimescaleDB builds end every job run with
-- 'cannot drop portal "" while it is being set up' (SQLSTATE 24000) AFTER the job's work is committed;
-- TimescaleDB then counts a failure and pushes the next run back (up to 5x its schedule).
-- last_run_failure = 'portal' marks such a run and last_work_done counts it as work done, so doctor and
-- the alerts show it for what it is: done, but late. On the Apache build TimescaleDB's own job-history
-- job fails with "not supported under the current apache license" ('apache_license'): harmless too. The loader refreshes every bucket it writes (loader/aggregates.py), so the
-- aggregates stay exact whatever the refresh policies do.

CREATE OR REPLACE FUNCTION amber_job_health()
RETURNS TABLE (
    job_id              integer,
    policy              text,         -- refresh, compression, retention, job_history, telemetry, or the proc name
    relation            text,         -- the aggregate or hypertable it works on ('' for TimescaleDB's own jobs)
    schedule_interval   interval,
    scheduled           boolean,      -- false: paused
    last_run_started_at timestamptz,
    last_run_status     text,         -- Success, Failed, or NULL (never ran)
    last_success        timestamptz,  -- last run that TimescaleDB counts as successful
    last_work_done      timestamptz,  -- last_success, or a later run that ended with the known error
    next_start          timestamptz,
    total_runs          bigint,
    total_failures      bigint,
    last_error_at       timestamptz,  -- the newest recorded error (job history keeps about a month)
    last_error_code     text,         -- its SQLSTATE
    last_error          text,         -- its message
    last_run_failure    text          -- NULL unless the last run failed: portal (the known error, work done),
                                      -- apache_license (a TSL job on the Apache build: harmless), other
)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS '
SELECT j.job_id,
       CASE j.proc_name
           WHEN ''policy_refresh_continuous_aggregate'' THEN ''refresh''
           WHEN ''policy_compression'' THEN ''compression''
           WHEN ''policy_retention'' THEN ''retention''
           WHEN ''policy_job_stat_history_retention'' THEN ''job_history''
           WHEN ''policy_telemetry'' THEN ''telemetry''
           ELSE j.proc_name::text
       END,
       coalesce(ca.view_name::text, j.hypertable_name::text, ''''),
       j.schedule_interval,
       j.scheduled,
       s.started,
       s.last_run_status,
       s.succeeded,
       greatest(s.succeeded, portal.finished),
       s.next,
       s.total_runs,
       s.total_failures,
       e.finish_time,
       e.sqlerrcode,
       e.err_message,
       CASE WHEN s.last_run_status = ''Failed'' THEN
           CASE WHEN e.sqlerrcode = ''24000'' AND e.err_message LIKE ''cannot drop portal%'' THEN ''portal''
                WHEN e.sqlerrcode = ''0A000'' AND e.err_message LIKE ''%"apache" license%'' THEN ''apache_license''
                ELSE ''other''
           END
       END
FROM timescaledb_information.jobs AS j
LEFT JOIN LATERAL (
    -- TimescaleDB writes -infinity for "never"; NULL says so without breaking clients.
    SELECT st.last_run_status, st.total_runs, st.total_failures,
           CASE WHEN isfinite(st.last_run_started_at) THEN st.last_run_started_at END AS started,
           CASE WHEN isfinite(st.last_successful_finish) THEN st.last_successful_finish END AS succeeded,
           CASE WHEN isfinite(st.next_start) THEN st.next_start END AS next
    FROM timescaledb_information.job_stats AS st
    WHERE st.job_id = j.job_id
) AS s ON true
LEFT JOIN timescaledb_information.continuous_aggregates AS ca
       ON (ca.view_schema, ca.view_name) = (j.hypertable_schema, j.hypertable_name)
       OR (ca.materialization_hypertable_schema, ca.materialization_hypertable_name)
          = (j.hypertable_schema, j.hypertable_name)
LEFT JOIN LATERAL (
    SELECT r.finish_time, r.sqlerrcode, r.err_message
    FROM timescaledb_information.job_errors AS r
    WHERE r.job_id = j.job_id
    ORDER BY r.start_time DESC NULLS LAST
    LIMIT 1
) AS e ON true
LEFT JOIN LATERAL (
    SELECT max(r.finish_time) AS finished
    FROM timescaledb_information.job_errors AS r
    WHERE r.job_id = j.job_id AND r.sqlerrcode = ''24000'' AND r.err_message LIKE ''cannot drop portal%''
) AS portal ON true
ORDER BY j.job_id
';

COMMENT ON FUNCTION amber_job_health() IS
    'One row per TimescaleDB background job: policy, relation, schedule, last run and its status, last work done (known portal errors count as done), newest error and the kind of the last failure. Timestamps UTC timestamptz.';

-- The reader (exporter, Grafana, psql) and the writer (doctor in the loader's container) may call it.
REVOKE ALL ON FUNCTION amber_job_health() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION amber_job_health() TO amber_reader, amber_writer;
