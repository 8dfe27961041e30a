-- The store's schema version in one place a release (or an operator) can read: the highest
-- migration applied. open_store refuses a database whose migrations this release does not know
-- (written by a newer release) and applies the missing ones of an older one in one transaction.
-- (Only the number: two databases at the same version read the same here.)
CREATE VIEW schema_version AS
SELECT coalesce(max(version), 0) AS version FROM schema_migrations;
