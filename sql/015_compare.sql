-- "Would I have saved?": the comparison plan (AMBER_COMPARE_PLAN, a TOML file; written here by
-- loader/bill.py after every migrate) and the same usage priced on it beside Amber's true bill (014):
-- compare_hourly (energy only, where Amber won or lost), compare_daily, compare_periods, compare_monthly.
--
-- Usage is priced per local hour from usage_hourly (hours start on local hours; the plan's periods start
-- and end on the hour), so a year is a few thousand rows, not a hundred thousand intervals. Money is
-- numeric cents incl. GST with Amber's signs: feed-in is NEGATIVE when it is a credit, on both sides.
-- saved_cents = plan - Amber: positive when Amber was cheaper than the plan.

CREATE TABLE IF NOT EXISTS compare_tariffs (
    valid_from          date PRIMARY KEY,
    supply_cents        numeric NOT NULL CHECK (supply_cents >= 0),
    subscription_cents  numeric NOT NULL CHECK (subscription_cents >= 0)
);
COMMENT ON TABLE compare_tariffs IS
    'The comparison plan''s tariffs, each from a local date on (AMBER_COMPARE_PLAN [[tariff]] blocks); replaced by every migrate.';
COMMENT ON COLUMN compare_tariffs.valid_from IS 'First local date the tariff applies; it applies until the next row''s date.';
COMMENT ON COLUMN compare_tariffs.supply_cents IS 'Daily supply charge in CENTS per day incl. GST.';
COMMENT ON COLUMN compare_tariffs.subscription_cents IS 'Subscription in CENTS per month incl. GST (pro-rated daily like Amber''s); 0 for none.';

CREATE TABLE IF NOT EXISTS compare_rates (
    valid_from     date NOT NULL REFERENCES compare_tariffs (valid_from) ON DELETE CASCADE,
    channel_type   text NOT NULL,
    position       integer NOT NULL,
    name           text NOT NULL,
    days           integer[] NOT NULL,
    start_hour     integer NOT NULL CHECK (start_hour BETWEEN 0 AND 23),
    end_hour       integer NOT NULL CHECK (end_hour BETWEEN 1 AND 24 AND end_hour > start_hour),
    cents_per_kwh  numeric NOT NULL,
    PRIMARY KEY (valid_from, channel_type, position)
);
COMMENT ON TABLE compare_rates IS
    'Energy rates of each comparison tariff per channel type; for a local hour the matching row with the lowest position applies.';
COMMENT ON COLUMN compare_rates.valid_from IS 'The tariff (compare_tariffs.valid_from) this rate belongs to.';
COMMENT ON COLUMN compare_rates.channel_type IS 'general, controlledLoad or feedIn (usage.channel_type).';
COMMENT ON COLUMN compare_rates.position IS 'Order in the plan file: the first matching period wins.';
COMMENT ON COLUMN compare_rates.name IS 'Period name from the plan file, e.g. peak, off-peak, flat.';
COMMENT ON COLUMN compare_rates.days IS 'ISO weekdays the period applies on (1 = Monday ... 7 = Sunday), local time.';
COMMENT ON COLUMN compare_rates.start_hour IS 'First local hour of the period (0-23).';
COMMENT ON COLUMN compare_rates.end_hour IS 'Local hour the period ends, exclusive (1-24).';
COMMENT ON COLUMN compare_rates.cents_per_kwh IS 'Price in c/kWh incl. GST; on feedIn the amount you are PAID (positive = paid), so a credit is kwh (negative) x price.';

-- The plan's price for a channel type at a local time (a timestamp without time zone): the tariff in force
-- on that local date, its first period matching the weekday and hour. NULL: no tariff yet, or no rate.
CREATE OR REPLACE FUNCTION amber_plan_rate(channel text, local_time timestamp) RETURNS numeric
LANGUAGE sql STABLE AS $$
    SELECT r.cents_per_kwh
    FROM compare_rates AS r
    WHERE r.valid_from = (SELECT max(valid_from) FROM compare_tariffs WHERE valid_from <= local_time::date)
      AND r.channel_type = channel
      AND extract(isodow FROM local_time)::int = ANY (r.days)
      AND extract(hour FROM local_time)::int >= r.start_hour
      AND extract(hour FROM local_time)::int < r.end_hour
    ORDER BY r.position
    LIMIT 1
$$;
COMMENT ON FUNCTION amber_plan_rate(text, timestamp) IS
    'c/kWh of the comparison plan for a channel type at a local time (feedIn: positive = paid); NULL when the plan has none.';

