-- The lifecycle of a recommendation (issue 17): its latest status, set from the CLI
-- (`contribux-costs recommendations set ID --status ...`). One row per stable recommendation id;
-- setting again replaces the row. The estimate and the baseline (the month's cost of the rows the
-- recommendation acts on, and the days it covers) are recorded when the status is set, so the
-- months after a "done" show the realised saving against that baseline.
CREATE TABLE recommendation_status (
    id             VARCHAR PRIMARY KEY,
    status         VARCHAR NOT NULL CHECK (status IN ('open', 'accepted', 'dismissed', 'done')),
    reason         VARCHAR,
    set_at         TIMESTAMPTZ NOT NULL,
    month          VARCHAR NOT NULL,
    provider       VARCHAR NOT NULL,
    rule_id        VARCHAR NOT NULL,
    subject        VARCHAR NOT NULL,
    title          VARCHAR NOT NULL,
    estimate_usd   DECIMAL(18, 2) NOT NULL,
    baseline_usd   DECIMAL(38, 12) NOT NULL,
    baseline_days  INTEGER NOT NULL
);
