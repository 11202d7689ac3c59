-- Okta-style request types: teams that own them, configuration lists their dropdowns draw on, the
-- definitions themselves, and the requests raised from them with their steps and timeline.

-- A team: its members (some of them admins) own request types and configuration lists, and are
-- assigned the requests raised from them.
CREATE TABLE teams (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    -- Who may edit what the team owns: ADMINS (the members marked admin) or MEMBERS (every member).
    editors TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL
);

CREATE TABLE team_members (
    team_id TEXT NOT NULL REFERENCES teams (id),
    identity_id TEXT NOT NULL,
    admin BIGINT NOT NULL,
    -- The member's place in the team's list, as given.
    position BIGINT NOT NULL,
    PRIMARY KEY (team_id, identity_id)
);
CREATE INDEX team_members_identity ON team_members (identity_id);

-- A configuration list: CUSTOM items kept here, or SOURCES, ENTITLEMENTS, ACCESS_PROFILES or ROLES
-- read live from the catalogue through `filter`.
CREATE TABLE configuration_lists (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    team_id TEXT NOT NULL REFERENCES teams (id),
    list_type TEXT NOT NULL,
    -- JSON: {"sourceId", "requestable"} for catalogue lists, null otherwise.
    filter TEXT,
    -- JSON: [{"id", "value", "label"}] for CUSTOM lists, [] otherwise.
    items TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL
);
CREATE INDEX configuration_lists_team ON configuration_lists (team_id);

-- A request type: its whole definition (audience, questions, steps) as JSON, owned by a team.
CREATE TABLE request_types (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    team_id TEXT NOT NULL REFERENCES teams (id),
    -- DRAFT or PUBLISHED: only a published type takes requests.
    status TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL
);
CREATE INDEX request_types_team ON request_types (team_id);

-- What a request type's definition names, so that deleting a team or list still in use is refused.
CREATE TABLE request_type_refs (
    request_type_id TEXT NOT NULL REFERENCES request_types (id),
    -- TEAM or LIST.
    ref_kind TEXT NOT NULL,
    ref_id TEXT NOT NULL,
    PRIMARY KEY (request_type_id, ref_kind, ref_id)
);
CREATE INDEX request_type_refs_ref ON request_type_refs (ref_kind, ref_id);

-- A request raised from a request type. Its definition is copied in, so editing the type never
-- changes a request already under way; `current_step` is the step being run (a conditional update
-- on it makes each step advance once).
CREATE TABLE type_requests (
    id TEXT PRIMARY KEY,
    request_type_id TEXT NOT NULL,
    request_type_name TEXT NOT NULL,
    team_id TEXT NOT NULL,
    definition TEXT NOT NULL,
    subject TEXT NOT NULL,
    requester_id TEXT NOT NULL,
    requested_for_id TEXT NOT NULL,
    assignee_id TEXT,
    -- PENDING, then COMPLETED, DENIED, CANCELLED or FAILED.
    status TEXT NOT NULL,
    -- JSON: {question key: answer}, and {question key: label} for dropdown answers.
    answers TEXT NOT NULL,
    answer_labels TEXT NOT NULL,
    current_step BIGINT NOT NULL,
    -- Why it ended DENIED, CANCELLED or FAILED.
    reason TEXT,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    closed_at BIGINT
);
CREATE INDEX type_requests_requester ON type_requests (requester_id, created_at);
CREATE INDEX type_requests_for ON type_requests (requested_for_id, created_at);
CREATE INDEX type_requests_team ON type_requests (team_id, status);
CREATE INDEX type_requests_assignee ON type_requests (assignee_id, status);
CREATE INDEX type_requests_type ON type_requests (request_type_id, status);

-- Each step of a request: WAITING until reached, then PENDING (an inbox item is open) or RUNNING (a
-- delegated workflow runs), and finally APPROVED, DENIED, COMPLETED, FAILED, SKIPPED or CANCELLED.
CREATE TABLE type_request_steps (
    request_id TEXT NOT NULL REFERENCES type_requests (id),
    position BIGINT NOT NULL,
    -- APPROVAL, TASK or ACTION.
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    inbox_item_id TEXT,
    execution_id TEXT,
    -- JSON: a delegated workflow's output, or what a grant did.
    output TEXT,
    decided_by TEXT,
    comment TEXT,
    started_at BIGINT,
    ended_at BIGINT,
    PRIMARY KEY (request_id, position)
);
CREATE INDEX type_request_steps_item ON type_request_steps (inbox_item_id);

-- Everything that happened to a request, in order.
CREATE TABLE type_request_timeline (
    request_id TEXT NOT NULL REFERENCES type_requests (id),
    seq BIGINT NOT NULL,
    -- SUBMITTED, ASSIGNED, APPROVAL_REQUESTED, APPROVAL_DECIDED, TASK_OPENED, TASK_COMPLETED,
    -- ACCESS_GRANTED, WORKFLOW_STARTED, WORKFLOW_ENDED, COMMENT, CANCELLED, COMPLETED, DENIED, FAILED…
    kind TEXT NOT NULL,
    actor_id TEXT,
    step BIGINT,
    detail TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (request_id, seq)
);
