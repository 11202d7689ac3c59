-- The governed world: identities, their accounts on sources, the access catalogue (sources,
-- entitlements, access profiles, roles, identity profiles, lifecycle states, governance groups),
-- what each identity holds, provisioning plans waiting to run, and aggregation runs.
-- Times are milliseconds since the Unix epoch; booleans are 0/1; JSON is text.

-- Catalogue objects keep their whole ISC document, with the fields lists filter and sort on
-- copied into columns. `parent_id` is the source of an entitlement or access profile and the
-- identity profile of a lifecycle state; `key` is unique among objects of one kind and parent.
CREATE TABLE catalog (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    key TEXT NOT NULL,
    parent_id TEXT NOT NULL DEFAULT '',
    owner_id TEXT,
    enabled BIGINT NOT NULL DEFAULT 1,
    requestable BIGINT NOT NULL DEFAULT 0,
    document TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE UNIQUE INDEX catalog_key ON catalog (kind, parent_id, key);
CREATE INDEX catalog_by_name ON catalog (kind, name);
CREATE INDEX catalog_by_parent ON catalog (kind, parent_id);
CREATE INDEX catalog_by_owner ON catalog (kind, owner_id);

CREATE TABLE identities (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    alias TEXT NOT NULL,
    email TEXT,
    manager_id TEXT,
    profile_id TEXT,
    lifecycle_state TEXT,
    lifecycle_manual BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'ACTIVE',
    attributes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL
);
CREATE INDEX identities_by_name ON identities (name);
CREATE INDEX identities_by_alias ON identities (alias);
CREATE INDEX identities_by_email ON identities (email);
CREATE INDEX identities_by_manager ON identities (manager_id);
CREATE INDEX identities_by_profile ON identities (profile_id);

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    source_id TEXT NOT NULL,
    native_identity TEXT NOT NULL,
    name TEXT NOT NULL,
    identity_id TEXT,
    attributes TEXT NOT NULL,
    attributes_hash BIGINT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0,
    locked BIGINT NOT NULL DEFAULT 0,
    manually_correlated BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX accounts_native ON accounts (source_id, native_identity);
CREATE INDEX accounts_by_identity ON accounts (identity_id);

-- Roles, access profiles and entitlements an identity holds, and why (BIRTHRIGHT, LIFECYCLE,
-- REQUEST, ACCOUNT).
CREATE TABLE identity_access (
    identity_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    object_id TEXT NOT NULL,
    origin TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (identity_id, kind, object_id)
);
CREATE INDEX identity_access_by_object ON identity_access (kind, object_id);

-- Account changes decided by lifecycle, birthright roles or requests, to be carried out by a
-- connector (or by a person, for a manual source).
CREATE TABLE provisioning_plans (
    id TEXT PRIMARY KEY,
    identity_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    cause TEXT NOT NULL,
    status TEXT NOT NULL,
    document TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL
);
CREATE INDEX provisioning_plans_by_identity ON provisioning_plans (identity_id, created_at);
CREATE INDEX provisioning_plans_by_status ON provisioning_plans (status, created_at);

CREATE TABLE aggregations (
    id TEXT PRIMARY KEY,
    source_id TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    completed_at BIGINT,
    processed BIGINT NOT NULL DEFAULT 0,
    stats TEXT NOT NULL,
    errors TEXT NOT NULL,
    message TEXT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX aggregations_by_source ON aggregations (source_id, started_at);

CREATE TABLE workgroup_members (
    workgroup_id TEXT NOT NULL,
    identity_id TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (workgroup_id, identity_id)
);
CREATE INDEX workgroup_members_by_identity ON workgroup_members (identity_id);
