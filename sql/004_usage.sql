-- usage: metered energy and its cost per interval and meter channel (Amber /usage), a hypertable on
-- interval_start. Amber revises rows (estimated -> billable); the loader upserts, so a row is its latest
-- version. kwh, cost and prices are numeric so that daily and monthly costs are exact sums (see 003).
--
-- Sign convention (as Amber reports it): on feedIn channels kwh is NEGATIVE (energy exported) and cost is
-- NEGATIVE (a credit); the aggregates turn exports into a positive kwh_exported.

CREATE TABLE IF NOT EXISTS usage (
    site_id             text NOT NULL,
    channel_identifier  text NOT NULL,
    channel_type        text NOT NULL,
    interval_start      timestamptz NOT NULL,
    interval_end        timestamptz NOT NULL,
    nem_time            timestamptz NOT NULL,
    nem_date            date NOT NULL,
    duration_minutes    smallint NOT NULL,
    kwh                 numeric NOT NULL,
    cost                numeric NOT NULL,
    quality             text NOT NULL,
    per_kwh             numeric NOT NULL,
    spot_per_kwh        numeric NOT NULL,
    renewables          numeric NOT NULL,
    descriptor          text NOT NULL,
    spike_status        text NOT NULL,
    tariff_period       text,
    tariff_season       text,
    tariff_block        numeric,
    demand_window       boolean,
    raw                 jsonb NOT NULL,
    fetched_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, channel_identifier, interval_start),
    CHECK (interval_end > interval_start)
);
SELECT create_hypertable('usage', by_range('interval_start', INTERVAL '7 days'), if_not_exists => true);

COMMENT ON TABLE usage IS
    'Metered energy (kWh) and cost (cents incl. GST) per interval and meter channel (Amber /usage). Times UTC. Feed-in rows: kwh and cost negative.';
COMMENT ON COLUMN usage.site_id IS 'Amber site id (sites.site_id).';
COMMENT ON COLUMN usage.channel_identifier IS 'Meter channel, e.g. E1, E2, B1 (channels.identifier).';
COMMENT ON COLUMN usage.channel_type IS 'Channel type: general, controlledLoad or feedIn (unknown values kept as received).';
COMMENT ON COLUMN usage.interval_start IS
    'Interval start, UTC timestamptz, on the aligned boundary: Amber''s startTime is the previous endTime + 1 s; we store startTime - 1 s so each start equals the previous interval_end.';
COMMENT ON COLUMN usage.interval_end IS 'Interval end, UTC timestamptz (Amber''s endTime).';
COMMENT ON COLUMN usage.nem_time IS 'Amber''s nemTime: the interval END as Amber gives it (NEM time, UTC+10), stored as an absolute timestamptz.';
COMMENT ON COLUMN usage.nem_date IS 'Amber''s date: the NEM trading date of the interval (UTC+10, no daylight saving).';
COMMENT ON COLUMN usage.duration_minutes IS 'Interval length in minutes (5 or 30).';
COMMENT ON COLUMN usage.kwh IS
    'Energy in kWh as Amber reports it: positive = imported from the grid (general, controlledLoad); NEGATIVE = exported (feedIn).';
COMMENT ON COLUMN usage.cost IS
    'Cost in CENTS incl. GST as Amber reports it, never rounded (numeric keeps every decimal, typically 4-5). NEGATIVE on feedIn = a credit to the user.';
COMMENT ON COLUMN usage.quality IS 'estimated or billable (Amber revises estimated rows; unknown values kept as received).';
COMMENT ON COLUMN usage.per_kwh IS 'Price applied in c/kWh incl. GST; on feedIn a NEGATIVE value means the user is paid.';
COMMENT ON COLUMN usage.spot_per_kwh IS 'NEM wholesale spot price in c/kWh.';
COMMENT ON COLUMN usage.renewables IS 'Share of renewables in the grid in percent (0-100).';
COMMENT ON COLUMN usage.descriptor IS 'Amber''s price descriptor for the interval (unknown values kept as received).';
COMMENT ON COLUMN usage.spike_status IS 'Amber''s spike status: none, potential or spike.';
COMMENT ON COLUMN usage.tariff_period IS 'Time-of-use period, e.g. offPeak, shoulder, solarSponge, peak; NULL when omitted.';
COMMENT ON COLUMN usage.tariff_season IS 'Tariff season; NULL when omitted.';
COMMENT ON COLUMN usage.tariff_block IS 'Tariff block number; NULL when omitted.';
COMMENT ON COLUMN usage.demand_window IS 'True when the interval falls in the network demand window; NULL when omitted.';
COMMENT ON COLUMN usage.raw IS 'The usage object exactly as the API returned it (jsonb).';
COMMENT ON COLUMN usage.fetched_at IS 'When the loader fetched this version of the row (UTC timestamptz).';
