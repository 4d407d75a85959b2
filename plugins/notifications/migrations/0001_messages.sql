-- Every mail the shop writes: the outbox the relay sends from and the log /account/messages reads.
-- dedupe_key = <event id>:<kind>:<recipient>: a replayed or redelivered event never makes a second mail.
CREATE TABLE messages (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dedupe_key      text        NOT NULL UNIQUE,
    kind            text        NOT NULL,
    user_id         bigint,                          -- the recipient's account (users' id), null for a guest
    recipient       text        NOT NULL,
    locale          text        NOT NULL,
    subject         text        NOT NULL,
    text_body       text        NOT NULL,
    html_body       text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_token     uuid,                            -- the relay that holds the message until lease_until
    lease_until     timestamptz,
    last_error      text,
    message_id      text        NOT NULL,            -- the Message-ID header (the same on every attempt)
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX messages_due ON messages (next_attempt_at) WHERE status = 'pending';
CREATE INDEX messages_user ON messages (user_id, id DESC) WHERE user_id IS NOT NULL;
