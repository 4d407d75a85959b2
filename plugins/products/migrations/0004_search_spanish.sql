-- Catalog search stems Spanish as well as English (issue 11): "pantalones" finds "Pantalón",
-- "corriendo" finds "para correr", while every English match of before still matches.
--
-- The search vector holds each text twice: stemmed by 'english' (as before) and by catalog_spanish.
-- catalog_spanish is PostgreSQL's 'spanish' configuration whose words first pass a dictionary of the
-- ENGLISH stop words: an English stop word ("the", "and", "of") is dropped, any other word goes on to
-- the Spanish stemmer (which also drops Spanish stop words and folds the accents of its stems). Without
-- that filter, the Spanish half would index "the" as an ordinary word, and a search for "the and of"
-- would match every English description. Searches OR the two languages' queries (db.search_query).
CREATE TEXT SEARCH DICTIONARY catalog_english_stop (TEMPLATE = simple, STOPWORDS = english, ACCEPT = false);
CREATE TEXT SEARCH CONFIGURATION catalog_spanish (COPY = spanish);
ALTER TEXT SEARCH CONFIGURATION catalog_spanish
    ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part
    WITH catalog_english_stop, spanish_stem;

-- A generated column's expression cannot be altered before PostgreSQL 17: replace the column (its index
-- goes with it and is built again, without GIN's pending list as 0002 explains).
DROP INDEX products_search;
ALTER TABLE products DROP COLUMN search;
ALTER TABLE products ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english'::regconfig, name), 'A') ||
    setweight(to_tsvector('catalog_spanish'::regconfig, name), 'A') ||
    setweight(to_tsvector('english'::regconfig, type), 'B') ||
    setweight(to_tsvector('catalog_spanish'::regconfig, type), 'B') ||
    setweight(to_tsvector('english'::regconfig, description), 'C') ||
    setweight(to_tsvector('catalog_spanish'::regconfig, description), 'C')) STORED;
CREATE INDEX products_search ON products USING gin (search) WITH (fastupdate = off) WHERE active AND deleted_at IS NULL;
