-- Named secrets workflows refer to as `{{secret:<name>}}`, sealed under the node key; their values
-- are opened only by the action that sends them.
CREATE TABLE secrets (
    name TEXT PRIMARY KEY,
    sealed TEXT NOT NULL,
    description TEXT,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    modified_by TEXT NOT NULL
);
