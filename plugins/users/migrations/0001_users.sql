-- Accounts. Every user is a customer; is_seller and is_admin add the other two roles.
CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         text        NOT NULL UNIQUE,          -- trimmed and lower-cased by the service
    name          text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    password_hash text        NOT NULL,                 -- argon2id, "$argon2id$..."
    is_seller     boolean     NOT NULL DEFAULT false,
    is_admin      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Browser sessions (kind 'session': the sid in the session cookie) and API bearer tokens (kind 'token').
-- Only a SHA-256 of the secret is stored; revoking sets revoked_at, after which the secret is useless.
CREATE TABLE user_sessions (
    secret_hash bytea       PRIMARY KEY,
    kind        text        NOT NULL CHECK (kind IN ('session', 'token')),
    user_id     bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX user_sessions_user_id ON user_sessions (user_id);
