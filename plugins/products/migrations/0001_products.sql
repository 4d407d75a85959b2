-- The catalog. seller_id is the users plugin's user id (another database: no foreign key).
-- Money is integer minor units plus an ISO-4217 code. Rows are soft-deleted (orders keep referring to them).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE products (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    seller_id   bigint      NOT NULL,
    name        text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    description text        NOT NULL DEFAULT '' CHECK (char_length(description) <= 5000),
    price_cents bigint      NOT NULL CHECK (price_cents BETWEEN 0 AND 10000000000),
    currency    char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    type        text        NOT NULL CHECK (char_length(type) BETWEEN 1 AND 60),   -- the category
    sku         text        NOT NULL CHECK (sku ~ '^[A-Za-z0-9._-]{1,64}$'),
    active      boolean     NOT NULL DEFAULT true,                                -- false: hidden from the catalog
    image       text,                                                             -- file name in <data_dir>/plugins/products/media
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz,
    search      tsvector    GENERATED ALWAYS AS (
                    setweight(to_tsvector('english'::regconfig, name), 'A') ||
                    setweight(to_tsvector('english'::regconfig, type), 'B') ||
                    setweight(to_tsvector('english'::regconfig, description), 'C')) STORED
);

-- A seller's SKUs are unique among their live products (a deleted product frees its SKU).
CREATE UNIQUE INDEX products_seller_sku ON products (seller_id, sku) WHERE deleted_at IS NULL;
CREATE INDEX products_seller_id ON products (seller_id, id) WHERE deleted_at IS NULL;  -- the seller dashboard

-- Catalog indexes: every catalog query has "active AND deleted_at IS NULL", so they are all partial.
CREATE INDEX products_search ON products USING gin (search) WHERE active AND deleted_at IS NULL;
CREATE INDEX products_name_trgm ON products USING gin (lower(name) gin_trgm_ops) WHERE active AND deleted_at IS NULL;
CREATE INDEX products_sku_prefix ON products (lower(sku) text_pattern_ops) WHERE active AND deleted_at IS NULL;
CREATE INDEX products_type ON products (type, created_at, id) WHERE active AND deleted_at IS NULL;
CREATE INDEX products_price ON products (price_cents, id) WHERE active AND deleted_at IS NULL;
CREATE INDEX products_created ON products (created_at, id) WHERE active AND deleted_at IS NULL;
CREATE INDEX products_name ON products (lower(name), id) WHERE active AND deleted_at IS NULL;
