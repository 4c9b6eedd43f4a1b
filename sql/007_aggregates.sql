-- The four aggregates Grafana and psql read: price_hourly, usage_hourly, cost_daily and cost_monthly.
-- Each SELECT is written once; the runner expands the placeholders by license (sql/README.md):
--   timescale: continuous aggregates, real-time (materialized_only = false: rows newer than the last
--              refresh come straight from the hypertable), each with a refresh policy; cost_monthly is
--              hierarchical, built on cost_daily.
--   apache:    plain materialized views with the same names and columns, each with a unique index so
--              loader/aggregates.py can REFRESH MATERIALIZED VIEW CONCURRENTLY; no policies.
--
-- Time buckets:
--   hourly  fixed one-hour buckets shifted by {{hour_offset}} (the zone's UTC offset modulo an hour: 0 for
--           Sydney, 30 minutes for Adelaide) so they start on local hours. Not time_bucket(..., timezone):
--           that maps both 02:00 hours of the day daylight saving ends onto one bucket.
--   daily   time_bucket('1 day', ..., {{timezone}}): local calendar days, 23 or 25 hours long on the days
--           daylight saving starts or ends (Sydney: 2025-10-05 and 2025-04-06).
--   monthly local calendar months.
-- The `day`/`month` date columns are computed inside the aggregate (the TSL tier accepts an expression of
-- the bucket as a grouping column), so there is no extra view.

CREATE MATERIALIZED VIEW IF NOT EXISTS price_hourly {{aggregate_with}} AS
SELECT site_id,
       channel_type,
       time_bucket(INTERVAL '1 hour', interval_start, "offset" => {{hour_offset}}) AS hour_start,
       avg(per_kwh) AS avg_per_kwh,
       min(per_kwh) AS min_per_kwh,
       max(per_kwh) AS max_per_kwh,
       avg(spot_per_kwh) AS avg_spot_per_kwh,
       avg(renewables) AS avg_renewables,
       count(*) AS intervals,
       sum(CASE WHEN interval_type = 'ForecastInterval' THEN 1 ELSE 0 END) AS forecast_intervals
FROM prices
GROUP BY site_id, channel_type, hour_start
{{aggregate_data}};

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_hourly {{aggregate_with}} AS
SELECT site_id,
       channel_identifier,
       channel_type,
       time_bucket(INTERVAL '1 hour', interval_start, "offset" => {{hour_offset}}) AS hour_start,
       sum(kwh) AS kwh,
       sum(cost) AS cost,
       count(*) AS intervals,
       sum(CASE WHEN quality = 'estimated' THEN 1 ELSE 0 END) AS estimated_intervals
FROM usage
GROUP BY site_id, channel_identifier, channel_type, hour_start
{{aggregate_data}};

