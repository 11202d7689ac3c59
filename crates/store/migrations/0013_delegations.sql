-- Standing delegations: while `delegator` is away (from `starts_at` until `ends_at`), what would be
-- assigned to them — inbox items, access request approvals — goes to `delegate` instead.
CREATE TABLE delegations (
    id TEXT PRIMARY KEY,
    delegator_id TEXT NOT NULL,
    delegate_id TEXT NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT,
    comment TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- Set when ended early.
    revoked_at BIGINT
);
CREATE INDEX delegations_delegator ON delegations (delegator_id, starts_at);
