-- When each scheduled workflow fires next, for the version whose trigger set it.
CREATE TABLE schedules (
    workflow_id TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    next_at BIGINT NOT NULL
);
