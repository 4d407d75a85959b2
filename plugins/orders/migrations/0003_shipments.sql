-- Issue 10: orders that ship. An order keeps a copy of its ship-to and bill-to addresses, its money
-- breakdown (subtotal, discount, shipping, tax; total_cents stays what the customer pays) and may belong
-- to a guest (email, no customer id). It is split into shipments, one per seller and region, each with
-- its own status, shipping price, carrier and tracking number, and its own stock reservation in
-- inventory (reservation_ref: "<order id>/<shipment no>"; orders placed before this: the order id).
-- The order's status is derived from its shipments (partially_shipped, partially_delivered, ...).

ALTER TABLE orders
    ALTER COLUMN customer_id DROP NOT NULL,
    ALTER COLUMN region SET DEFAULT '',                        -- deprecated: shipments carry their region
    ADD COLUMN email              text CHECK (email IS NULL OR char_length(email) BETWEEN 3 AND 320),
    ADD COLUMN ship_to            jsonb,                         -- a copy: an address edited later changes nothing here
    ADD COLUMN bill_to            jsonb,
    ADD COLUMN subtotal_cents     bigint  NOT NULL DEFAULT 0 CHECK (subtotal_cents >= 0),   -- lines before discount
    ADD COLUMN discount_cents     bigint  NOT NULL DEFAULT 0 CHECK (discount_cents >= 0),
    ADD COLUMN shipping_cents     bigint  NOT NULL DEFAULT 0 CHECK (shipping_cents >= 0),   -- all shipments
    ADD COLUMN tax_cents          bigint  NOT NULL DEFAULT 0 CHECK (tax_cents >= 0),        -- lines + shipping
    ADD COLUMN prices_include_tax boolean NOT NULL DEFAULT true,
    ADD COLUMN voucher_code       text,
    ADD CONSTRAINT orders_has_buyer CHECK (customer_id IS NOT NULL OR email IS NOT NULL),
    DROP CONSTRAINT orders_status_check,
    ADD CONSTRAINT orders_status_check CHECK (status IN (
        'pending_payment', 'paid', 'payment_failed', 'expired', 'cancelled', 'fulfilled', 'partially_shipped',
        'shipped', 'partially_delivered', 'delivered', 'partially_refunded', 'refunded'));
UPDATE orders SET subtotal_cents = total_cents;
CREATE INDEX orders_email ON orders (lower(email), created_at DESC) WHERE email IS NOT NULL;

-- Each line belongs to one shipment; its discount and tax are its share (integer minor units).
ALTER TABLE order_detail
    ADD COLUMN shipment_no    integer CHECK (shipment_no >= 1),  -- NULL: placed before shipments (see below)
    ADD COLUMN tax_class      text    NOT NULL DEFAULT 'standard',
    ADD COLUMN discount_cents bigint  NOT NULL DEFAULT 0 CHECK (discount_cents >= 0),
    ADD COLUMN tax_cents      bigint  NOT NULL DEFAULT 0 CHECK (tax_cents >= 0),
    ADD COLUMN weight_grams   integer NOT NULL DEFAULT 0 CHECK (weight_grams >= 0);  -- per unit

CREATE TABLE shipments (
    order_id           text        NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    shipment_no        integer     NOT NULL CHECK (shipment_no >= 1),
    seller_id          bigint      NOT NULL,
    region             text        NOT NULL,                   -- the inventory region it ships from
    status             text        NOT NULL DEFAULT 'pending' CHECK (status IN (
                           'pending', 'fulfilled', 'shipped', 'delivered', 'cancelled', 'refunded')),
    reservation_ref    text        NOT NULL,                   -- inventory's order_ref of its stock
    method             text        NOT NULL DEFAULT 'standard',
    shipping_cents     bigint      NOT NULL DEFAULT 0 CHECK (shipping_cents >= 0),      -- what the customer pays
    shipping_tax_cents bigint      NOT NULL DEFAULT 0 CHECK (shipping_tax_cents >= 0),  -- included in it or added
    carrier            text        CHECK (char_length(carrier) <= 100),
    tracking_number    text        CHECK (char_length(tracking_number) <= 100),
    stock_todo         text        CHECK (stock_todo IN ('commit', 'release', 'restock')),  -- retried by the sweep
    refund_cents       bigint,                                 -- set once its refund was requested
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, shipment_no)
);
CREATE INDEX shipments_seller ON shipments (seller_id, status, order_id);
CREATE INDEX shipments_stock_todo ON shipments (updated_at) WHERE stock_todo IS NOT NULL;

-- Every status a shipment took, with who and why (the order's own history stays in order_history).
CREATE TABLE shipment_history (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id    text        NOT NULL,
    shipment_no integer     NOT NULL,
    status      text        NOT NULL,
    previous    text,
    actor       text        NOT NULL,
    reason      text        NOT NULL DEFAULT '',
    at          timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (order_id, shipment_no) REFERENCES shipments (order_id, shipment_no) ON DELETE CASCADE
);
CREATE INDEX shipment_history_order ON shipment_history (order_id, shipment_no, id);

-- Orders placed before shipments: one shipment per seller, numbered by the seller's first line, from
-- the order's region, sharing the order's one reservation (reservation_ref = the order id).
WITH numbered AS (
    SELECT order_id, seller_id, dense_rank() OVER (PARTITION BY order_id ORDER BY first_line) AS no
    FROM (SELECT order_id, seller_id, min(line_no) AS first_line FROM order_detail GROUP BY order_id, seller_id) s
)
UPDATE order_detail d SET shipment_no = n.no FROM numbered n
WHERE d.order_id = n.order_id AND d.seller_id = n.seller_id;

INSERT INTO shipments (order_id, shipment_no, seller_id, region, status, reservation_ref, created_at, updated_at)
SELECT DISTINCT d.order_id, d.shipment_no, d.seller_id, o.region,
       CASE WHEN o.status IN ('fulfilled', 'shipped', 'delivered') THEN o.status
            WHEN o.status IN ('cancelled', 'expired', 'payment_failed') THEN 'cancelled'
            ELSE 'pending' END,
       o.id, o.created_at, o.updated_at
FROM order_detail d JOIN orders o ON o.id = d.order_id;
