-- The true bill: Amber's bill is usage (cost, already in usage/cost_daily) + feed-in credits + a daily supply
-- charge + Amber's monthly subscription pro-rated daily. This file stores the fixed charges as dated values
-- (bill_charges, written from AMBER_SUPPLY_CHARGE / AMBER_SUBSCRIPTION by loader/bill.py after every
-- migrate), the billing-period rule, and two psql-ready views: bill_daily and bill_periods.
--
-- Money is numeric cents incl. GST, never rounded except the pro-rated subscription (4 decimals of a cent).
-- Signs are Amber's: usage_cents positive, export_cents NEGATIVE when it is a credit, total = their sum
-- plus supply and subscription. A day without usage rows is never zero: its energy columns and total are
-- NULL and its status says why (missing, pending, future).

CREATE TABLE IF NOT EXISTS bill_charges (
    charge      text NOT NULL CHECK (charge IN ('supply', 'subscription')),
    site_id     text NOT NULL DEFAULT '*',
    valid_from  date NOT NULL,
    cents       numeric NOT NULL CHECK (cents >= 0),
    PRIMARY KEY (charge, site_id, valid_from)
);
COMMENT ON TABLE bill_charges IS
    'Fixed charges of the bill, each a value from a date on (AMBER_SUPPLY_CHARGE, AMBER_SUBSCRIPTION); replaced from the settings by every migrate.';
COMMENT ON COLUMN bill_charges.charge IS 'supply (cents per day) or subscription (cents per month, pro-rated daily).';
COMMENT ON COLUMN bill_charges.site_id IS 'The site it applies to, or * for every site (a site''s own row wins on the same date).';
COMMENT ON COLUMN bill_charges.valid_from IS 'First local date the value applies; it applies until the next row''s date.';
COMMENT ON COLUMN bill_charges.cents IS 'The value in CENTS incl. GST: per day for supply, per month for subscription; exact as configured.';

-- The value of a charge on a local day: the newest row on or before it, the site's own row first on a tie.
-- No row of that charge at all for the site: 0 (not configured). Rows exist but none reaches back to the
-- day: NULL, so the bill says "unknown" rather than a wrong total.
CREATE OR REPLACE FUNCTION amber_charge(site text, kind text, day date) RETURNS numeric
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN NOT EXISTS (SELECT FROM bill_charges WHERE charge = kind AND site_id IN (site, '*')) THEN 0
        ELSE (SELECT cents FROM bill_charges
              WHERE charge = kind AND site_id IN (site, '*') AND valid_from <= day
              ORDER BY valid_from DESC, (site_id <> '*') DESC LIMIT 1)
    END
$$;
COMMENT ON FUNCTION amber_charge(text, text, date) IS
    'Cents of a fixed charge (supply c/day, subscription c/month) for a site on a local day; 0 when never configured, NULL when configured only from a later date.';

-- The first day of the billing period holding `day`: the bill day of its month, or of the month before.
-- bill_day is 1-28 (settings check it), so make_date never fails.
CREATE OR REPLACE FUNCTION amber_bill_period_start(day date, bill_day integer) RETURNS date
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN extract(day FROM day) >= bill_day
        THEN make_date(extract(year FROM day)::int, extract(month FROM day)::int, bill_day)
        ELSE (make_date(extract(year FROM day)::int, extract(month FROM day)::int, bill_day) - INTERVAL '1 month')::date
    END
$$;
COMMENT ON FUNCTION amber_bill_period_start(date, integer) IS
    'First local day of the billing period containing day, for periods starting on bill_day (1-28) of each month.';

-- A monthly fee's share of one local day: the fee / the days of that calendar month, so a whole month adds
-- up to the fee; rounded to 4 decimals of a cent (the only rounding in the bill).
CREATE OR REPLACE FUNCTION amber_daily_share(monthly_cents numeric, day date) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
    SELECT round(monthly_cents / extract(day FROM (date_trunc('month', day) + INTERVAL '1 month - 1 day')), 4)
$$;
COMMENT ON FUNCTION amber_daily_share(numeric, date) IS
    'Cents of a monthly fee pro-rated to one local day: fee / days in the day''s calendar month, 4 decimals of a cent.';

INSERT INTO amber_settings (key, value) VALUES ('bill_day', '1') ON CONFLICT (key) DO NOTHING;

