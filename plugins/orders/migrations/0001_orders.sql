-- Orders, their lines (a snapshot of name and price at checkout), their status history, checkout
-- idempotency keys and the customers' persistent carts. Money is integer minor units plus currency.
-- Product, seller and customer ids belong to other plugins' databases: no foreign keys to them.
CREATE TABLE orders (
    id              text        PRIMARY KEY CHECK (id ~ '^ord_[a-z0-9]{20,40}$'),  -- public, unguessable
    customer_id     bigint      NOT NULL,
    status          text        NOT NULL CHECK (status IN ('pending_payment', 'paid', 'payment_failed', 'expired',
                                                           'cancelled', 'fulfilled', 'shipped', 'delivered')),
    region          text        NOT NULL,
    total_cents     bigint      NOT NULL CHECK (total_cents > 0),
    currency        char(3)     NOT NULL,
    card_brand      text,                                   -- only brand and last 4 digits, never the card
    card_last4      char(4)     CHECK (card_last4 ~ '^[0-9]{4}$'),
    payment_id      text,                                   -- from PaymentCompleted / PaymentFailed
    transaction_id  text,
    failure_reason  text,
    stock_todo      text        CHECK (stock_todo IN ('commit', 'release', 'restock')),  -- an inventory call to retry
    refund_requested_at timestamptz,
    expires_at      timestamptz NOT NULL,                   -- an unpaid order expires then
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_customer ON orders (customer_id, created_at DESC, id);
CREATE INDEX orders_created ON orders (created_at DESC, id);
CREATE INDEX orders_status ON orders (status, created_at DESC, id);
CREATE INDEX orders_unpaid ON orders (expires_at) WHERE status = 'pending_payment';   -- the expiry sweep
CREATE INDEX orders_stock_todo ON orders (updated_at) WHERE stock_todo IS NOT NULL;   -- retried stock calls

-- The order's lines: what was bought, from whom, at which price (re-read from products at checkout).
CREATE TABLE order_detail (
    order_id         text    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line_no          integer NOT NULL CHECK (line_no >= 1),
    product_id       bigint  NOT NULL,
    seller_id        bigint  NOT NULL,
    name             text    NOT NULL,
    unit_price_cents bigint  NOT NULL CHECK (unit_price_cents >= 0),
    quantity         integer NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    line_total_cents bigint  NOT NULL CHECK (line_total_cents = unit_price_cents * quantity),
    PRIMARY KEY (order_id, line_no),
    UNIQUE (order_id, product_id)
);
CREATE INDEX order_detail_seller ON order_detail (seller_id, order_id);

-- Every status an order took, with who and why (the first row is the checkout itself).
CREATE TABLE order_history (
    id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id  text        NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    status    text        NOT NULL,
    previous  text,
    actor     text        NOT NULL,                          -- customer:7, seller:3, admin:1, system:payments ...
    reason    text        NOT NULL DEFAULT '',
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_history_order ON order_history (order_id, id);

-- Idempotency-Key of a checkout: the same key (per customer) returns the same order; request_hash is
-- an HMAC of the request body (so a different body under the same key is refused).
CREATE TABLE idempotency_keys (
    customer_id  bigint      NOT NULL,
    key          text        NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
    request_hash text        NOT NULL,
    order_id     text        NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, key)
);

-- A logged-in customer's cart (a guest's lives in the session and is merged in here at log-in).
CREATE TABLE carts (
    customer_id bigint      NOT NULL,
    product_id  bigint      NOT NULL,
    quantity    integer     NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    added_at    timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, product_id)
);
