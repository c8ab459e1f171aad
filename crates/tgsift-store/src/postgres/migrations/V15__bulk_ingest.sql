-- Ingest at SQLite's pace: what a stored post costs the server beside its row, checked set by set
-- instead of row by row, and no index entry for a post that no query of that index can want.

-- posts → channels. The foreign key checked each inserted post with a query of its own (a third of
-- the insert's cost); the same rule is now checked once per statement — every channel the new posts
-- name must exist, and is locked FOR KEY SHARE as the key check locks it, so a channel removed
-- meanwhile either waits for the posts' commit (and then removes them) or makes the insert fail.
-- Moving a post, removing, renumbering or truncating channels keep the key's meaning (the removal
-- still cascades to the channel's posts).
ALTER TABLE posts DROP CONSTRAINT posts_channel_id_fkey;

CREATE FUNCTION posts_channels_exist() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT count(DISTINCT channel_id) FROM new_posts)
       > (SELECT count(*) FROM (SELECT 1 FROM channels
                                WHERE id IN (SELECT channel_id FROM new_posts) FOR KEY SHARE) locked) THEN
        RAISE foreign_key_violation USING MESSAGE = 'a post names a channel that does not exist',
            TABLE = 'posts', CONSTRAINT = 'posts_channel_id_fkey';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER posts_channels_exist AFTER INSERT ON posts REFERENCING NEW TABLE AS new_posts
    FOR EACH STATEMENT EXECUTE FUNCTION posts_channels_exist();

CREATE FUNCTION posts_channel_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM channels WHERE id = NEW.channel_id FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE foreign_key_violation USING MESSAGE = 'a post names a channel that does not exist',
            TABLE = 'posts', CONSTRAINT = 'posts_channel_id_fkey';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER posts_channel_moved BEFORE UPDATE OF channel_id ON posts
    FOR EACH ROW WHEN (OLD.channel_id IS DISTINCT FROM NEW.channel_id) EXECUTE FUNCTION posts_channel_moved();

CREATE FUNCTION channels_remove_posts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM posts WHERE channel_id = OLD.id;
    RETURN NULL;
END $$;
CREATE TRIGGER channels_remove_posts AFTER DELETE ON channels
    FOR EACH ROW EXECUTE FUNCTION channels_remove_posts();

CREATE FUNCTION channels_renumbered() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM posts WHERE channel_id = OLD.id) THEN
        RAISE foreign_key_violation USING MESSAGE = 'posts still name the channel''s old id',
            TABLE = 'posts', CONSTRAINT = 'posts_channel_id_fkey';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER channels_renumbered BEFORE UPDATE OF id ON channels
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION channels_renumbered();

CREATE FUNCTION channels_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE posts CASCADE;
    RETURN NULL;
END $$;
CREATE TRIGGER channels_truncated AFTER TRUNCATE ON channels
    FOR EACH STATEMENT EXECUTE FUNCTION channels_truncated();

-- The search queue is the posts with text and no vector (V2: a post with text has a vector exactly
-- when it is not queued), found by a partial index instead of a table of their ids: a new post costs
-- one index entry instead of a row, its key and its key's check.
CREATE INDEX posts_search_queue ON posts (id) WHERE search_vector IS NULL AND text <> '';
DROP TABLE search_queue;

-- Posts without a vector (not indexed yet) need no entry in the search index: no search can match
-- them (`@@` is strict), and GIN would list each under its NULL key.
DROP INDEX posts_search;
CREATE INDEX posts_search ON posts USING gin (search_vector) WHERE search_vector IS NOT NULL;

-- Only `retrying` posts are claimed by due time, and `failed` ones listed by status; the pending
-- ones have `posts_tagging_pending` (V3), and tagged or skipped ones are looked for by nothing.
DROP INDEX posts_tagging_due;
CREATE INDEX posts_tagging_due ON posts (tagging_status, next_tagging_at)
    WHERE tagging_status IN ('retrying', 'failed');
