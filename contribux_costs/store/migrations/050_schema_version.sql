-- The store's schema version in one place a release (or an operator) can read: the highest
-- migration applied. open_store refuses a database whose migrations this release does not know
-- (written by a newer release) and applies the missing ones of an older one in one transaction.
CREATE VIEW schema_version AS
SELECT coalesce(max(version), 0) AS version, count(*) AS migrations, max(applied_at) AS migrated_at
FROM schema_migrations;
