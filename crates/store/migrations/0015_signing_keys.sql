-- Token signing keys, sealed under the node key (the one that seals connector secrets), so that a
-- copy of the database alone signs nothing. The newest key that is not retired signs; a retired key
-- still verifies the tokens it signed until they expire. The plain key an older Tessera kept in
-- `settings` is removed at start-up (as exposed) by the server, which needs the node key to seal.
CREATE TABLE signing_keys (
    id TEXT PRIMARY KEY,
    sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);
