-- Carrying out provisioning plans: each plan (one account request on one source) is claimed with a
-- lease, retried with back-off, and ends SUCCESS, FAILED, or PENDING on a person's work item. Plans
-- of one identity change share a tracking number; the last of them to finish announces them all.

ALTER TABLE provisioning_plans ADD COLUMN tracking_number TEXT NOT NULL DEFAULT '';
ALTER TABLE provisioning_plans ADD COLUMN attempt BIGINT NOT NULL DEFAULT 0;
ALTER TABLE provisioning_plans ADD COLUMN run_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE provisioning_plans ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE provisioning_plans ADD COLUMN result TEXT;
CREATE INDEX provisioning_plans_due ON provisioning_plans (status, run_at);
CREATE INDEX provisioning_plans_by_tracking ON provisioning_plans (tracking_number);

-- How many plans of a tracking number are still to finish; the transaction that brings it to zero
-- publishes Provisioning Completed (the row lock makes that exactly one transaction).
CREATE TABLE provisioning_trackings (
    tracking_number TEXT PRIMARY KEY,
    identity_id TEXT NOT NULL,
    action TEXT NOT NULL,
    requester TEXT,
    remaining BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    completed_at BIGINT
);

-- Work for a person: an account request on a source with no connector (or one that hands it over).
CREATE TABLE work_items (
    id TEXT PRIMARY KEY,
    plan_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    identity_id TEXT NOT NULL,
    assignee TEXT,
    status TEXT NOT NULL,
    document TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    completed_at BIGINT,
    completed_by TEXT,
    comment TEXT
);
CREATE INDEX work_items_by_status ON work_items (status, created_at);
CREATE INDEX work_items_by_plan ON work_items (plan_id);
