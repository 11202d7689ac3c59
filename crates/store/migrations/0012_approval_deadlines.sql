-- Reminders, escalation and forwarding of ISC access-request approvals, and the tenant's access-request
-- configuration (ISC's AccessRequestConfig) that sets them.

-- The configuration as ISC's document, one row.
CREATE TABLE access_request_config (
    name TEXT PRIMARY KEY,
    document TEXT NOT NULL,
    modified_at BIGINT NOT NULL
);

-- When the current approvers got the approval (NULL: when the level opened, `created_at`): reminders and
-- escalation count from here, so a forwarded or escalated approval gives its new approver full time.
ALTER TABLE access_request_approvals ADD COLUMN assigned_at BIGINT;
-- Reminders sent to the current approvers, and when the last one went.
ALTER TABLE access_request_approvals ADD COLUMN reminders_sent BIGINT NOT NULL DEFAULT 0;
ALTER TABLE access_request_approvals ADD COLUMN last_reminded_at BIGINT;
-- 1 once escalation fell due and there was nobody to escalate to; cleared when the approval is reassigned.
ALTER TABLE access_request_approvals ADD COLUMN escalation_blocked BIGINT NOT NULL DEFAULT 0;

-- Each time a pending approval changed hands: forwarded by a person or escalated at its deadline.
CREATE TABLE access_request_reassignments (
    id TEXT PRIMARY KEY,
    approval_id TEXT NOT NULL REFERENCES access_request_approvals (id),
    -- JSON list of the identities who could decide before.
    old_approvers TEXT NOT NULL,
    new_approver TEXT NOT NULL,
    -- Who forwarded it; NULL for an escalation.
    forwarder TEXT,
    comment TEXT,
    -- MANUAL_REASSIGNMENT (forwarded) or AUTO_ESCALATION, as ISC's forwardHistory names them.
    kind TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX access_request_reassignments_of ON access_request_reassignments (approval_id, created_at);
