-- Finding undispatched events quickly.
CREATE INDEX outbox_undispatched ON outbox (dispatched_at, created_at);