-- One row per site and local day, from the billing period holding the site's first day of usage (not
-- before its active_from) to the end of today's billing period (not after closed_on).
--   status  final      usage rows, none estimated
--           estimated  usage rows, some still estimated (the total may change)
--           missing    no usage rows, but later days have some: a gap in the history
--           pending    no usage rows yet, after the newest day with data, up to today (meter data lags)
--           future     after today: only the fixed charges are known (for the projection)
CREATE OR REPLACE VIEW bill_daily AS
WITH settings AS (
    SELECT coalesce((SELECT value FROM amber_settings WHERE key = 'timezone'), 'Australia/Sydney') AS tz,
           coalesce((SELECT value::int FROM amber_settings WHERE key = 'bill_day'), 1) AS bill_day
),
energy AS (
    SELECT site_id,
           day,
           sum(kwh_imported) AS kwh_imported,
           sum(kwh_exported) AS kwh_exported,
           coalesce(sum(cost) FILTER (WHERE channel_type <> 'feedIn'), 0) AS usage_cents,
           coalesce(sum(cost) FILTER (WHERE channel_type = 'feedIn'), 0) AS export_cents,
           sum(intervals)::bigint AS intervals,
           sum(estimated_intervals)::bigint AS estimated_intervals
    FROM cost_daily
    GROUP BY site_id, day
),
span AS (
    SELECT s.site_id,
           greatest(s.active_from, amber_bill_period_start(e.first_day, settings.bill_day)) AS first_day,
           e.last_day AS data_until,
           (now() AT TIME ZONE settings.tz)::date AS today,
           least(s.closed_on,
                 (amber_bill_period_start((now() AT TIME ZONE settings.tz)::date, settings.bill_day)
                  + INTERVAL '1 month')::date - 1) AS last_day,
           settings.bill_day
    FROM sites AS s
    JOIN (SELECT site_id, min(day) AS first_day, max(day) AS last_day FROM energy GROUP BY site_id) AS e
        ON e.site_id = s.site_id
    CROSS JOIN settings
),
days AS (
    SELECT span.*, g.day::date AS day
    FROM span CROSS JOIN LATERAL generate_series(span.first_day, span.last_day, INTERVAL '1 day') AS g(day)
),
priced AS (
    SELECT d.site_id,
           d.day,
           amber_bill_period_start(d.day, d.bill_day) AS period_start,
           CASE
               WHEN e.site_id IS NOT NULL AND e.estimated_intervals > 0 THEN 'estimated'
               WHEN e.site_id IS NOT NULL THEN 'final'
               WHEN d.day > d.today THEN 'future'
               WHEN d.day > d.data_until THEN 'pending'
               ELSE 'missing'
           END AS status,
           e.kwh_imported,
           e.kwh_exported,
           e.usage_cents,
           e.export_cents,
           amber_charge(d.site_id, 'supply', d.day) AS supply_cents,
           amber_daily_share(amber_charge(d.site_id, 'subscription', d.day), d.day) AS subscription_cents,
           e.intervals,
           e.estimated_intervals
    FROM days AS d
    LEFT JOIN energy AS e ON e.site_id = d.site_id AND e.day = d.day
)
SELECT site_id, day, period_start, status, kwh_imported, kwh_exported, usage_cents, export_cents,
       supply_cents, subscription_cents,
       usage_cents + export_cents + supply_cents + subscription_cents AS total_cents,
       intervals, estimated_intervals
FROM priced;

COMMENT ON VIEW bill_daily IS
    'The bill per site and local day: usage, feed-in credit, supply and subscription in cents incl. GST (exact; subscription to 4 decimals). Days without data have NULL energy and total and a status saying why.';
COMMENT ON COLUMN bill_daily.site_id IS 'Amber site id.';
COMMENT ON COLUMN bill_daily.day IS 'Local calendar date (the zone recorded in amber_settings).';
COMMENT ON COLUMN bill_daily.period_start IS 'First local day of the billing period holding this day (bill_day in amber_settings).';
COMMENT ON COLUMN bill_daily.status IS 'final, estimated (some intervals still estimated), missing (a gap in the history), pending (no meter data yet) or future.';
COMMENT ON COLUMN bill_daily.kwh_imported IS 'kWh imported (general and controlled load); NULL without data.';
COMMENT ON COLUMN bill_daily.kwh_exported IS 'kWh exported as a POSITIVE number; NULL without data.';
COMMENT ON COLUMN bill_daily.usage_cents IS 'Cost of imported energy in CENTS incl. GST (exact sum of usage.cost); NULL without data.';
COMMENT ON COLUMN bill_daily.export_cents IS 'Feed-in in CENTS incl. GST with Amber''s sign: NEGATIVE = a credit to you; NULL without data.';
COMMENT ON COLUMN bill_daily.supply_cents IS 'Daily supply charge in CENTS incl. GST (AMBER_SUPPLY_CHARGE on that day; 0 when not configured, NULL when configured only from a later date).';
COMMENT ON COLUMN bill_daily.subscription_cents IS 'Amber subscription for the day in CENTS incl. GST: the monthly fee / days in that local month, rounded to 4 decimals of a cent.';
COMMENT ON COLUMN bill_daily.total_cents IS 'usage + export + supply + subscription in CENTS incl. GST; NULL when the day has no data (never zero).';
COMMENT ON COLUMN bill_daily.intervals IS 'Usage intervals summed over the site''s channels (count); NULL without data.';
COMMENT ON COLUMN bill_daily.estimated_intervals IS 'How many of them are still estimated (count); NULL without data.';

