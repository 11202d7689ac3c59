-- Which published event started an execution, so an event can say what it started.
ALTER TABLE executions ADD COLUMN event_id TEXT;
CREATE INDEX executions_event ON executions (event_id) WHERE event_id IS NOT NULL;
