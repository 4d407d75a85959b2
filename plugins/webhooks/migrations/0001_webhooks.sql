-- Outbound webhooks: endpoints (who registered what), deliveries (the outbox the relay sends from, one row
-- per (endpoint, event): an event reaches an endpoint once), attempts (the delivery log), and the secrets
-- ERPs sign inbound stock pushes with.
CREATE TABLE endpoints (
    id                   bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id             bigint      NOT NULL,                 -- users' id of who registered it
    scope                text        NOT NULL CHECK (scope IN ('admin', 'seller')),  -- seller: own data only
    url                  text        NOT NULL,
    description          text        NOT NULL DEFAULT '',
    event_types          text[]      NOT NULL,                 -- 'orders.status', 'inventory.low_stock', ...
    secret               text        NOT NULL,                 -- whsec_..., encrypted with a key of the shop secret
    enabled              boolean     NOT NULL DEFAULT true,
    disabled_reason      text,
    disabled_at          timestamptz,
    consecutive_failures integer     NOT NULL DEFAULT 0,       -- failed attempts since the last success
    failing_since        timestamptz,                          -- the first of them
    created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX endpoints_owner ON endpoints (owner_id, id);

CREATE TABLE deliveries (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id     bigint      NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    event_id        uuid        NOT NULL,                      -- also the webhook-id header
    event_type      text        NOT NULL,
    body            text        NOT NULL,                      -- the exact bytes signed and sent, every attempt
    status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    give_up_at      timestamptz NOT NULL,                      -- retried until then (a day by default)
    lease_token     uuid,
    lease_until     timestamptz,
    last_status     integer,
    last_error      text,
    manual          boolean     NOT NULL DEFAULT false,        -- the next attempt was asked for by a person
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, id DESC);

CREATE TABLE attempts (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id bigint      NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    status_code integer,                                       -- null: no HTTP answer (refused, timeout, ...)
    latency_ms  integer     NOT NULL,
    error       text,
    manual      boolean     NOT NULL DEFAULT false             -- a redelivery asked for on the admin page
);
CREATE INDEX attempts_delivery ON attempts (delivery_id, id);

CREATE TABLE inbound_secrets (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    seller_id   bigint      NOT NULL,                          -- whose catalog the pushed SKUs are looked up in
    description text        NOT NULL DEFAULT '',
    secret      text        NOT NULL,                          -- encrypted like endpoints.secret
    created_by  bigint      NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
