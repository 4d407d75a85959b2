-- No UNIQUE on event_id on purpose: deduplication is the inbox's job, and the tests check it.
CREATE TABLE effects (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id uuid   NOT NULL,
    thing_id bigint NOT NULL,
    label    text   NOT NULL,
    worker   text   NOT NULL
);
CREATE TABLE counter (
    name text PRIMARY KEY,
    n    bigint NOT NULL
);
INSERT INTO counter (name, n) VALUES ('things', 0);
