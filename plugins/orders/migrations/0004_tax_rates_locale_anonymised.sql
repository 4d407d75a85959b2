-- Issue 11: what invoices and mails need from an order, captured at checkout. The tax rate of each line
-- and of each shipment's shipping (a percent, e.g. 21 or 10.5: taxes answer in basis points), and the
-- buyer's language at checkout (guests have no account to read it from). NULL for orders placed before.
-- anonymised_at: when the customer's account was deleted and the order's personal data replaced
-- (amounts, lines and statuses are kept, as the law requires for bookkeeping).

ALTER TABLE order_detail ADD COLUMN tax_rate numeric(7, 4) CHECK (tax_rate IS NULL OR tax_rate >= 0);
ALTER TABLE shipments ADD COLUMN shipping_tax_rate numeric(7, 4)
    CHECK (shipping_tax_rate IS NULL OR shipping_tax_rate >= 0);
ALTER TABLE orders
    ADD COLUMN locale        text CHECK (locale IS NULL OR char_length(locale) BETWEEN 2 AND 35),
    ADD COLUMN anonymised_at timestamptz;
