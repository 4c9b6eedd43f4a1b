-- forecasts: a bounded history of price forecasts, to show the latest forecast of each interval and to
-- score forecast accuracy by lead time. Storing every poll would be ~250k rows a day; instead each interval
-- keeps ONE row per horizon bucket (0, 5, 15, 30 min, 1, 2, 4, 8, 12, 24, 48 h): the bucket is the largest
-- step of that ladder not exceeding the lead (interval_start - issued_at), and within a bucket the row with
-- the LATEST issued_at wins, i.e. the forecast issued closest to the bucket's nominal lead. That is at
-- most 11 rows per interval. Retention: 90 days (a TSL policy, or amber_prune_forecasts() on Apache).

-- The ladder lives here only: horizon_minutes is generated from it, so the loader cannot disagree.
-- Leads below zero (a forecast fetched a moment after its interval began, e.g. clock skew) count as 0.
CREATE OR REPLACE FUNCTION amber_forecast_horizon(lead interval) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN (
    SELECT max(step)
    FROM unnest(ARRAY[0, 5, 15, 30, 60, 120, 240, 480, 720, 1440, 2880]) AS step
    WHERE make_interval(mins => step) <= greatest(lead, INTERVAL '0')
);
COMMENT ON FUNCTION amber_forecast_horizon(interval) IS
    'Horizon bucket in minutes of a forecast with the given lead (interval_start - issued_at): the largest of 0, 5, 15, 30, 60, 120, 240, 480, 720, 1440, 2880 not exceeding it; negative leads give 0.';

CREATE TABLE IF NOT EXISTS forecasts (
    site_id                   text NOT NULL,
    channel_type              text NOT NULL,
    interval_start            timestamptz NOT NULL,
    interval_end              timestamptz NOT NULL,
    issued_at                 timestamptz NOT NULL,
    horizon_minutes           integer NOT NULL
        GENERATED ALWAYS AS (amber_forecast_horizon(interval_start - issued_at)) STORED,
    nem_time                  timestamptz NOT NULL,
    nem_date                  date NOT NULL,
    duration_minutes          smallint NOT NULL,
    per_kwh                   numeric NOT NULL,
    spot_per_kwh              numeric NOT NULL,
    renewables                numeric NOT NULL,
    descriptor                text NOT NULL,
    spike_status              text NOT NULL,
    tariff_period             text,
    tariff_season             text,
    tariff_block              numeric,
    demand_window             boolean,
    advanced_price_low        numeric,
    advanced_price_predicted  numeric,
    advanced_price_high       numeric,
    range_min                 numeric,
    range_max                 numeric,
    raw                       jsonb NOT NULL,
    PRIMARY KEY (site_id, channel_type, interval_start, horizon_minutes),
    CHECK (interval_end > interval_start)
);
SELECT create_hypertable('forecasts', by_range('interval_start', INTERVAL '7 days'), if_not_exists => true);

