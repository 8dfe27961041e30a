-- OpenAI usage as priced by each FOCUS build (all days of the month, one row per day, project,
-- model, token part, service tier and batch flag), so the analysis reads the very rows the bill's
-- estimates come from instead of re-pricing a month of hourly usage (issue 14, one pricing path).
-- Rebuilt with focus_charges: a build deletes the month's rows and inserts them.
CREATE TABLE IF NOT EXISTS openai_priced (
    month         VARCHAR NOT NULL,
    provider      VARCHAR NOT NULL,
    endpoint      VARCHAR NOT NULL,
    service       VARCHAR NOT NULL,
    resource_id   VARCHAR,
    resource_name VARCHAR,
    metric        VARCHAR NOT NULL,
    unit          VARCHAR NOT NULL,
    period_start  TIMESTAMPTZ NOT NULL,
    period_end    TIMESTAMPTZ NOT NULL,
    billing_date  DATE NOT NULL,
    dimensions    JSON,
    component     VARCHAR,
    plan          VARCHAR,
    batch         BOOLEAN,
    entry_id      VARCHAR,
    qty           DECIMAL(38, 12) NOT NULL,
    cost          DECIMAL(38, 12) NOT NULL
);
