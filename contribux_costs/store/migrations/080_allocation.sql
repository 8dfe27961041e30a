-- Allocation (issue 16): every FOCUS row's environment and owner, and FOCUS 1.3's split cost
-- allocation columns for a shared charge split across environments/owners (one origin row becomes
-- one allocated row per target; the allocated rows' costs sum to the origin's exactly).
-- JSON columns are kept as text: the export writes them as strings, as FOCUS allows.
ALTER TABLE focus_charges ADD COLUMN AllocatedMethodId VARCHAR;
ALTER TABLE focus_charges ADD COLUMN AllocatedMethodDetails VARCHAR;
ALTER TABLE focus_charges ADD COLUMN AllocatedResourceId VARCHAR;
ALTER TABLE focus_charges ADD COLUMN AllocatedResourceName VARCHAR;
ALTER TABLE focus_charges ADD COLUMN AllocatedTags VARCHAR;
ALTER TABLE focus_charges ADD COLUMN x_environment VARCHAR;
ALTER TABLE focus_charges ADD COLUMN x_owner VARCHAR;
