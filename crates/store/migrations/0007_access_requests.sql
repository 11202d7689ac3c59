-- ISC-style access requests: one row per requested-for identity, its requested items, and the approval
-- levels each item must pass in series.
CREATE TABLE access_requests (
    id TEXT PRIMARY KEY,
    requester_id TEXT NOT NULL,
    requested_for_id TEXT NOT NULL,
    -- GRANT_ACCESS or REVOKE_ACCESS.
    request_type TEXT NOT NULL,
    -- PENDING until every item is decided (COMPLETED) or the request is CANCELLED.
    status TEXT NOT NULL,
    comment TEXT,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL
);
CREATE INDEX access_requests_for ON access_requests (requested_for_id, created_at);
CREATE INDEX access_requests_by ON access_requests (requester_id, created_at);

CREATE TABLE access_request_items (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES access_requests (id),
    position BIGINT NOT NULL,
    -- ROLE, ACCESS_PROFILE or ENTITLEMENT.
    kind TEXT NOT NULL,
    object_id TEXT NOT NULL,
    name TEXT NOT NULL,
    comment TEXT,
    remove_at BIGINT,
    -- PENDING, APPROVED, REJECTED or CANCELLED.
    status TEXT NOT NULL,
    -- The provisioning group an approved item started.
    tracking_number TEXT,
    modified_at BIGINT NOT NULL
);
CREATE INDEX access_request_items_of ON access_request_items (request_id, position);
CREATE INDEX access_request_items_object ON access_request_items (kind, object_id, status);

CREATE TABLE access_request_approvals (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES access_requests (id),
    item_id TEXT NOT NULL REFERENCES access_request_items (id),
    level BIGINT NOT NULL,
    -- MANAGER, OWNER, SOURCE_OWNER, GOVERNANCE_GROUP or IDENTITY.
    approver_kind TEXT NOT NULL,
    -- The owner, manager or governance group the level names.
    approver_ref TEXT,
    -- WAITING (an earlier level is open), PENDING, APPROVED, REJECTED or CANCELLED.
    status TEXT NOT NULL,
    decided_by TEXT,
    comment TEXT,
    decided_at BIGINT,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL
);
CREATE INDEX access_request_approvals_of ON access_request_approvals (item_id, level);
CREATE INDEX access_request_approvals_status ON access_request_approvals (status, created_at);

-- Who may decide an approval: the identities it was routed to.
CREATE TABLE access_request_approvers (
    approval_id TEXT NOT NULL REFERENCES access_request_approvals (id),
    identity_id TEXT NOT NULL,
    PRIMARY KEY (approval_id, identity_id)
);
CREATE INDEX access_request_approvers_identity ON access_request_approvers (identity_id);
