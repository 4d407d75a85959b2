-- Events a consumer will never apply (unsigned, mis-signed, replayed, wrong producer, rejected or failing
-- handlers), with the reason. See ecom/events/deadletter.py.
CREATE TABLE dead_letter (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    uuid,
    topic       text        NOT NULL,
    consumer    text        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('untrusted', 'rejected', 'failed')),
    reason      text        NOT NULL,
    payload     text        NOT NULL,
    producer    text,
    received_at timestamptz NOT NULL DEFAULT now()
);
-- N workers receive the same copy: one row per (event, consumer, reason)
CREATE UNIQUE INDEX dead_letter_once ON dead_letter (event_id, consumer, reason);
CREATE INDEX dead_letter_final ON dead_letter (event_id, consumer) WHERE kind <> 'untrusted';
CREATE INDEX dead_letter_received ON dead_letter (received_at);

-- Catch-up: how far each consumer has read each producer's outbox (ids at or below are all settled).
CREATE TABLE event_cursor (
    consumer    text        NOT NULL,
    producer    text        NOT NULL,
    last_id     bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, producer)
);
