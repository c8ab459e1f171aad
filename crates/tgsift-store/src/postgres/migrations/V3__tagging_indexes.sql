-- Indexes the PostgreSQL planner needs where SQLite's differ.
--
-- Pending posts are claimed oldest first. SQLite walks `posts_tagging_due` (status, due time) in row
-- id order; PostgreSQL's planner instead walked the primary key from the start, past every tagged
-- post, on every claim (190k tagged rows ahead of 10k pending ones in a test table). A partial index
-- of exactly the claimable pending posts is what it uses.
CREATE INDEX posts_tagging_pending ON posts (id)
    WHERE tagging_status = 'pending' AND next_tagging_at IS NULL;

-- The dashboard's "posts stored lately" counts by store time (SQLite finds the range by row id).
CREATE INDEX posts_stored_at ON posts (stored_at_ms);
