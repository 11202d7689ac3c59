-- API clients can be renamed, re-scoped, disabled, deleted and given a new secret. A change that
-- must end the tokens a client already holds (disabling it, a new secret, a revocation) moves
-- `tokens_after`: tokens issued before it are refused.
ALTER TABLE api_clients ADD COLUMN modified_at BIGINT;
ALTER TABLE api_clients ADD COLUMN tokens_after BIGINT NOT NULL DEFAULT 0;
