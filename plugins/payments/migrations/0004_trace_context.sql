-- Tracing (issue 13): a payment is approved later, by whichever scheduler claims it, outside the request
-- that asked for it. The W3C traceparent of the handler that recorded it (NULL while tracing is off) lets
-- the scheduler's span, and so the result event and the orders handler, join the checkout's trace.
ALTER TABLE payments ADD COLUMN traceparent text CHECK (char_length(traceparent) <= 128);
