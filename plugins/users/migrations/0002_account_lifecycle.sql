-- The account lifecycle: a verified email, the user's language and time zone, and single-use links.
ALTER TABLE users
    ADD COLUMN email_verified_at timestamptz,              -- null until the owner follows a verification link
    ADD COLUMN locale            text,                     -- "es"; null = the browser's language
    ADD COLUMN time_zone         text;                     -- IANA name; null = the shop's zone

-- Links mailed to a user: email verification (purpose 'verify', ``email`` = the address to confirm, the
-- account's own or a new one) and password reset ('reset'). Only the SHA-256 of the secret is stored; a
-- link is consumed by one UPDATE ... WHERE used_at IS NULL AND expires_at > now().
CREATE TABLE user_tokens (
    token_hash bytea       PRIMARY KEY,
    purpose    text        NOT NULL CHECK (purpose IN ('verify', 'reset')),
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX user_tokens_user_id ON user_tokens (user_id);
