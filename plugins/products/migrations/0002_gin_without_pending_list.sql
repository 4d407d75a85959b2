-- Search indexes without GIN's pending list. With fastupdate on, new rows wait in an unsorted list that
-- every search must scan until a vacuum merges it, and the planner (rightly) prices that so high after a
-- bulk insert that it falls back to sequential scans. The catalog is read far more often than written:
-- pay the index update at insert time instead.
ALTER INDEX products_search SET (fastupdate = off);
ALTER INDEX products_name_trgm SET (fastupdate = off);
SELECT gin_clean_pending_list('products_search'::regclass);
SELECT gin_clean_pending_list('products_name_trgm'::regclass);
