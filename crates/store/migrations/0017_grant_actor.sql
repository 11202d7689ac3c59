-- Who made a grant: `client:<id>` (an API client), `identity:<id>` (a person deciding), `workflow:<execution>`
-- (a workflow's action), or `system` (birthright roles and lifecycle states). NULL for grants made
-- before it was recorded.
ALTER TABLE identity_access ADD COLUMN granted_by TEXT;

-- The audit log is read by time (newest first) and by who acted.
CREATE INDEX audit_by_time ON audit_log (at);
CREATE INDEX audit_by_actor ON audit_log (actor, at);
