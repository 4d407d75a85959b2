-- One payment per order. The card number and CVC are never stored: only brand and last 4 digits, and
-- until the payment is processed the encrypted, short-lived card token (NULL afterwards, enforced).
CREATE TABLE payments (
    id             uuid        PRIMARY KEY,
    order_id       text        NOT NULL UNIQUE CHECK (char_length(order_id) BETWEEN 1 AND 100),
    customer_id    bigint,                                  -- NULL only when the request was malformed
    payment_method text        NOT NULL DEFAULT 'card' CHECK (payment_method = 'card'),
    amount_cents   bigint      NOT NULL CHECK (amount_cents >= 0),
    currency       char(3)     NOT NULL,
    status         text        NOT NULL DEFAULT 'pending'
                               CHECK (status IN ('pending', 'approved', 'declined', 'refunded')),
    brand          text,
    last4          char(4),
    transaction_id text        UNIQUE,                      -- set on approval
    failure_reason text,                                    -- set on decline, shown to the shopper
    card_token     text,                                    -- Fernet token; only while pending
    due_at         timestamptz NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    processed_at   timestamptz,
    refunded_at    timestamptz,
    CHECK (card_token IS NULL OR status = 'pending'),
    CHECK ((status = 'pending') = (processed_at IS NULL)),
    CHECK (status NOT IN ('approved', 'refunded') OR transaction_id IS NOT NULL)
);
CREATE INDEX payments_due ON payments (due_at) WHERE status = 'pending';        -- the scheduler
CREATE INDEX payments_customer ON payments (customer_id, created_at DESC);      -- a customer's list
CREATE INDEX payments_created ON payments (created_at DESC);                    -- the admin list
CREATE INDEX payments_processed ON payments (processed_at) WHERE processed_at IS NOT NULL;  -- daily summary

-- Refund requests, granted ('completed') or not ('rejected', with why). At most one granted per order.
CREATE TABLE refunds (
    id            uuid        PRIMARY KEY,
    order_id      text        NOT NULL,
    payment_id    uuid        REFERENCES payments (id),
    amount_cents  bigint      NOT NULL,
    currency      text        NOT NULL,
    reason        text        NOT NULL,                     -- as given by orders
    status        text        NOT NULL CHECK (status IN ('completed', 'rejected')),
    rejection     text,                                     -- why a request was rejected
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'completed') = (payment_id IS NOT NULL AND rejection IS NULL))
);
CREATE UNIQUE INDEX refunds_one_per_order ON refunds (order_id) WHERE status = 'completed';
CREATE INDEX refunds_order ON refunds (order_id);
