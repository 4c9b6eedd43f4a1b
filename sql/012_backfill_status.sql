-- backfill_status: where the backfill of each site stands, one row per site, rewritten by `amber-home
-- backfill` after every window; the exporter turns it into the amber_backfill_* metrics (the Health
-- dashboard's "History backfill" panel). Days count both streams (prices and usage) of the history the
-- backfill wants: from HISTORICAL_START_DATE or the site's start to today.

CREATE TABLE IF NOT EXISTS backfill_status (
    site_id         text PRIMARY KEY,
    done_days       integer NOT NULL CHECK (done_days >= 0),
    remaining_days  integer NOT NULL CHECK (remaining_days >= 0),
    eta_seconds     double precision CHECK (eta_seconds >= 0),
    updated_at      timestamptz NOT NULL,
    finished_at     timestamptz
);
COMMENT ON TABLE backfill_status IS 'Backfill progress per site for monitoring (loader/backfill.py writes it, the exporter reads it).';
COMMENT ON COLUMN backfill_status.site_id IS 'Amber site id (sites.site_id).';
COMMENT ON COLUMN backfill_status.done_days IS 'Days of history stored (prices and usage counted separately; count).';
COMMENT ON COLUMN backfill_status.remaining_days IS 'Days of history still to fetch (prices and usage counted separately; count).';
COMMENT ON COLUMN backfill_status.eta_seconds IS 'Estimated seconds until the whole backfill run finishes, as of updated_at (seconds); NULL when unknown.';
COMMENT ON COLUMN backfill_status.updated_at IS 'When the row was last written (UTC timestamptz).';
COMMENT ON COLUMN backfill_status.finished_at IS 'When the last backfill run finished (UTC timestamptz); NULL while one is running or after one stopped early.';
