-- Invoices and credit notes (issue 11). A document is issued once and never changes: what it says
-- (seller, buyer, lines, tax per rate, totals) is kept as a snapshot in `document`; the PDF and the UBL
-- XML are rendered from it on demand.

-- Gap-free numbering: one row per (seller, series, calendar year), updated in the transaction that
-- inserts the document, so a number is taken only by a document that commits.
CREATE TABLE invoice_counters (
    seller_id bigint  NOT NULL,
    series    text    NOT NULL CHECK (series IN ('F', 'R')),   -- F: invoices, R: credit notes
    year      integer NOT NULL CHECK (year BETWEEN 2000 AND 9999),
    last_no   integer NOT NULL CHECK (last_no >= 0),
    PRIMARY KEY (seller_id, series, year)
);

CREATE TABLE invoices (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text        NOT NULL CHECK (kind IN ('invoice', 'credit_note')),
    number      text        NOT NULL UNIQUE,                 -- F-<seller>-<year>-000001 / R-...
    series      text        NOT NULL,
    year        integer     NOT NULL,
    seq         integer     NOT NULL CHECK (seq >= 1),
    seller_id   bigint      NOT NULL,
    customer_id bigint,                                      -- NULL: a guest's order
    order_id    text        NOT NULL,
    invoice_id  bigint      REFERENCES invoices (id),        -- a credit note's invoice
    shipments   integer[]   NOT NULL DEFAULT '{}',           -- the order's shipments it covers
    currency    char(3)     NOT NULL,
    net_cents   bigint      NOT NULL,
    tax_cents   bigint      NOT NULL,
    total_cents bigint      NOT NULL,
    locale      text,                                        -- the buyer's language (their PDF's default)
    reason      text        NOT NULL DEFAULT '',             -- a credit note's reason (English msgid)
    document    jsonb       NOT NULL,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (seller_id, series, year, seq),
    CHECK ((kind = 'invoice') = (invoice_id IS NULL))
);
CREATE UNIQUE INDEX invoices_one_per_seller ON invoices (order_id, seller_id) WHERE kind = 'invoice';
CREATE INDEX invoices_customer ON invoices (customer_id, id DESC) WHERE customer_id IS NOT NULL;
CREATE INDEX invoices_seller ON invoices (seller_id, id DESC);
CREATE INDEX invoices_credit_of ON invoices (invoice_id) WHERE invoice_id IS NOT NULL;

-- What a seller puts on their invoices (edited at /seller/invoicing); defaults come from the users service.
CREATE TABLE seller_profiles (
    seller_id   bigint      PRIMARY KEY,
    legal_name  text        NOT NULL CHECK (char_length(legal_name) BETWEEN 1 AND 200),
    tax_id      text        NOT NULL DEFAULT '' CHECK (char_length(tax_id) <= 40),
    line1       text        NOT NULL DEFAULT '' CHECK (char_length(line1) <= 200),
    line2       text        NOT NULL DEFAULT '' CHECK (char_length(line2) <= 200),
    city        text        NOT NULL DEFAULT '' CHECK (char_length(city) <= 100),
    postal_code text        NOT NULL DEFAULT '' CHECK (char_length(postal_code) <= 20),
    region      text        NOT NULL DEFAULT '' CHECK (char_length(region) <= 100),
    country     char(2)     NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
