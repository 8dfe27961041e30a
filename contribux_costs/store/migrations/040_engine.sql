-- The engine rebuilds a month's FOCUS rows only when collection has written something since its
-- last build: one row per month with the newest successful ledger run the build saw.
CREATE TABLE engine_focus_builds (
    month        VARCHAR PRIMARY KEY,
    ledger_mark  TIMESTAMPTZ,
    built_at     TIMESTAMPTZ NOT NULL
);
