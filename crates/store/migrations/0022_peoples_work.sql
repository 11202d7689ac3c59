-- One model of work waiting for a person. Access request approvals and manual provisioning work
-- items become inbox items beside workflow approvals, forms and request-type tasks, so that one table
-- holds what waits for people, one query lists a person's inbox and one runner applies deadlines.
-- The rows of the tables they replace (access_request_approvals, access_request_approvers,
-- access_request_reassignments, work_items) are moved by the store when it opens a database
-- (`store::legacy_work`), which then drops those tables: moving them needs JSON that SQL cannot write
-- the same way on both databases.
--
-- Subjects: EXECUTION and REQUEST as before; ACCESS_REQUEST (subject_id the request, subject_ref the
-- requested item, `level` the approval level) and PLAN (subject_id the provisioning plan).
-- Statuses: WAITING (an access approval level behind an open one), PENDING, then APPROVED, DENIED,
-- COMPLETED, FAILED (a work item the person could not carry out), EXPIRED or CANCELLED.

-- An access approval's level.
ALTER TABLE inbox_items ADD COLUMN level BIGINT;
-- Who the work was routed to, as configured: MANAGER, OWNER, SOURCE_OWNER, GOVERNANCE_GROUP,
-- IDENTITY, WORKFLOW or PRE_APPROVAL for an approval level; IDENTITY or GOVERNANCE_GROUP for a work
-- item; and the identity, group or workflow it names.
ALTER TABLE inbox_items ADD COLUMN route_kind TEXT;
ALTER TABLE inbox_items ADD COLUMN route_ref TEXT;
-- The identity the work is about: the person access is requested for, whose account a work item changes.
ALTER TABLE inbox_items ADD COLUMN about_id TEXT;
-- The tenant-configured deadlines of access approvals: when the current assignees got the item,
-- the reminders sent them, and whether escalation found nobody.
ALTER TABLE inbox_items ADD COLUMN assigned_at BIGINT;
ALTER TABLE inbox_items ADD COLUMN reminders_sent BIGINT NOT NULL DEFAULT 0;
ALTER TABLE inbox_items ADD COLUMN last_reminded_at BIGINT;
ALTER TABLE inbox_items ADD COLUMN escalation_blocked BIGINT NOT NULL DEFAULT 0;

-- An item's levels, opened in turn. (No index for listing approvals by status and time: a write to
-- every approval would pay for it, and those lists read one approver's few items.)
CREATE INDEX inbox_items_subject_ref ON inbox_items (subject_kind, subject_ref, level);

-- Most work has no deadline of its own (access approvals and work items never do): the deadline and
-- reminder indexes keep only the items that have one, so the rest cost them nothing to write.
DROP INDEX inbox_items_due;
DROP INDEX inbox_items_reminder;
CREATE INDEX inbox_items_due ON inbox_items (status, due_at) WHERE due_at IS NOT NULL;
CREATE INDEX inbox_items_reminder ON inbox_items (status, next_reminder_at) WHERE next_reminder_at IS NOT NULL;

-- Work waiting now, by kind: the configured reminders and escalations of access approvals read only
-- these, not every approval ever decided.
CREATE INDEX inbox_items_pending ON inbox_items (subject_kind, created_at) WHERE status = 'PENDING';
