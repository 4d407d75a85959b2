-- A refunded shipment takes "verified buyer" back (README, "Refunds"). One row per delivery (customer,
-- product, order) instead of one per (customer, product): refunding one order leaves another order's
-- delivery of the same product standing. A refund marks its rows ``refunded`` and keeps them (written
-- even when no delivery was recorded yet), so a "delivered" of that order handled after its "refunded"
-- (several deliveries at once per consumer, catch-up) cannot make the customer a verified buyer again.
ALTER TABLE purchases ADD COLUMN refunded boolean NOT NULL DEFAULT false;
ALTER TABLE purchases DROP CONSTRAINT purchases_pkey;
ALTER TABLE purchases ADD PRIMARY KEY (customer_id, product_id, order_id);
COMMENT ON COLUMN purchases.order_id IS 'the order that delivered (or refunded) it';

-- A review counts (public list, average) only while its author has a delivery of the product that was
-- not refunded; it is kept, for its author and the moderators, and counts again after a new delivery.
ALTER TABLE reviews ADD COLUMN verified boolean NOT NULL DEFAULT true;
DROP INDEX reviews_visible;
CREATE INDEX reviews_visible ON reviews (product_id, created_at DESC) INCLUDE (rating) WHERE NOT hidden AND verified;
