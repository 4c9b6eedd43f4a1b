-- Sites and their meter channels, as Amber's /sites endpoint describes them; the loader upserts both on
-- every start. Plain tables: a household has a handful of rows.

CREATE TABLE IF NOT EXISTS sites (
    site_id                  text PRIMARY KEY,
    nmi                      text NOT NULL,
    network                  text,
    status                   text,
    active_from              date,
    closed_on                date,
    interval_length_minutes  smallint,
    raw                      jsonb NOT NULL,
    updated_at               timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE sites IS 'Amber sites (one per NMI) the API key can see.';
COMMENT ON COLUMN sites.site_id IS 'Amber site id (the API''s id), e.g. 01F5A5CRKMZ5BCX9P1S4V990AM.';
COMMENT ON COLUMN sites.nmi IS 'National Metering Identifier of the site''s meter.';
COMMENT ON COLUMN sites.network IS 'Distribution network (DNSP), e.g. Jemena, Ausgrid.';
COMMENT ON COLUMN sites.status IS 'Site status as Amber gives it: pending, active or closed (other values kept as received).';
COMMENT ON COLUMN sites.active_from IS 'Date the site became active with Amber (Amber''s activeFrom, a local calendar date).';
COMMENT ON COLUMN sites.closed_on IS 'Date the site closed (Amber''s closedOn), NULL while open.';
COMMENT ON COLUMN sites.interval_length_minutes IS 'Length of the site''s billing intervals in minutes (5 or 30); NULL when the API omits it.';
COMMENT ON COLUMN sites.raw IS 'The site object exactly as the API returned it (jsonb).';
COMMENT ON COLUMN sites.updated_at IS 'When the loader last wrote this row (UTC timestamptz).';

CREATE TABLE IF NOT EXISTS channels (
    site_id     text NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    identifier  text NOT NULL,
    type        text NOT NULL,
    tariff      text,
    PRIMARY KEY (site_id, identifier)
);
COMMENT ON TABLE channels IS 'Meter channels of each site: what usage.channel_identifier refers to.';
COMMENT ON COLUMN channels.site_id IS 'Site the channel belongs to (sites.site_id).';
COMMENT ON COLUMN channels.identifier IS 'Meter channel identifier, e.g. E1 (general), E2 (controlled load), B1 (feed-in).';
COMMENT ON COLUMN channels.type IS 'Channel type: general, controlledLoad or feedIn (unknown values kept as received).';
COMMENT ON COLUMN channels.tariff IS 'Network tariff code of the channel, e.g. A100.';
