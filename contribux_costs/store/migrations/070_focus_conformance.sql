-- FOCUS 1.3 conformance (issue 15): the deprecated provider columns kept beside their
-- replacements, sub-accounts, commitment-discount columns and InvoiceId. Additive only.
ALTER TABLE focus_charges ADD COLUMN ProviderName VARCHAR;
ALTER TABLE focus_charges ADD COLUMN PublisherName VARCHAR;
ALTER TABLE focus_charges ADD COLUMN InvoiceId VARCHAR;
ALTER TABLE focus_charges ADD COLUMN SubAccountId VARCHAR;
ALTER TABLE focus_charges ADD COLUMN SubAccountName VARCHAR;
ALTER TABLE focus_charges ADD COLUMN SubAccountType VARCHAR;
ALTER TABLE focus_charges ADD COLUMN CommitmentDiscountCategory VARCHAR;
ALTER TABLE focus_charges ADD COLUMN CommitmentDiscountId VARCHAR;
ALTER TABLE focus_charges ADD COLUMN CommitmentDiscountName VARCHAR;
ALTER TABLE focus_charges ADD COLUMN CommitmentDiscountStatus VARCHAR;
ALTER TABLE focus_charges ADD COLUMN CommitmentDiscountType VARCHAR;
ALTER TABLE focus_charges ADD COLUMN CommitmentDiscountQuantity DECIMAL(38, 12);
ALTER TABLE focus_charges ADD COLUMN CommitmentDiscountUnit VARCHAR;