-- The keep-closest rule is enforced by the table, not only by the loader's upsert: an UPDATE that would
-- replace a row with an EARLIER issued_at is skipped (equal is allowed, so re-running a load is harmless).
-- The loader's `ON CONFLICT (site_id, channel_type, interval_start, horizon_minutes) DO UPDATE ... WHERE
-- forecasts.issued_at <= EXCLUDED.issued_at` says the same; the trigger guards every other writer.
CREATE OR REPLACE FUNCTION amber_forecasts_keep_closest() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    RETURN NULL;  -- only called (see WHEN below) for updates that would go back in issue time: skip them
END
$$;
DROP TRIGGER IF EXISTS forecasts_keep_closest ON forecasts;
CREATE TRIGGER forecasts_keep_closest
    BEFORE UPDATE ON forecasts
    FOR EACH ROW WHEN (NEW.issued_at < OLD.issued_at)
    EXECUTE FUNCTION amber_forecasts_keep_closest();

COMMENT ON TABLE forecasts IS
    'Price forecast history: per interval and channel type one row per horizon bucket, the forecast issued closest to the bucket''s lead. Prices c/kWh incl. GST; times UTC; kept 90 days.';
COMMENT ON COLUMN forecasts.site_id IS 'Amber site id (sites.site_id).';
COMMENT ON COLUMN forecasts.channel_type IS 'Channel type: general, controlledLoad or feedIn.';
COMMENT ON COLUMN forecasts.interval_start IS
    'Forecast interval start, UTC timestamptz, aligned like prices.interval_start (Amber''s startTime - 1 s).';
COMMENT ON COLUMN forecasts.interval_end IS 'Forecast interval end, UTC timestamptz.';
COMMENT ON COLUMN forecasts.issued_at IS
    'When the loader fetched this forecast (UTC timestamptz; Amber publishes no issue time). Lead = interval_start - issued_at.';
COMMENT ON COLUMN forecasts.horizon_minutes IS
    'Horizon bucket in minutes, generated: amber_forecast_horizon(interval_start - issued_at), one of 0, 5, 15, 30, 60, 120, 240, 480, 720, 1440, 2880.';
COMMENT ON COLUMN forecasts.nem_time IS 'Amber''s nemTime: the interval END (NEM time, UTC+10) as an absolute timestamptz.';
COMMENT ON COLUMN forecasts.nem_date IS 'Amber''s date: the NEM trading date of the interval (UTC+10, no daylight saving).';
COMMENT ON COLUMN forecasts.duration_minutes IS 'Interval length in minutes (5 or 30).';
COMMENT ON COLUMN forecasts.per_kwh IS 'Forecast price in c/kWh incl. GST; on feedIn NEGATIVE means the user would be paid.';
COMMENT ON COLUMN forecasts.spot_per_kwh IS 'Forecast NEM spot price in c/kWh.';
COMMENT ON COLUMN forecasts.renewables IS 'Forecast share of renewables in percent (0-100).';
COMMENT ON COLUMN forecasts.descriptor IS 'Forecast price descriptor (unknown values kept as received).';
COMMENT ON COLUMN forecasts.spike_status IS 'Forecast spike status: none, potential or spike.';
COMMENT ON COLUMN forecasts.tariff_period IS 'Time-of-use period; NULL when omitted.';
COMMENT ON COLUMN forecasts.tariff_season IS 'Tariff season; NULL when omitted.';
COMMENT ON COLUMN forecasts.tariff_block IS 'Tariff block number; NULL when omitted.';
COMMENT ON COLUMN forecasts.demand_window IS 'True when the interval falls in the network demand window; NULL when omitted.';
COMMENT ON COLUMN forecasts.advanced_price_low IS 'Amber advanced price forecast, low estimate, c/kWh incl. GST.';
COMMENT ON COLUMN forecasts.advanced_price_predicted IS 'Amber advanced price forecast, predicted value, c/kWh incl. GST.';
COMMENT ON COLUMN forecasts.advanced_price_high IS 'Amber advanced price forecast, high estimate, c/kWh incl. GST.';
COMMENT ON COLUMN forecasts.range_min IS 'Price range low, c/kWh incl. GST, when the API returns a range.';
COMMENT ON COLUMN forecasts.range_max IS 'Price range high, c/kWh incl. GST, when the API returns a range.';
COMMENT ON COLUMN forecasts.raw IS 'The forecast interval object exactly as the API returned it (jsonb).';

-- The newest forecast of each interval (smallest lead). Filter on interval_start: the planner pushes that
-- condition below DISTINCT ON, so "the next 24 hours" reads only those chunks.
CREATE OR REPLACE VIEW forecast_latest AS
SELECT DISTINCT ON (site_id, channel_type, interval_start)
       site_id, channel_type, interval_start, interval_end, issued_at, horizon_minutes,
       per_kwh, spot_per_kwh, renewables, descriptor, spike_status,
       advanced_price_low, advanced_price_predicted, advanced_price_high
FROM forecasts
ORDER BY site_id, channel_type, interval_start, issued_at DESC;
COMMENT ON VIEW forecast_latest IS 'The latest stored forecast of each interval (per site and channel type). Prices c/kWh incl. GST; times UTC.';
COMMENT ON COLUMN forecast_latest.site_id IS 'Amber site id.';
COMMENT ON COLUMN forecast_latest.channel_type IS 'Channel type: general, controlledLoad or feedIn.';
COMMENT ON COLUMN forecast_latest.interval_start IS 'Interval start, UTC timestamptz (aligned).';
COMMENT ON COLUMN forecast_latest.interval_end IS 'Interval end, UTC timestamptz.';
COMMENT ON COLUMN forecast_latest.issued_at IS 'When this forecast was fetched (UTC timestamptz).';
COMMENT ON COLUMN forecast_latest.horizon_minutes IS 'Horizon bucket of this forecast in minutes.';
COMMENT ON COLUMN forecast_latest.per_kwh IS 'Forecast price in c/kWh incl. GST (feedIn: negative = paid).';
COMMENT ON COLUMN forecast_latest.spot_per_kwh IS 'Forecast NEM spot price in c/kWh.';
COMMENT ON COLUMN forecast_latest.renewables IS 'Forecast renewables in percent.';
COMMENT ON COLUMN forecast_latest.descriptor IS 'Forecast price descriptor.';
COMMENT ON COLUMN forecast_latest.spike_status IS 'Forecast spike status.';
COMMENT ON COLUMN forecast_latest.advanced_price_low IS 'Amber advanced price, low, c/kWh incl. GST.';
COMMENT ON COLUMN forecast_latest.advanced_price_predicted IS 'Amber advanced price, predicted, c/kWh incl. GST.';
COMMENT ON COLUMN forecast_latest.advanced_price_high IS 'Amber advanced price, high, c/kWh incl. GST.';

-- Forecast vs outcome: one row per stored forecast whose interval has an actual price. Error = forecast -
-- actual (positive = forecast too high). E.g. mean absolute error by horizon:
--   SELECT horizon_minutes, avg(abs(error_per_kwh)) FROM forecast_accuracy GROUP BY 1 ORDER BY 1;
CREATE OR REPLACE VIEW forecast_accuracy AS
SELECT f.site_id,
       f.channel_type,
       f.interval_start,
       f.horizon_minutes,
       f.issued_at,
       f.interval_start - f.issued_at AS lead,
       f.per_kwh AS forecast_per_kwh,
       p.per_kwh AS actual_per_kwh,
       f.per_kwh - p.per_kwh AS error_per_kwh,
       f.advanced_price_predicted,
       f.advanced_price_predicted - p.per_kwh AS advanced_price_error,
       p.per_kwh BETWEEN f.advanced_price_low AND f.advanced_price_high AS actual_within_advanced_range,
       f.spot_per_kwh AS forecast_spot_per_kwh,
       p.spot_per_kwh AS actual_spot_per_kwh,
       f.spot_per_kwh - p.spot_per_kwh AS error_spot_per_kwh,
       f.descriptor AS forecast_descriptor,
       p.descriptor AS actual_descriptor
FROM forecasts AS f
JOIN prices AS p USING (site_id, channel_type, interval_start)
WHERE p.interval_type = 'ActualInterval';
COMMENT ON VIEW forecast_accuracy IS
    'Stored forecasts joined to the actual price of their interval: error (forecast - actual) by horizon. Prices c/kWh incl. GST; times UTC.';
COMMENT ON COLUMN forecast_accuracy.site_id IS 'Amber site id.';
COMMENT ON COLUMN forecast_accuracy.channel_type IS 'Channel type: general, controlledLoad or feedIn.';
COMMENT ON COLUMN forecast_accuracy.interval_start IS 'Interval start, UTC timestamptz (aligned).';
COMMENT ON COLUMN forecast_accuracy.horizon_minutes IS 'Horizon bucket of the forecast in minutes.';
COMMENT ON COLUMN forecast_accuracy.issued_at IS 'When the forecast was fetched (UTC timestamptz).';
COMMENT ON COLUMN forecast_accuracy.lead IS 'Exact lead time of the forecast: interval_start - issued_at (interval).';
COMMENT ON COLUMN forecast_accuracy.forecast_per_kwh IS 'Forecast price, c/kWh incl. GST.';
COMMENT ON COLUMN forecast_accuracy.actual_per_kwh IS 'Actual price (ActualInterval), c/kWh incl. GST.';
COMMENT ON COLUMN forecast_accuracy.error_per_kwh IS 'forecast_per_kwh - actual_per_kwh in c/kWh (positive = forecast too high).';
COMMENT ON COLUMN forecast_accuracy.advanced_price_predicted IS 'Amber advanced price predicted for the interval, c/kWh incl. GST (NULL if none).';
COMMENT ON COLUMN forecast_accuracy.advanced_price_error IS 'advanced_price_predicted - actual_per_kwh in c/kWh.';
COMMENT ON COLUMN forecast_accuracy.actual_within_advanced_range IS 'True when the actual price fell within the advanced price low..high range.';
COMMENT ON COLUMN forecast_accuracy.forecast_spot_per_kwh IS 'Forecast NEM spot price, c/kWh.';
COMMENT ON COLUMN forecast_accuracy.actual_spot_per_kwh IS 'Actual NEM spot price, c/kWh.';
COMMENT ON COLUMN forecast_accuracy.error_spot_per_kwh IS 'forecast_spot_per_kwh - actual_spot_per_kwh in c/kWh.';
COMMENT ON COLUMN forecast_accuracy.forecast_descriptor IS 'Forecast price descriptor.';
COMMENT ON COLUMN forecast_accuracy.actual_descriptor IS 'Actual price descriptor.';

-- Retention. drop_chunks is in the Apache build too, so one function serves both tiers; whole 7-day chunks
-- go, so between 90 and 97 days are kept. On the timescale license a retention policy calls it for us;
-- on Apache the loader calls amber_prune_forecasts() (daily is plenty).
CREATE OR REPLACE FUNCTION amber_prune_forecasts(keep interval DEFAULT INTERVAL '90 days') RETURNS integer
    LANGUAGE sql
AS $$ SELECT count(*)::integer FROM drop_chunks('forecasts', older_than => keep) $$;
COMMENT ON FUNCTION amber_prune_forecasts(interval) IS
    'Drops forecast chunks whose intervals all ended more than keep (default 90 days) ago; returns the number of chunks dropped. Called by the loader on the Apache build.';
REVOKE EXECUTE ON FUNCTION amber_prune_forecasts(interval) FROM PUBLIC;

-- @if timescale
SELECT add_retention_policy('forecasts', drop_after => INTERVAL '90 days', if_not_exists => true);
-- @end