-- Daily cost = imports' cost + feed-in credits (negative): sum(cost) over the channels of a site.
-- kwh_exported negates feed-in kwh (negative in Amber's data) so exports read as a positive number.
CREATE MATERIALIZED VIEW IF NOT EXISTS cost_daily {{aggregate_with}} AS
SELECT site_id,
       channel_identifier,
       channel_type,
       time_bucket(INTERVAL '1 day', interval_start, {{timezone}}) AS day_start,
       (time_bucket(INTERVAL '1 day', interval_start, {{timezone}}) AT TIME ZONE {{timezone}})::date AS day,
       sum(CASE WHEN channel_type = 'feedIn' THEN 0 ELSE kwh END) AS kwh_imported,
       sum(CASE WHEN channel_type = 'feedIn' THEN -kwh ELSE 0 END) AS kwh_exported,
       sum(cost) AS cost,
       count(*) AS intervals,
       sum(CASE WHEN quality = 'estimated' THEN 1 ELSE 0 END) AS estimated_intervals
FROM usage
GROUP BY site_id, channel_identifier, channel_type, day_start, day
{{aggregate_data}};

CREATE MATERIALIZED VIEW IF NOT EXISTS cost_monthly {{aggregate_with}} AS
SELECT site_id,
       channel_identifier,
       channel_type,
       time_bucket(INTERVAL '1 month', day_start, {{timezone}}) AS month_start,
       (time_bucket(INTERVAL '1 month', day_start, {{timezone}}) AT TIME ZONE {{timezone}})::date AS month,
       sum(kwh_imported) AS kwh_imported,
       sum(kwh_exported) AS kwh_exported,
       sum(cost) AS cost,
       sum(intervals) AS intervals,
       sum(estimated_intervals) AS estimated_intervals
FROM cost_daily
GROUP BY site_id, channel_identifier, channel_type, month_start, month
{{aggregate_data}};

-- @if timescale
-- Policies catch up on what the loader did not refresh itself (it refreshes every window it writes).
-- start_offset reaches back as far as Amber still revises data: usage goes estimated -> billable over
-- days, so 40 days; prices settle within hours. Older changes need refresh_aggregates(conn, start, end).
SELECT add_continuous_aggregate_policy('price_hourly', start_offset => INTERVAL '7 days',
    end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '30 minutes', if_not_exists => true);
SELECT add_continuous_aggregate_policy('usage_hourly', start_offset => INTERVAL '40 days',
    end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour', if_not_exists => true);
SELECT add_continuous_aggregate_policy('cost_daily', start_offset => INTERVAL '40 days',
    end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour', if_not_exists => true);
SELECT add_continuous_aggregate_policy('cost_monthly', start_offset => INTERVAL '3 months',
    end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 day', if_not_exists => true);
-- @else
CREATE UNIQUE INDEX IF NOT EXISTS price_hourly_key ON price_hourly (site_id, channel_type, hour_start);
CREATE UNIQUE INDEX IF NOT EXISTS usage_hourly_key ON usage_hourly (site_id, channel_identifier, channel_type, hour_start);
CREATE UNIQUE INDEX IF NOT EXISTS cost_daily_key ON cost_daily (site_id, channel_identifier, channel_type, day_start);
CREATE UNIQUE INDEX IF NOT EXISTS cost_monthly_key ON cost_monthly (site_id, channel_identifier, channel_type, month_start);
-- @end

INSERT INTO amber_settings (key, value) VALUES ('timezone', {{timezone}})
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now();

COMMENT ON {{aggregate_kind}} price_hourly IS
    'Prices per hour (local hours), site and channel type, from prices. Prices c/kWh incl. GST; hour_start UTC.';
COMMENT ON COLUMN price_hourly.site_id IS 'Amber site id.';
COMMENT ON COLUMN price_hourly.channel_type IS 'Channel type: general, controlledLoad or feedIn.';
COMMENT ON COLUMN price_hourly.hour_start IS 'Start of the hour, UTC timestamptz (on a local hour boundary; buckets are exactly one hour).';
COMMENT ON COLUMN price_hourly.avg_per_kwh IS 'Mean price over the hour''s intervals, c/kWh incl. GST (feedIn: negative = paid).';
COMMENT ON COLUMN price_hourly.min_per_kwh IS 'Lowest interval price in the hour, c/kWh incl. GST.';
COMMENT ON COLUMN price_hourly.max_per_kwh IS 'Highest interval price in the hour, c/kWh incl. GST.';
COMMENT ON COLUMN price_hourly.avg_spot_per_kwh IS 'Mean NEM spot price, c/kWh.';
COMMENT ON COLUMN price_hourly.avg_renewables IS 'Mean renewables share, percent.';
COMMENT ON COLUMN price_hourly.intervals IS 'Number of price intervals in the hour (count; 12 for a complete hour of 5-minute prices).';
COMMENT ON COLUMN price_hourly.forecast_intervals IS 'How many of them are still forecasts (interval_type ForecastInterval), count.';

COMMENT ON {{aggregate_kind}} usage_hourly IS
    'Energy and cost per hour (local hours), site and meter channel, from usage. kwh; cost in cents incl. GST; hour_start UTC.';
COMMENT ON COLUMN usage_hourly.site_id IS 'Amber site id.';
COMMENT ON COLUMN usage_hourly.channel_identifier IS 'Meter channel, e.g. E1, B1.';
COMMENT ON COLUMN usage_hourly.channel_type IS 'Channel type: general, controlledLoad or feedIn.';
COMMENT ON COLUMN usage_hourly.hour_start IS 'Start of the hour, UTC timestamptz (on a local hour boundary).';
COMMENT ON COLUMN usage_hourly.kwh IS 'Sum of kwh as Amber reports it: positive imported, NEGATIVE exported (feedIn).';
COMMENT ON COLUMN usage_hourly.cost IS 'Sum of cost in CENTS incl. GST, exact (numeric, not rounded); NEGATIVE on feedIn = credit.';
COMMENT ON COLUMN usage_hourly.intervals IS 'Number of usage intervals in the hour (count).';
COMMENT ON COLUMN usage_hourly.estimated_intervals IS 'How many of them are still estimated (quality estimated), count.';

COMMENT ON {{aggregate_kind}} cost_daily IS
    'Energy and cost per local calendar day (the configured time zone, DST-correct), site and meter channel. kwh; cost in cents incl. GST.';
COMMENT ON COLUMN cost_daily.site_id IS 'Amber site id.';
COMMENT ON COLUMN cost_daily.channel_identifier IS 'Meter channel, e.g. E1, B1.';
COMMENT ON COLUMN cost_daily.channel_type IS 'Channel type: general, controlledLoad or feedIn.';
COMMENT ON COLUMN cost_daily.day_start IS 'Local midnight starting the day, as a UTC timestamptz (days are 23 or 25 hours on DST change days).';
COMMENT ON COLUMN cost_daily.day IS 'The local calendar date (date) in the time zone recorded in amber_settings.';
COMMENT ON COLUMN cost_daily.kwh_imported IS 'kWh imported from the grid (general and controlledLoad channels; 0 on feedIn).';
COMMENT ON COLUMN cost_daily.kwh_exported IS 'kWh exported to the grid as a POSITIVE number (feedIn channels; 0 elsewhere).';
COMMENT ON COLUMN cost_daily.cost IS 'Cost in CENTS incl. GST, exact sum of usage.cost: positive for imports, NEGATIVE feed-in credit; a site''s net daily cost is the sum over its channels.';
COMMENT ON COLUMN cost_daily.intervals IS 'Number of usage intervals in the day (count; 288 for a 24-hour day of 5-minute intervals, 300 or 276 on DST change days).';
COMMENT ON COLUMN cost_daily.estimated_intervals IS 'How many of them are still estimated (quality estimated), count.';

COMMENT ON {{aggregate_kind}} cost_monthly IS
    'Energy and cost per local calendar month, site and meter channel, summed from cost_daily. kwh; cost in cents incl. GST.';
COMMENT ON COLUMN cost_monthly.site_id IS 'Amber site id.';
COMMENT ON COLUMN cost_monthly.channel_identifier IS 'Meter channel, e.g. E1, B1.';
COMMENT ON COLUMN cost_monthly.channel_type IS 'Channel type: general, controlledLoad or feedIn.';
COMMENT ON COLUMN cost_monthly.month_start IS 'Local midnight of the first day of the month, as a UTC timestamptz.';
COMMENT ON COLUMN cost_monthly.month IS 'First local calendar date of the month (date).';
COMMENT ON COLUMN cost_monthly.kwh_imported IS 'kWh imported from the grid (0 on feedIn).';
COMMENT ON COLUMN cost_monthly.kwh_exported IS 'kWh exported to the grid as a POSITIVE number (0 except feedIn).';
COMMENT ON COLUMN cost_monthly.cost IS 'Cost in CENTS incl. GST, exact: positive for imports, NEGATIVE feed-in credit.';
COMMENT ON COLUMN cost_monthly.intervals IS 'Number of usage intervals in the month (count).';
COMMENT ON COLUMN cost_monthly.estimated_intervals IS 'How many of them are still estimated, count.';