-- Per site and local hour: Amber's energy cost and the plan's, NULL on the plan side if any channel of the
-- hour has no plan price. Both 02:00 hours of the day daylight saving ends are rows of their own.
CREATE OR REPLACE VIEW compare_hourly AS
WITH zone AS (
    SELECT coalesce((SELECT value FROM amber_settings WHERE key = 'timezone'), 'Australia/Sydney') AS tz
),
priced AS (
    SELECT u.site_id, u.hour_start, u.channel_type, u.cost, u.kwh,
           u.hour_start AT TIME ZONE zone.tz AS local_start,
           amber_plan_rate(u.channel_type, u.hour_start AT TIME ZONE zone.tz) AS rate
    FROM usage_hourly AS u CROSS JOIN zone
)
SELECT site_id,
       hour_start,
       local_start::date AS day,
       extract(hour FROM local_start)::int AS hour,
       sum(cost) FILTER (WHERE channel_type <> 'feedIn') AS amber_usage_cents,
       coalesce(sum(cost) FILTER (WHERE channel_type = 'feedIn'), 0) AS amber_export_cents,
       sum(cost) AS amber_cents,
       CASE WHEN bool_and(rate IS NOT NULL) THEN coalesce(sum(kwh * rate) FILTER (WHERE channel_type <> 'feedIn'), 0) END
           AS plan_usage_cents,
       CASE WHEN bool_and(rate IS NOT NULL) THEN coalesce(sum(kwh * rate) FILTER (WHERE channel_type = 'feedIn'), 0) END
           AS plan_export_cents,
       CASE WHEN bool_and(rate IS NOT NULL) THEN sum(kwh * rate) END AS plan_cents,
       CASE WHEN bool_and(rate IS NOT NULL) THEN sum(kwh * rate) - sum(cost) END AS saved_cents
FROM priced
GROUP BY site_id, hour_start, local_start;

COMMENT ON VIEW compare_hourly IS
    'Energy cost per site and local hour on Amber and on the comparison plan (no fixed charges), cents incl. GST; saved_cents > 0: Amber was cheaper.';
COMMENT ON COLUMN compare_hourly.site_id IS 'Amber site id.';
COMMENT ON COLUMN compare_hourly.hour_start IS 'Start of the local hour, UTC timestamptz.';
COMMENT ON COLUMN compare_hourly.day IS 'Local calendar date of the hour.';
COMMENT ON COLUMN compare_hourly.hour IS 'Local hour of day, 0-23 (the repeated hour when daylight saving ends appears twice).';
COMMENT ON COLUMN compare_hourly.amber_usage_cents IS 'Amber: cost of imports in CENTS incl. GST (exact).';
COMMENT ON COLUMN compare_hourly.amber_export_cents IS 'Amber: feed-in in CENTS; NEGATIVE = credit.';
COMMENT ON COLUMN compare_hourly.amber_cents IS 'Amber: energy cost of the hour in CENTS (imports + feed-in).';
COMMENT ON COLUMN compare_hourly.plan_usage_cents IS 'Plan: imports priced at the plan''s rates, CENTS incl. GST; NULL when a rate is missing.';
COMMENT ON COLUMN compare_hourly.plan_export_cents IS 'Plan: feed-in at the plan''s rate, CENTS; NEGATIVE = credit.';
COMMENT ON COLUMN compare_hourly.plan_cents IS 'Plan: energy cost of the hour in CENTS (imports + feed-in).';
COMMENT ON COLUMN compare_hourly.saved_cents IS 'plan_cents - amber_cents in CENTS: positive = Amber was cheaper this hour, negative = Amber lost (e.g. a spike).';

-- Per site and local day: Amber's whole bill (bill_daily.total_cents) beside the plan's whole bill for the
-- same usage. A day without data is NULL on both sides, with bill_daily's status.
CREATE OR REPLACE VIEW compare_daily AS
WITH energy AS (
    SELECT site_id, day,
           sum(plan_usage_cents) AS plan_usage_cents,
           sum(plan_export_cents) AS plan_export_cents,
           bool_and(plan_cents IS NOT NULL) AS priced
    FROM compare_hourly
    GROUP BY site_id, day
),
fixed AS (
    SELECT b.site_id, b.day, b.period_start, b.status, b.total_cents,
           e.plan_usage_cents, e.plan_export_cents, e.priced,
           t.supply_cents AS plan_supply_cents,
           amber_daily_share(t.subscription_cents, b.day) AS plan_subscription_cents
    FROM bill_daily AS b
    LEFT JOIN energy AS e ON e.site_id = b.site_id AND e.day = b.day
    LEFT JOIN LATERAL (SELECT supply_cents, subscription_cents FROM compare_tariffs
                       WHERE valid_from <= b.day ORDER BY valid_from DESC LIMIT 1) AS t ON true
)
SELECT site_id, day, period_start, status,
       total_cents AS amber_cents,
       plan_usage_cents, plan_export_cents, plan_supply_cents, plan_subscription_cents,
       CASE WHEN total_cents IS NOT NULL AND priced
            THEN plan_usage_cents + plan_export_cents + plan_supply_cents + plan_subscription_cents END AS plan_cents,
       CASE WHEN total_cents IS NOT NULL AND priced
            THEN plan_usage_cents + plan_export_cents + plan_supply_cents + plan_subscription_cents - total_cents
       END AS saved_cents
FROM fixed;

COMMENT ON VIEW compare_daily IS
    'Per site and local day: Amber''s bill (bill_daily) and the comparison plan''s bill for the same usage, cents incl. GST; saved_cents > 0: Amber was cheaper.';
