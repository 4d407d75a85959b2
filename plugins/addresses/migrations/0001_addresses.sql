-- A customer's address book: at most [plugins.addresses] max_per_user addresses (the service counts them
-- under the book's row lock), at most one default shipping and one default billing address per user.
CREATE TABLE address_books (
    user_id     bigint      PRIMARY KEY,          -- users' id (another database: no foreign key)
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE addresses (
    id                  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id             bigint      NOT NULL REFERENCES address_books (user_id),
    name                text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    company             text        NOT NULL DEFAULT '' CHECK (char_length(company) <= 100),
    line1               text        NOT NULL CHECK (char_length(line1) BETWEEN 1 AND 120),
    line2               text        NOT NULL DEFAULT '' CHECK (char_length(line2) <= 120),
    city                text        NOT NULL CHECK (char_length(city) BETWEEN 1 AND 80),
    region              text        NOT NULL DEFAULT '' CHECK (char_length(region) <= 80),
    postal_code         text        NOT NULL DEFAULT '' CHECK (char_length(postal_code) <= 16),
    country             char(2)     NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    phone               text        NOT NULL DEFAULT '' CHECK (phone = '' OR phone ~ '^\+[1-9][0-9]{7,14}$'),
    is_default_shipping boolean     NOT NULL DEFAULT false,
    is_default_billing  boolean     NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX addresses_user ON addresses (user_id, id);
CREATE UNIQUE INDEX addresses_one_default_shipping ON addresses (user_id) WHERE is_default_shipping;
CREATE UNIQUE INDEX addresses_one_default_billing ON addresses (user_id) WHERE is_default_billing;
