-- ISC's user levels (an auth user's capabilities): held by a person directly, set by an administrator
-- (`holder_kind` IDENTITY), or by every member of a governance group (GOVERNANCE_GROUP).
CREATE TABLE user_levels (
    holder_kind TEXT NOT NULL,
    holder_id TEXT NOT NULL,
    level TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (holder_kind, holder_id, level)
);
