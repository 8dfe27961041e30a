-- Vercel contract commitments (GET /v1/billing/contract-commitments, FOCUS 1.3 Contract
-- Commitment dataset), one row per commitment term. Replaced by slice on the term's start.
CREATE TABLE contract_commitments (
    provider                       VARCHAR NOT NULL,
    endpoint                       VARCHAR NOT NULL,
    ContractId                     VARCHAR NOT NULL,
    ContractCommitmentId           VARCHAR NOT NULL,
    ContractCommitmentCategory     VARCHAR NOT NULL,
    ContractCommitmentType         VARCHAR NOT NULL,
    ContractCommitmentUnit         VARCHAR NOT NULL,
    ContractCommitmentCost         DECIMAL(38, 12),
    ContractCommitmentQuantity     DECIMAL(38, 12),
    ContractCommitmentDescription  VARCHAR,
    ContractCommitmentPeriodStart  TIMESTAMPTZ NOT NULL,
    ContractCommitmentPeriodEnd    TIMESTAMPTZ NOT NULL,
    ContractPeriodStart            TIMESTAMPTZ NOT NULL,
    ContractPeriodEnd              TIMESTAMPTZ NOT NULL,
    BillingCurrency                VARCHAR NOT NULL
);
INSERT INTO slice_tables VALUES ('contract_commitments', 'ContractCommitmentPeriodStart');
