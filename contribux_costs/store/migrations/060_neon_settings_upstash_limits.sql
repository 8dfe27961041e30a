-- Neon per-branch consumption and compute settings; Upstash per-database limits (issue 14/15).
-- Snapshots sliced by fetched_at: re-collecting at the same fetch time replaces, never duplicates.

-- GET /projects/{project_id}/branches: one row per branch per fetch. The consumption fields are
-- Neon's running totals for the CURRENT billing period (they reset at its start).
CREATE TABLE neon_branches (
    provider              VARCHAR NOT NULL,
    endpoint              VARCHAR NOT NULL,
    fetched_at            TIMESTAMPTZ NOT NULL,
    project_id            VARCHAR NOT NULL,
    branch_id             VARCHAR NOT NULL,
    branch_name           VARCHAR,
    parent_id             VARCHAR,          -- null for a root branch
    is_default            BOOLEAN,
    created_at            TIMESTAMPTZ,
    expires_at            TIMESTAMPTZ,      -- branch expiration (TTL), when set
    logical_size          BIGINT,           -- bytes
    active_time_seconds   DOUBLE,           -- wall-clock seconds its computes ran this period
    compute_time_seconds  DOUBLE,           -- CU-seconds this period
    written_data_bytes    DOUBLE,
    data_transfer_bytes   DOUBLE,
    metadata              JSON NOT NULL
);

-- GET /projects/{project_id}/endpoints: each compute's settings per fetch.
-- suspend_timeout_seconds: 0 = Neon's default (300 s), -1 = never suspends.
CREATE TABLE neon_computes (
    provider                  VARCHAR NOT NULL,
    endpoint                  VARCHAR NOT NULL,
    fetched_at                TIMESTAMPTZ NOT NULL,
    project_id                VARCHAR NOT NULL,
    compute_id                VARCHAR NOT NULL,
    branch_id                 VARCHAR,
    compute_type              VARCHAR,      -- read_write | read_only
    autoscaling_limit_min_cu  DOUBLE,
    autoscaling_limit_max_cu  DOUBLE,
    suspend_timeout_seconds   BIGINT,
    current_state             VARCHAR,
    last_active               TIMESTAMPTZ,
    metadata                  JSON NOT NULL
);

INSERT INTO slice_tables VALUES ('neon_branches', 'fetched_at'), ('neon_computes', 'fetched_at');

-- Upstash per-database limits as the Developer API reports them (GET /v2/redis/databases).
ALTER TABLE upstash_databases ADD COLUMN db_disk_threshold BIGINT;          -- bytes
ALTER TABLE upstash_databases ADD COLUMN db_memory_threshold BIGINT;        -- bytes
ALTER TABLE upstash_databases ADD COLUMN db_daily_bandwidth_limit BIGINT;   -- bytes a day
ALTER TABLE upstash_databases ADD COLUMN db_max_commands_per_second BIGINT;
ALTER TABLE upstash_databases ADD COLUMN db_request_limit DOUBLE;           -- commands (may be 2^63)
ALTER TABLE upstash_databases ADD COLUMN db_max_request_size BIGINT;
ALTER TABLE upstash_databases ADD COLUMN db_max_entry_size BIGINT;
ALTER TABLE upstash_databases ADD COLUMN db_max_clients BIGINT;
