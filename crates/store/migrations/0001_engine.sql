-- Workflows as immutable versions, durable executions with append-only history, the run queue
-- with leases, the event outbox, API clients, the audit log and settings.
-- Times are milliseconds since the Unix epoch; booleans are 0/1; JSON is text.

CREATE TABLE workflows (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    latest_version BIGINT NOT NULL,
    enabled BIGINT NOT NULL,
    trace BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    creator TEXT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE workflow_versions (
    workflow_id TEXT NOT NULL REFERENCES workflows (id),
    version BIGINT NOT NULL,
    document TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    author TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (workflow_id, version)
);

CREATE TABLE executions (
    id TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    status TEXT NOT NULL,
    state TEXT NOT NULL,
    input TEXT NOT NULL,
    trace BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    error TEXT,
    parent_id TEXT,
    parent_effect TEXT,
    cancel_requested BIGINT NOT NULL DEFAULT 0,
    history_len BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX executions_by_workflow ON executions (workflow_id, started_at);
CREATE INDEX executions_by_status ON executions (status);

CREATE TABLE execution_history (
    execution_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    entry TEXT NOT NULL,
    PRIMARY KEY (execution_id, seq)
);

CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    execution_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    run_at BIGINT NOT NULL,
    attempt BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX tasks_due ON tasks (run_at);
CREATE INDEX tasks_by_execution ON tasks (execution_id);

CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    dispatched_at BIGINT
);

CREATE TABLE api_clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    scopes TEXT NOT NULL,
    workflow_id TEXT,
    created_at BIGINT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_by_target ON audit_log (target_type, target_id, at);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
