-- prices: the actual price of every past interval and the current interval's live price, per site and
-- channel type (one row per interval; the current row is overwritten by the actual price). A hypertable on
-- interval_start. Forecasts live in forecasts (005), not here.
--
-- Money-like values (per_kwh, spot_per_kwh, the price ranges) and renewables are numeric: the API sends
-- short decimals (26.60356) that numeric keeps exactly as received, so sums and averages are exact and the
-- aggregates equal a recomputation from the raw rows on every tier. At ~300k rows per channel and year,
-- numeric's extra cost over double precision does not matter.

CREATE TABLE IF NOT EXISTS prices (
    site_id                   text NOT NULL,
    channel_type              text NOT NULL,
    interval_start            timestamptz NOT NULL,
    interval_end              timestamptz NOT NULL,
    nem_time                  timestamptz NOT NULL,
    nem_date                  date NOT NULL,
    duration_minutes          smallint NOT NULL,
    per_kwh                   numeric NOT NULL,
    spot_per_kwh              numeric NOT NULL,
    renewables                numeric NOT NULL,
    descriptor                text NOT NULL,
    spike_status              text NOT NULL,
    estimate                  boolean,
    interval_type             text NOT NULL,
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
    fetched_at                timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, channel_type, interval_start),
    CHECK (interval_end > interval_start)
);
-- 7-day chunks: a few thousand rows per site each; compression (008) works on whole chunks.
SELECT create_hypertable('prices', by_range('interval_start', INTERVAL '7 days'), if_not_exists => true);

COMMENT ON TABLE prices IS
    'Price per interval (Amber /prices): ActualInterval rows, and the CurrentInterval until its actual arrives, per site and channel type; forecasts are in forecasts. Prices in c/kWh incl. GST; times UTC.';
COMMENT ON COLUMN prices.site_id IS 'Amber site id (sites.site_id).';
COMMENT ON COLUMN prices.channel_type IS 'Channel type the price applies to: general, controlledLoad or feedIn (unknown values kept as received).';
COMMENT ON COLUMN prices.interval_start IS
    'Interval start, UTC timestamptz, on the aligned boundary: Amber''s startTime is the previous endTime + 1 s (00:00:01); we store startTime - 1 s (00:00:00) so each start equals the previous interval_end.';
COMMENT ON COLUMN prices.interval_end IS 'Interval end, UTC timestamptz (Amber''s endTime, already aligned).';
COMMENT ON COLUMN prices.nem_time IS 'Amber''s nemTime: the interval END as Amber gives it (NEM time, UTC+10), stored as an absolute timestamptz; normally equals interval_end.';
COMMENT ON COLUMN prices.nem_date IS 'Amber''s date: the NEM trading date of the interval (UTC+10, no daylight saving), which can differ from the local calendar date.';
COMMENT ON COLUMN prices.duration_minutes IS 'Interval length in minutes (5 or 30).';
COMMENT ON COLUMN prices.per_kwh IS
    'Price in c/kWh incl. GST that the user pays (general, controlledLoad). On feedIn a NEGATIVE value means the user is paid for exports; positive means exporting costs money.';
COMMENT ON COLUMN prices.spot_per_kwh IS 'NEM wholesale spot price in c/kWh (excl. GST and network charges).';
COMMENT ON COLUMN prices.renewables IS 'Share of renewables in the grid in percent (0-100).';
COMMENT ON COLUMN prices.descriptor IS 'Amber''s price descriptor, e.g. negative, extremelyLow, veryLow, low, neutral, high, spike (unknown values kept as received).';
COMMENT ON COLUMN prices.spike_status IS 'Amber''s spike status: none, potential or spike (unknown values kept as received).';
COMMENT ON COLUMN prices.estimate IS 'True while a CurrentInterval price is still an estimate; NULL for other interval types.';
COMMENT ON COLUMN prices.interval_type IS 'ActualInterval, CurrentInterval or ForecastInterval (unknown values kept as received).';
COMMENT ON COLUMN prices.tariff_period IS 'Time-of-use period, e.g. offPeak, shoulder, solarSponge, peak; NULL when the API omits tariff information.';
COMMENT ON COLUMN prices.tariff_season IS 'Tariff season, e.g. default, summer, winter; NULL when omitted.';
COMMENT ON COLUMN prices.tariff_block IS 'Tariff block number (block tariffs); NULL when omitted.';
COMMENT ON COLUMN prices.demand_window IS 'True when the interval falls in the network demand window; NULL when omitted.';
COMMENT ON COLUMN prices.advanced_price_low IS 'Amber advanced price forecast, low estimate, c/kWh incl. GST (forecast intervals only).';
COMMENT ON COLUMN prices.advanced_price_predicted IS 'Amber advanced price forecast, predicted value, c/kWh incl. GST (forecast intervals only).';
COMMENT ON COLUMN prices.advanced_price_high IS 'Amber advanced price forecast, high estimate, c/kWh incl. GST (forecast intervals only).';
COMMENT ON COLUMN prices.range_min IS 'Lowest price seen so far in a CurrentInterval, c/kWh incl. GST (when the API returns a range).';
COMMENT ON COLUMN prices.range_max IS 'Highest price seen so far in a CurrentInterval, c/kWh incl. GST (when the API returns a range).';
COMMENT ON COLUMN prices.raw IS 'The interval object exactly as the API returned it (jsonb, original startTime included).';
COMMENT ON COLUMN prices.fetched_at IS 'When the loader fetched this version of the row (UTC timestamptz).';
