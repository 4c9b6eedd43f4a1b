-- backfill_progress: which date windows of each site's history the loader has fetched, so an interrupted
-- backfill resumes where it stopped instead of starting over. One row per (site, stream, window).

CREATE TABLE IF NOT EXISTS backfill_progress (
    site_id       text NOT NULL,
    stream        text NOT NULL CHECK (stream IN ('prices', 'usage')),
    window_start  date NOT NULL,
    window_end    date NOT NULL,
    completed_at  timestamptz,
    rows          integer,
    PRIMARY KEY (site_id, stream, window_start),
    CHECK (window_end >= window_start)
);
COMMENT ON TABLE backfill_progress IS 'Backfill bookkeeping: date windows of history the loader has fetched per site and stream.';
COMMENT ON COLUMN backfill_progress.site_id IS 'Amber site id (sites.site_id).';
COMMENT ON COLUMN backfill_progress.stream IS 'What was fetched: prices or usage.';
COMMENT ON COLUMN backfill_progress.window_start IS 'First date of the window (inclusive), as sent to Amber''s startDate.';
COMMENT ON COLUMN backfill_progress.window_end IS 'Last date of the window (inclusive), as sent to Amber''s endDate.';
COMMENT ON COLUMN backfill_progress.completed_at IS 'When every row of the window was written (UTC timestamptz); NULL while the window is in progress.';
COMMENT ON COLUMN backfill_progress.rows IS 'Number of rows the window returned (count).';
