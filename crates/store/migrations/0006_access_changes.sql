-- Access changes that happen later: a grant with a start date, the revocation of temporary access
-- when its time is up. The dispatcher applies each once it is due.
CREATE TABLE scheduled_access (
    id TEXT PRIMARY KEY,
    identity_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    object_id TEXT NOT NULL,
    -- GRANT or REVOKE.
    change TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    -- Who asked (a JSON reference), and why.
    requester TEXT,
    comments TEXT,
    -- SCHEDULED until applied (DONE) or replaced (CANCELLED).
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    done_at BIGINT
);
CREATE INDEX scheduled_access_due ON scheduled_access (status, due_at);
CREATE INDEX scheduled_access_by_identity ON scheduled_access (identity_id, kind, object_id);

-- The output of a governance action a workflow performed, under the attempt's key: a repeat of the
-- attempt (the worker stopped before recording it) answers the same and changes nothing again.
CREATE TABLE performed_actions (
    action_key TEXT PRIMARY KEY,
    output TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
