CREATE TABLE things (
    id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    label text NOT NULL
);
