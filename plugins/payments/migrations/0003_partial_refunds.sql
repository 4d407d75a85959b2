-- Partial refunds (issue 10): a payment may be refunded several times, once per (order_id, refund_ref)
-- (orders refunds one shipment at a time; refund_ref '' is the whole order), never above the amount
-- paid. refunded_cents is the running sum; status is partially_refunded until it reaches amount_cents.
ALTER TABLE payments ADD COLUMN refunded_cents bigint NOT NULL DEFAULT 0;
ALTER TABLE refunds ADD COLUMN refund_ref text NOT NULL DEFAULT '' CHECK (char_length(refund_ref) <= 100);

-- The old status checks do not know 'partially_refunded': drop them by what they say, not by a
-- generated name, and add them back with it.
DO $$
DECLARE c record;
BEGIN
    FOR c IN SELECT conname FROM pg_constraint
             WHERE conrelid = 'payments'::regclass AND contype = 'c'
               AND pg_get_constraintdef(oid) LIKE '%refunded%'
    LOOP
        EXECUTE format('ALTER TABLE payments DROP CONSTRAINT %I', c.conname);
    END LOOP;
END $$;

-- What past refunds gave back (before this migration: at most one granted refund per order).
UPDATE payments p SET refunded_cents = least(p.amount_cents, r.total)
FROM (SELECT payment_id, sum(amount_cents) AS total FROM refunds WHERE status = 'completed' GROUP BY payment_id) r
WHERE r.payment_id = p.id AND p.status = 'refunded';
UPDATE payments SET refunded_cents = amount_cents WHERE status = 'refunded' AND refunded_cents = 0;
UPDATE payments SET status = 'partially_refunded' WHERE status = 'refunded' AND refunded_cents < amount_cents;

ALTER TABLE payments
    ADD CONSTRAINT payments_status_check
        CHECK (status IN ('pending', 'approved', 'declined', 'partially_refunded', 'refunded')),
    ADD CONSTRAINT payments_paid_has_transaction
        CHECK (status NOT IN ('approved', 'partially_refunded', 'refunded') OR transaction_id IS NOT NULL),
    ADD CONSTRAINT payments_refunded_sum
        CHECK (refunded_cents BETWEEN 0 AND amount_cents
               AND (status <> 'refunded' OR refunded_cents = amount_cents)
               AND (status <> 'partially_refunded' OR refunded_cents BETWEEN 1 AND amount_cents - 1)
               AND (status IN ('refunded', 'partially_refunded') OR refunded_cents = 0));

DROP INDEX refunds_one_per_order;
CREATE UNIQUE INDEX refunds_one_per_ref ON refunds (order_id, refund_ref) WHERE status = 'completed';
CREATE INDEX refunds_payment ON refunds (payment_id, created_at) WHERE status = 'completed';
