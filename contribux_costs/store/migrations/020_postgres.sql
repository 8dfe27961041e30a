-- Postgres statistics of the Neon database: snapshots of cumulative counters, kept with their fetch
-- time. Counters only grow until a reset (pg_stat_statements_reset(), pg_stat_reset(), a compute
-- restart), so analyses read deltas between consecutive snapshots
-- (contribux_costs.collectors.postgres_deltas), never the raw cumulative values.

-- ``server`` is the host:port the counters came from (never credentials): series from different
-- servers (another Neon branch endpoint) are never diffed against each other.

-- pg_stat_statements: one row per (server, dbid, userid, queryid, toplevel) per snapshot. The query text is
-- PostgreSQL's normalized text (constants replaced by $1, $2, …); string literals left in utility
-- statements are masked before storing. stats_reset comes from pg_stat_statements_info (PG 14+).
CREATE TABLE pg_statements_snapshots (
    provider          VARCHAR NOT NULL,
    endpoint          VARCHAR NOT NULL,
    fetched_at        TIMESTAMPTZ NOT NULL,
    server            VARCHAR NOT NULL,
    dbid              BIGINT NOT NULL,
    datname           VARCHAR,
    userid            BIGINT NOT NULL,
    rolname           VARCHAR,
    queryid           BIGINT NOT NULL,
    toplevel          BOOLEAN NOT NULL,
    query             VARCHAR,
    calls             BIGINT NOT NULL,
    total_exec_time   DOUBLE NOT NULL,   -- milliseconds, cumulative
    mean_exec_time    DOUBLE,            -- milliseconds, over the entry's lifetime
    rows              BIGINT NOT NULL,
    shared_blks_hit   BIGINT NOT NULL,
    shared_blks_read  BIGINT NOT NULL,
    stats_reset       TIMESTAMPTZ
);

-- pg_stat_database: one row per (server, non-template database) per snapshot.
CREATE TABLE pg_database_snapshots (
    provider        VARCHAR NOT NULL,
    endpoint        VARCHAR NOT NULL,
    fetched_at      TIMESTAMPTZ NOT NULL,
    server          VARCHAR NOT NULL,
    datid           BIGINT NOT NULL,
    datname         VARCHAR NOT NULL,
    numbackends     INTEGER,           -- a gauge: connections at the snapshot
    xact_commit     BIGINT NOT NULL,
    xact_rollback   BIGINT NOT NULL,
    blks_read       BIGINT NOT NULL,
    blks_hit        BIGINT NOT NULL,
    tup_returned    BIGINT,
    tup_fetched     BIGINT,
    tup_inserted    BIGINT,
    tup_updated     BIGINT,
    tup_deleted     BIGINT,
    temp_files      BIGINT,
    temp_bytes      BIGINT,
    deadlocks       BIGINT,
    blk_read_time   DOUBLE,            -- milliseconds (needs track_io_timing)
    blk_write_time  DOUBLE,
    stats_reset     TIMESTAMPTZ
);

INSERT INTO slice_tables VALUES
    ('pg_statements_snapshots', 'fetched_at'),
    ('pg_database_snapshots', 'fetched_at');
