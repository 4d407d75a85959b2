-- Physical goods (issue 10): a weight for shipping quotes and a tax class for the taxes plugin.
-- Existing products get the defaults (half a kilo, the standard rate); sellers correct them in the form.
ALTER TABLE products
    ADD COLUMN weight_grams integer NOT NULL DEFAULT 500 CHECK (weight_grams BETWEEN 0 AND 1000000),
    ADD COLUMN tax_class    text    NOT NULL DEFAULT 'standard' CHECK (tax_class IN ('standard', 'reduced', 'zero'));

-- The price filter and price sorts compare within ONE currency (raw minor units of two currencies are
-- not comparable): (currency, price) serves "currency = $1 AND price BETWEEN ..." ordered by price, and
-- a loose index scan over it lists the catalog's currencies.
CREATE INDEX products_currency_price ON products (currency, price_cents, id) WHERE active AND deleted_at IS NULL;
-- Every price filter and price sort now names its currency: the old (price, id) index would only cost writes.
DROP INDEX products_price;
