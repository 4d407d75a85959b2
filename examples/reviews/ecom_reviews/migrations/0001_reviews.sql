-- Who received what (learnt from orders' ShipmentStatusChanged "delivered"), and the reviews of those buyers.
-- Users, products and orders live in other databases: ids only, no foreign keys.
CREATE TABLE purchases (
    customer_id  bigint      NOT NULL,
    product_id   bigint      NOT NULL,
    seller_id    bigint      NOT NULL,
    order_id     text        NOT NULL,               -- the first order that delivered it
    delivered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, product_id)
);

CREATE TABLE reviews (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id  bigint      NOT NULL,
    seller_id   bigint      NOT NULL,                -- the product's seller: who may moderate it
    customer_id bigint      NOT NULL,
    author      text        NOT NULL CHECK (char_length(author) BETWEEN 1 AND 100),
    rating      smallint    NOT NULL CHECK (rating BETWEEN 1 AND 5),
    body        text        NOT NULL DEFAULT '' CHECK (char_length(body) <= 5000),
    hidden      boolean     NOT NULL DEFAULT false,
    moderated_by text,                                -- "seller:<id>" / "admin:<id>" of the last hide or show
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (customer_id, product_id)                  -- one review per buyer and product (edited in place)
);
-- the public reads: a product's visible reviews, newest first, and the averages of a page of products
CREATE INDEX reviews_visible ON reviews (product_id, created_at DESC) INCLUDE (rating) WHERE NOT hidden;
CREATE INDEX reviews_seller ON reviews (seller_id, created_at DESC);