COMMENT ON COLUMN compare_daily.site_id IS 'Amber site id.';
COMMENT ON COLUMN compare_daily.day IS 'Local calendar date.';
COMMENT ON COLUMN compare_daily.period_start IS 'First day of the billing period holding the day.';
COMMENT ON COLUMN compare_daily.status IS 'bill_daily''s status: final, estimated, missing, pending or future.';
COMMENT ON COLUMN compare_daily.amber_cents IS 'Amber''s bill for the day (bill_daily.total_cents), CENTS incl. GST; NULL without data.';
COMMENT ON COLUMN compare_daily.plan_usage_cents IS 'Plan: imports, CENTS incl. GST.';
COMMENT ON COLUMN compare_daily.plan_export_cents IS 'Plan: feed-in, CENTS; NEGATIVE = credit.';
COMMENT ON COLUMN compare_daily.plan_supply_cents IS 'Plan: daily supply charge, CENTS incl. GST.';
COMMENT ON COLUMN compare_daily.plan_subscription_cents IS 'Plan: subscription / days in the local month, CENTS to 4 decimals.';
COMMENT ON COLUMN compare_daily.plan_cents IS 'The plan''s bill for the day, CENTS incl. GST; NULL without data or without a plan rate.';
COMMENT ON COLUMN compare_daily.saved_cents IS 'plan_cents - amber_cents, CENTS: positive = Amber saved you money that day.';

-- Savings over the days where both sides are known; days_missing says how many days could not be compared.
CREATE OR REPLACE VIEW compare_periods AS
SELECT site_id,
       period_start,
       ((period_start + INTERVAL '1 month')::date - 1) AS period_end,
       count(saved_cents) AS days_compared,
       count(*) FILTER (WHERE status = 'missing' OR (amber_cents IS NOT NULL AND saved_cents IS NULL)) AS days_missing,
       sum(amber_cents) FILTER (WHERE saved_cents IS NOT NULL) AS amber_cents,
       sum(plan_cents) AS plan_cents,
       sum(saved_cents) AS saved_cents
FROM compare_daily
GROUP BY site_id, period_start;

COMMENT ON VIEW compare_periods IS
    'Per site and billing period: Amber''s bill and the plan''s over the days both are known, cents incl. GST; saved_cents > 0: Amber was cheaper.';
COMMENT ON COLUMN compare_periods.site_id IS 'Amber site id.';
COMMENT ON COLUMN compare_periods.period_start IS 'First local day of the billing period.';
COMMENT ON COLUMN compare_periods.period_end IS 'Last local day of the billing period.';
COMMENT ON COLUMN compare_periods.days_compared IS 'Days with both bills known, count.';
COMMENT ON COLUMN compare_periods.days_missing IS 'Days before the newest data that could not be compared (no usage, or no plan rate), count.';
COMMENT ON COLUMN compare_periods.amber_cents IS 'Amber''s bill over the compared days, CENTS incl. GST.';
COMMENT ON COLUMN compare_periods.plan_cents IS 'The plan''s bill over the compared days, CENTS incl. GST.';
COMMENT ON COLUMN compare_periods.saved_cents IS 'plan - Amber over the compared days, CENTS: positive = Amber saved you money.';

CREATE OR REPLACE VIEW compare_monthly AS
SELECT site_id,
       date_trunc('month', day)::date AS month,
       count(saved_cents) AS days_compared,
       count(*) FILTER (WHERE status = 'missing' OR (amber_cents IS NOT NULL AND saved_cents IS NULL)) AS days_missing,
       sum(amber_cents) FILTER (WHERE saved_cents IS NOT NULL) AS amber_cents,
       sum(plan_cents) AS plan_cents,
       sum(saved_cents) AS saved_cents
FROM compare_daily
GROUP BY site_id, date_trunc('month', day)::date;

COMMENT ON VIEW compare_monthly IS
    'Per site and local calendar month: Amber''s bill and the plan''s over the days both are known, cents incl. GST.';
COMMENT ON COLUMN compare_monthly.site_id IS 'Amber site id.';
COMMENT ON COLUMN compare_monthly.month IS 'First local date of the month.';
COMMENT ON COLUMN compare_monthly.days_compared IS 'Days with both bills known, count.';
COMMENT ON COLUMN compare_monthly.days_missing IS 'Days that could not be compared (no usage, or no plan rate), count.';
COMMENT ON COLUMN compare_monthly.amber_cents IS 'Amber''s bill over the compared days, CENTS incl. GST.';
COMMENT ON COLUMN compare_monthly.plan_cents IS 'The plan''s bill over the compared days, CENTS incl. GST.';
COMMENT ON COLUMN compare_monthly.saved_cents IS 'plan - Amber over the compared days, CENTS: positive = Amber saved you money.';

COMMENT ON TABLE amber_settings IS
    'Settings recorded in the database: timezone (the zone of the local-day aggregates, baked in by migrations); bill_day and compare_plan (the first day of billing periods, the comparison plan''s name), written from the environment by every migrate and the loader at start.';
COMMENT ON COLUMN amber_settings.updated_at IS 'When the value was last written (UTC timestamptz).';
