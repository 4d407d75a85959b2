-- Stock per (product, region). product_id is the products plugin's id (another database: no foreign key).
-- available = quantity - reserved, and the CHECKs make it impossible to go below zero, even by a bug.
CREATE TABLE stock (
    product_id  bigint      NOT NULL,
    region      text        NOT NULL,
    quantity    bigint      NOT NULL DEFAULT 0 CHECK (quantity BETWEEN 0 AND 1000000000),
    reserved    bigint      NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (product_id, region),
    CONSTRAINT stock_reserved_within_quantity CHECK (reserved >= 0 AND reserved <= quantity)
);

-- The ledger: every change to a stock row writes one movement in the same transaction, so a row's
-- quantity is the sum of its quantity_delta and its reserved the sum of its reserved_delta.
--   adjustment  a seller/admin set or adjusted the quantity (or an order was restocked)
--   reservation reserved += n for an order          release  reserved -= n (released or expired)
--   sale        a reservation committed: quantity -= n and reserved -= n
--   import      a line of a CSV import set the quantity
CREATE TABLE stock_movements (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id     bigint      NOT NULL,
    region         text        NOT NULL,
    quantity_delta bigint      NOT NULL,
    reserved_delta bigint      NOT NULL,
    kind           text        NOT NULL CHECK (kind IN ('adjustment', 'reservation', 'release', 'sale', 'import')),
    actor          text        NOT NULL,          -- "user:<id>", "system:sweeper", "system:orders", ...
    reason         text        NOT NULL DEFAULT '',
    order_ref      text,
    import_id      bigint,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stock_movements_product ON stock_movements (product_id, id);

-- Reservations of an order (one row per product). All rows of an order move together:
-- held -> committed (sold) or held -> released (cancelled, failed, or expired by the sweeper).
CREATE TABLE reservations (
    order_ref    text        NOT NULL CHECK (char_length(order_ref) BETWEEN 1 AND 100),
    product_id   bigint      NOT NULL,
    region       text        NOT NULL,
    quantity     integer     NOT NULL CHECK (quantity BETWEEN 1 AND 10000),
    status       text        NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'committed', 'released')),
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    restocked_at timestamptz,                      -- a committed row whose units were put back (refund)
    PRIMARY KEY (order_ref, product_id)
);
CREATE INDEX reservations_expiry ON reservations (expires_at) WHERE status = 'held';

-- Bulk CSV imports: the job and every line (rejected lines keep their error for the job page).
-- Lines are applied in batches by whichever worker claims the job row (FOR UPDATE SKIP LOCKED).
CREATE TABLE imports (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    seller_id   bigint      NOT NULL,
    actor       text        NOT NULL,
    filename    text        NOT NULL DEFAULT '',
    status      text        NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done')),
    total       integer     NOT NULL,             -- data lines (blank lines not counted)
    applied     integer     NOT NULL DEFAULT 0,
    rejected    integer     NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz,
    finished_at timestamptz
);
CREATE INDEX imports_pending ON imports (id) WHERE status <> 'done';
CREATE INDEX imports_seller ON imports (seller_id, id);

CREATE TABLE import_lines (
    import_id  bigint  NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    line_no    integer NOT NULL,
    sku        text    NOT NULL,
    region     text    NOT NULL,
    quantity   bigint,
    product_id bigint,
    status     text    NOT NULL CHECK (status IN ('pending', 'applied', 'rejected')),
    error      text,
    PRIMARY KEY (import_id, line_no)
);
CREATE INDEX import_lines_pending ON import_lines (import_id, line_no) WHERE status = 'pending';
