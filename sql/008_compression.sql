-- Compression of prices and usage chunks older than 30 days (timescale license only; on the Apache build
-- this file does nothing). Amber stops revising usage within days, and upserts into compressed chunks
-- still work if a late correction arrives. Forecasts are not compressed: retention drops them at 90 days.

-- @if timescale
ALTER TABLE prices SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'site_id, channel_type',
    timescaledb.compress_orderby = 'interval_start DESC'
);
SELECT add_compression_policy('prices', compress_after => INTERVAL '30 days', if_not_exists => true);

ALTER TABLE usage SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'site_id, channel_identifier',
    timescaledb.compress_orderby = 'interval_start DESC'
);
SELECT add_compression_policy('usage', compress_after => INTERVAL '30 days', if_not_exists => true);
-- @end
