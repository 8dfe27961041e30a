-- Upstash Redis: the Developer API keeps no history, so every collection run stores a snapshot.
-- All four tables are sliced by fetched_at: re-running at the same fetch time replaces, never
-- duplicates. Secrets (password, rest_token, read_only_rest_token) are dropped before any row or
-- raw payload is built; no column here can hold them.

-- The database list as fetched (one row per database per fetch).
CREATE TABLE upstash_databases (
    provider        VARCHAR NOT NULL,
    endpoint        VARCHAR NOT NULL,
    fetched_at      TIMESTAMPTZ NOT NULL,
    database_id     VARCHAR NOT NULL,
    database_name   VARCHAR,
    database_type   VARCHAR,
    region          VARCHAR,
    state           VARCHAR,
    creation_time   TIMESTAMPTZ,
    db_endpoint     VARCHAR,          -- the REST/TLS host, e.g. eu1-sharp-cat-12345.upstash.io
    tls             BOOLEAN,
    metadata        JSON NOT NULL      -- the whole record minus secret keys
);

-- /redis/stats/{id}: one row per database per fetch. Month-to-date counters reset at month start.
CREATE TABLE upstash_snapshots (
    provider                      VARCHAR NOT NULL,
    endpoint                      VARCHAR NOT NULL,
    fetched_at                    TIMESTAMPTZ NOT NULL,
    database_id                   VARCHAR NOT NULL,
    database_name                 VARCHAR,
    daily_net_commands            DOUBLE,
    daily_read_requests           DOUBLE,
    daily_write_requests          DOUBLE,
    dailybandwidth                DOUBLE,   -- bytes
    total_monthly_requests        DOUBLE,
    total_monthly_read_requests   DOUBLE,
    total_monthly_write_requests  DOUBLE,
    total_monthly_bandwidth       DOUBLE,   -- bytes
    total_monthly_storage         DOUBLE,   -- bytes
    current_storage               DOUBLE,   -- bytes (gauge)
    total_monthly_billing         DECIMAL(38, 12),  -- running USD estimate, not an invoice
    -- The hits/misses per-second series integrated over their span: when INFO has no keyspace
    -- counters, their ratio splits the interval's read requests into hits and misses.
    series_hits                   DOUBLE,
    series_misses                 DOUBLE,
    series_seconds                DOUBLE,
    info_status                   VARCHAR NOT NULL,  -- ok | no_token | no_counters | failed: …
    scalars                       JSON,     -- every scalar field (including ones added later)
    series                        JSON      -- every series field as received
);

-- Series points parsed from the snapshot (x timestamps converted to UTC microseconds).
CREATE TABLE upstash_series (
    provider     VARCHAR NOT NULL,
    endpoint     VARCHAR NOT NULL,
    fetched_at   TIMESTAMPTZ NOT NULL,
    database_id  VARCHAR NOT NULL,
    series       VARCHAR NOT NULL,   -- e.g. hits, dailyrequests, command_counts
    label        VARCHAR,            -- command_counts: metric_identifier (GET, SET, …)
    ts           TIMESTAMPTZ NOT NULL,
    value        DOUBLE
);

-- INFO stats through the database's REST endpoint: cumulative counters since the server started.
CREATE TABLE upstash_info (
    provider                    VARCHAR NOT NULL,
    endpoint                    VARCHAR NOT NULL,
    fetched_at                  TIMESTAMPTZ NOT NULL,
    database_id                 VARCHAR NOT NULL,
    keyspace_hits               BIGINT,
    keyspace_misses             BIGINT,
    total_commands_processed    BIGINT,
    total_connections_received  BIGINT,
    total_net_input_bytes       BIGINT,
    total_net_output_bytes      BIGINT,
    expired_keys                BIGINT,
    evicted_keys                BIGINT,
    counters                    JSON NOT NULL   -- every numeric field of the report
);

INSERT INTO slice_tables VALUES
    ('upstash_databases', 'fetched_at'),
    ('upstash_snapshots', 'fetched_at'),
    ('upstash_series', 'fetched_at'),
    ('upstash_info', 'fetched_at');
