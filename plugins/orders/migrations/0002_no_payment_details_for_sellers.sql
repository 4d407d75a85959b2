-- Sellers see an order's history; payment details (card brand, last 4 digits) belong to the customer and
-- admins only, who read them from the order row. History reasons written before this said
-- "Payment approved (visa ending 4242)": they become the neutral sentence written since.
UPDATE order_history SET reason = 'Payment approved'
WHERE status = 'paid' AND actor = 'system:payments' AND reason LIKE 'Payment approved (%';

-- Card tokens made before per-token keys existed were sealed with a key the shop secret derives, so a
-- copy kept in this outbox could be opened for a week. Payments can no longer open them anyway
-- (it declines such a payment "Card details expired"): blank them.
UPDATE outbox SET payload = jsonb_set(payload::jsonb, '{data,card_token}', '""'::jsonb)::text
WHERE topic = 'ecom/payments/requested' AND payload::jsonb #>> '{data,card_token}' NOT LIKE '%.%';
