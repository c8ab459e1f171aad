-- tgsift schema, version 10: pending posts are claimed from the (status, due time) index.
--
-- A pending post never has a due time (every write that makes a post pending clears
-- `next_tagging_at`), so `tagging_status = 'pending' AND next_tagging_at IS NULL` is one run of
-- `posts_tagging_due` in row id order: the oldest pending posts come first without a sort, as they
-- did from the partial index `posts_pending`. That index cost a B-tree insert for every stored post
-- and a delete for every tagged one.
DROP INDEX posts_pending;
