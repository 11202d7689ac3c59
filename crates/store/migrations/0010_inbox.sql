-- The inbox: what waits for a person — a workflow's approval or form step, a request type's approval or
-- custom task — with who may act on it, its deadline, and its outcome.
CREATE TABLE inbox_items (
    id TEXT PRIMARY KEY,
    -- APPROVAL, TASK or FORM.
    kind TEXT NOT NULL,
    -- What waits on it: EXECUTION (subject_id is the execution, subject_ref the effect id as JSON) or
    -- REQUEST (subject_id is a request type's request, subject_ref the step).
    subject_kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    subject_ref TEXT,
    title TEXT NOT NULL,
    description TEXT,
    -- JSON: what the person needs to decide (the step's input, a form, the request's answers).
    details TEXT NOT NULL,
    -- PENDING, then APPROVED, DENIED, COMPLETED, EXPIRED or CANCELLED.
    status TEXT NOT NULL,
    -- How many approvals an APPROVAL needs (each assignee decides once); one denial ends it.
    minimum_approvals BIGINT NOT NULL,
    approvals BIGINT NOT NULL,
    due_at BIGINT,
    -- Reminders every so many milliseconds until the deadline; the next one's time.
    remind_every BIGINT,
    next_reminder_at BIGINT,
    -- At the deadline: APPROVE, DENY, COMPLETE, EXPIRE or ESCALATE (to escalate_to, with a new deadline).
    timeout_action TEXT,
    escalate_to TEXT,
    decided_by TEXT,
    decision_comment TEXT,
    decided_at BIGINT,
    -- JSON: what the decision or submission hands back (a form's data, a task's output).
    output TEXT,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL
);
CREATE INDEX inbox_items_subject ON inbox_items (subject_kind, subject_id);
CREATE INDEX inbox_items_due ON inbox_items (status, due_at);
CREATE INDEX inbox_items_reminder ON inbox_items (status, next_reminder_at);

-- Who may act on an item; `delegated_from` names the assignee who handed it on.
CREATE TABLE inbox_assignees (
    item_id TEXT NOT NULL REFERENCES inbox_items (id),
    identity_id TEXT NOT NULL,
    delegated_from TEXT,
    -- An approver's own decision on a multi-approval item: APPROVED, or NULL while undecided.
    decision TEXT,
    PRIMARY KEY (item_id, identity_id)
);
CREATE INDEX inbox_assignees_identity ON inbox_assignees (identity_id);

-- Everything said and done on an item, in order: comments, reassignments, delegations, reminders.
CREATE TABLE inbox_activity (
    id TEXT PRIMARY KEY,
    item_id TEXT NOT NULL REFERENCES inbox_items (id),
    -- COMMENT, REASSIGN, DELEGATE, REMIND, ESCALATE, APPROVE, DENY, COMPLETE, EXPIRE, CANCEL.
    kind TEXT NOT NULL,
    actor_id TEXT,
    detail TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX inbox_activity_item ON inbox_activity (item_id, created_at);

-- Email to people, written in the transaction that has something to tell them and sent afterwards.
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    recipient_id TEXT NOT NULL,
    address TEXT,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    -- PENDING, SENT, FAILED (after the last attempt) or SKIPPED (the person has no email address).
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);

-- Executions something waits for: a request type's delegated workflow, an access request's approval
-- or pre-approval workflow. When the execution ends, its waiter continues with its outcome.
CREATE TABLE execution_waiters (
    execution_id TEXT PRIMARY KEY,
    -- ACCESS_REQUEST, ACCESS_REQUEST_ITEM or REQUEST.
    subject_kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    -- What the waiter does with the outcome: PRE_APPROVAL, DYNAMIC_APPROVER, APPROVAL, STEP.
    purpose TEXT NOT NULL,
    -- The request type step or approval level the execution serves.
    position BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX execution_waiters_subject ON execution_waiters (subject_kind, subject_id);
