-- Separation-of-duties policies (ISC's SodPolicy documents, whole) and the violations an access request
-- would create, kept beside the request so approvers see them.
CREATE TABLE sod_policies (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    document TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL
);

CREATE TABLE access_request_sod (
    request_id TEXT PRIMARY KEY REFERENCES access_requests (id),
    -- ISC's sodViolationContext as JSON.
    context TEXT NOT NULL
);