-- One row per site and billing period. "So far" sums cover the days with data; the period's total is
-- NULL while a day before the newest data is missing (a gap is never counted as zero). The projection
-- for the whole period: every day's fixed charges + the mean energy cost of the days with data x days.
CREATE OR REPLACE VIEW bill_periods AS
SELECT site_id,
       period_start,
       ((period_start + INTERVAL '1 month')::date - 1) AS period_end,
       count(*) AS days,
       count(*) FILTER (WHERE status IN ('final', 'estimated')) AS days_with_data,
       count(*) FILTER (WHERE status = 'estimated') AS days_estimated,
       count(*) FILTER (WHERE status = 'missing') AS days_missing,
       count(*) FILTER (WHERE status IN ('pending', 'future')) AS days_to_come,
       CASE
           WHEN count(*) FILTER (WHERE status = 'missing') > 0 THEN 'missing days'
           WHEN count(*) FILTER (WHERE status IN ('pending', 'future')) > 0 THEN 'in progress'
           WHEN count(*) FILTER (WHERE status = 'estimated') > 0 THEN 'estimated'
           ELSE 'final'
       END AS status,
       sum(kwh_imported) AS kwh_imported,
       sum(kwh_exported) AS kwh_exported,
       sum(usage_cents) AS usage_cents,
       sum(export_cents) AS export_cents,
       -- sum() skips NULLs: a charge unknown on any day with data makes the sum unknown.
       CASE WHEN bool_and(supply_cents IS NOT NULL) FILTER (WHERE usage_cents IS NOT NULL)
            THEN sum(supply_cents) FILTER (WHERE usage_cents IS NOT NULL) END AS supply_cents,
       CASE WHEN bool_and(subscription_cents IS NOT NULL) FILTER (WHERE usage_cents IS NOT NULL)
            THEN sum(subscription_cents) FILTER (WHERE usage_cents IS NOT NULL) END AS subscription_cents,
       CASE WHEN count(*) FILTER (WHERE status = 'missing') = 0
                 AND bool_and(total_cents IS NOT NULL) FILTER (WHERE usage_cents IS NOT NULL)
            THEN sum(total_cents) END AS total_cents,
       CASE WHEN count(usage_cents) > 0 AND bool_and(supply_cents IS NOT NULL AND subscription_cents IS NOT NULL)
            THEN round(sum(supply_cents + subscription_cents)
                       + sum(usage_cents + export_cents) * count(*) / count(usage_cents), 4) END AS projected_cents
FROM bill_daily
GROUP BY site_id, period_start;

COMMENT ON VIEW bill_periods IS
    'The bill per site and billing period (from bill_day): so-far sums over the days with data, the total (NULL while a day is missing) and a projection for the whole period. Cents incl. GST.';
COMMENT ON COLUMN bill_periods.site_id IS 'Amber site id.';
COMMENT ON COLUMN bill_periods.period_start IS 'First local day of the billing period.';
COMMENT ON COLUMN bill_periods.period_end IS 'Last local day of the billing period (the day before the next bill day).';
COMMENT ON COLUMN bill_periods.days IS 'Days of the period shown (fewer in a first or last period of a site), count.';
COMMENT ON COLUMN bill_periods.days_with_data IS 'Days with usage rows (final or estimated), count.';
COMMENT ON COLUMN bill_periods.days_estimated IS 'Days with some intervals still estimated, count.';
COMMENT ON COLUMN bill_periods.days_missing IS 'Days without usage rows before the newest day with data: gaps (backfill them), count.';
COMMENT ON COLUMN bill_periods.days_to_come IS 'Days after the newest day with data (pending meter data or in the future), count.';
COMMENT ON COLUMN bill_periods.status IS 'final, estimated, in progress or missing days.';
COMMENT ON COLUMN bill_periods.kwh_imported IS 'kWh imported over the days with data.';
COMMENT ON COLUMN bill_periods.kwh_exported IS 'kWh exported (positive) over the days with data.';
COMMENT ON COLUMN bill_periods.usage_cents IS 'Cost of imports in CENTS incl. GST over the days with data (exact).';
COMMENT ON COLUMN bill_periods.export_cents IS 'Feed-in in CENTS incl. GST over the days with data; NEGATIVE = a credit.';
COMMENT ON COLUMN bill_periods.supply_cents IS 'Supply charges in CENTS incl. GST of the days with data; NULL if a rate is unknown on one of them.';
COMMENT ON COLUMN bill_periods.subscription_cents IS 'Subscription in CENTS incl. GST of the days with data (pro-rated, 4 decimals).';
COMMENT ON COLUMN bill_periods.total_cents IS 'The bill so far in CENTS incl. GST: the sum of the daily totals of the days with data; NULL while a day is missing or a rate unknown.';
COMMENT ON COLUMN bill_periods.projected_cents IS 'Projected bill for the whole period in CENTS incl. GST: all days'' fixed charges + mean daily energy cost of the days with data x days; 4 decimals.';
