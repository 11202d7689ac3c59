-- Who may never hold an inbox item (the person a request is for), kept with the item so that
-- reassigning, delegating and escalating it respect that too. JSON list of identity ids.
ALTER TABLE inbox_items ADD COLUMN excluded TEXT;
