-- A seller's own shipping rates: one per (zone, method, currency). Where a seller has a rate it replaces
-- the shop's rate of the same (zone, method, currency) for that seller's shipments. Zones are names from
-- the shipping data file (checked by the service when a rate is saved).
CREATE TABLE seller_rates (
    seller_id        bigint      NOT NULL,
    zone             text        NOT NULL CHECK (zone ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    method           text        NOT NULL CHECK (method IN ('standard', 'express')),
    currency         char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    base_cents       bigint      NOT NULL CHECK (base_cents BETWEEN 0 AND 100000000),
    per_kg_cents     bigint      NOT NULL CHECK (per_kg_cents BETWEEN 0 AND 100000000),
    free_above_cents bigint      CHECK (free_above_cents BETWEEN 0 AND 10000000000),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (seller_id, zone, method, currency)
);
