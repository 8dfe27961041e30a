-- Core tables: ledger, raw landing, tidy usage, provider-billed charges (FOCUS 1.3 names).
CREATE TABLE ingest_ledger (
    run_id        VARCHAR NOT NULL,
    provider      VARCHAR NOT NULL,
    endpoint      VARCHAR NOT NULL,
    window_start  TIMESTAMPTZ NOT NULL,
    window_end    TIMESTAMPTZ NOT NULL,
    status        VARCHAR NOT NULL CHECK (status IN ('ok', 'failed')),
    rows          BIGINT NOT NULL DEFAULT 0,
    pages         INTEGER NOT NULL DEFAULT 0,
    started_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ NOT NULL,
    duration_ms   DOUBLE NOT NULL,
    error         VARCHAR,
    demo          BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE raw_payloads (
    provider        VARCHAR NOT NULL,
    endpoint        VARCHAR NOT NULL,
    window_start    TIMESTAMPTZ NOT NULL,
    window_end      TIMESTAMPTZ NOT NULL,
    seq             INTEGER NOT NULL,
    request_params  JSON,
    fetched_at      TIMESTAMPTZ NOT NULL,
    payload         VARCHAR NOT NULL
);

-- One row per (period, resource, metric): the tidy usage every analysis reads.
CREATE TABLE usage (
    provider       VARCHAR NOT NULL,
    endpoint       VARCHAR NOT NULL,
    service        VARCHAR NOT NULL,
    resource_id    VARCHAR,
    resource_name  VARCHAR,
    metric         VARCHAR NOT NULL,
    unit           VARCHAR NOT NULL,
    period_start   TIMESTAMPTZ NOT NULL,
    period_end     TIMESTAMPTZ NOT NULL,
    granularity    VARCHAR NOT NULL,
    value          DOUBLE NOT NULL,
    dimensions     JSON,
    billing_date   DATE NOT NULL
);

-- Charges billed by a provider (Vercel FOCUS export, OpenAI Costs API), FOCUS 1.3 column names.
CREATE TABLE charges (
    provider             VARCHAR NOT NULL,
    endpoint             VARCHAR NOT NULL,
    BilledCost           DECIMAL(38, 12) NOT NULL,
    EffectiveCost        DECIMAL(38, 12),
    ListCost             DECIMAL(38, 12),
    BillingCurrency      VARCHAR NOT NULL,
    ChargePeriodStart    TIMESTAMPTZ NOT NULL,
    ChargePeriodEnd      TIMESTAMPTZ NOT NULL,
    ChargeCategory       VARCHAR NOT NULL,
    ChargeDescription    VARCHAR,
    ServiceName          VARCHAR,
    ServiceCategory      VARCHAR,
    ServiceProviderName  VARCHAR NOT NULL,
    SkuId                VARCHAR,
    PricingCategory      VARCHAR,
    PricingQuantity      DECIMAL(38, 12),
    PricingUnit          VARCHAR,
    ConsumedQuantity     DECIMAL(38, 12),
    ConsumedUnit         VARCHAR,
    ResourceId           VARCHAR,
    ResourceName         VARCHAR,
    RegionId             VARCHAR,
    RegionName           VARCHAR,
    Tags                 JSON,
    x_billing_date       DATE NOT NULL,
    x_project_id         VARCHAR,
    x_line_item          VARCHAR
);

-- Workspace facts: whether this database holds DEMO DATA or live provider data (never both).
CREATE TABLE workspace (
    key    VARCHAR PRIMARY KEY,
    value  VARCHAR NOT NULL
);

-- Tables that collectors replace by slice, and the column that places a row in time. A migration
-- that adds a sliced table registers it here.
CREATE TABLE slice_tables (
    table_name   VARCHAR PRIMARY KEY,
    time_column  VARCHAR NOT NULL
);
INSERT INTO slice_tables VALUES ('usage', 'period_start'), ('charges', 'ChargePeriodStart');
