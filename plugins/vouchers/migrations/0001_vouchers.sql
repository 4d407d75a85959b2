-- Voucher codes and the orders that carry them.
-- `used` counts live redemptions; it can never pass max_uses (checked here, taken by a conditional
-- UPDATE in redeem). Codes are stored upper case, so uniqueness is case-insensitive.
CREATE TABLE vouchers (
    id                    bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code                  text        NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9_-]{3,32}$'),
    kind                  text        NOT NULL CHECK (kind IN ('percent', 'fixed')),
    percent               integer     CHECK (percent BETWEEN 1 AND 100),
    amount_cents          bigint      CHECK (amount_cents > 0),
    currency              char(3),                       -- NULL: a percent code valid in any currency
    min_spend_cents       bigint      NOT NULL DEFAULT 0 CHECK (min_spend_cents >= 0),
    starts_at             timestamptz,
    ends_at               timestamptz,
    max_uses              integer     CHECK (max_uses >= 1),
    max_uses_per_customer integer     CHECK (max_uses_per_customer >= 1),
    used                  integer     NOT NULL DEFAULT 0 CHECK (used >= 0 AND (max_uses IS NULL OR used <= max_uses)),
    seller_id             bigint,                        -- NULL: shop-wide (admins); else that seller's lines only
    category              text        CHECK (char_length(category) BETWEEN 1 AND 60),  -- product type, any case
    active                boolean     NOT NULL DEFAULT true,
    created_by            bigint      NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'percent') = (percent IS NOT NULL)),
    CHECK ((kind = 'fixed') = (amount_cents IS NOT NULL)),
    CHECK (kind = 'percent' OR currency IS NOT NULL),
    CHECK (min_spend_cents = 0 OR currency IS NOT NULL),
    CHECK (ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at)
);
CREATE INDEX vouchers_seller ON vouchers (seller_id, id DESC);

-- One voucher per order (order_ref). A released redemption gave its use back and stays for the record.
CREATE TABLE redemptions (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    voucher_id   bigint      NOT NULL REFERENCES vouchers (id),
    order_ref    text        NOT NULL UNIQUE CHECK (char_length(order_ref) BETWEEN 1 AND 100),
    buyer        text        NOT NULL CHECK (char_length(buyer) BETWEEN 1 AND 330),
    currency     char(3)     NOT NULL,
    total_cents  bigint      NOT NULL CHECK (total_cents >= 0),
    per_line     jsonb       NOT NULL,                   -- {line ref: cents}
    status       text        NOT NULL DEFAULT 'redeemed' CHECK (status IN ('redeemed', 'released')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    released_at  timestamptz,
    CHECK ((status = 'released') = (released_at IS NOT NULL))
);
CREATE INDEX redemptions_buyer ON redemptions (voucher_id, buyer) WHERE status = 'redeemed';
CREATE INDEX redemptions_voucher ON redemptions (voucher_id, id DESC);
