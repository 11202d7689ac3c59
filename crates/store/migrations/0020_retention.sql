-- Retention purges ended executions by when they ended, and answered notifications by when they
-- were made.
CREATE INDEX executions_ended ON executions (ended_at) WHERE ended_at IS NOT NULL;
CREATE INDEX notifications_created ON notifications (created_at);
CREATE INDEX performed_actions_created ON performed_actions (created_at);
