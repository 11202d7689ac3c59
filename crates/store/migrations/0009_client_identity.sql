-- An API client may act as one identity: its tokens then carry that identity, so a person's own
-- client requests access for them and decides their approvals. NULL for clients that act for no one.
ALTER TABLE api_clients ADD COLUMN identity_id TEXT;
