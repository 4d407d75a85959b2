-- One data key per card token (crypto-shredding, plugins/payments/vault.py). The token itself may be
-- copied anywhere (the orders outbox, inboxes, backups); it opens only while its key is here. A key is
-- deleted in the transaction that processes its payment, or by the sweep once expires_at has passed.
-- ``key`` is the data key wrapped (AES-256-GCM) with a key derived from the shop secret.
CREATE TABLE card_keys (
    id          uuid        PRIMARY KEY,
    key         bytea       NOT NULL CHECK (octet_length(key) BETWEEN 40 AND 100),
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX card_keys_expiry ON card_keys (expires_at);
-- Tokens made before card keys existed were sealed with a key the shop secret derives: they can never
-- be opened now (their payments are declined "Card details expired"), and none may stay at rest.
UPDATE payments SET card_token = NULL WHERE card_token IS NOT NULL AND card_token NOT LIKE '%.%';
