-- tgsift schema, version 4: posts deleted in the channel are kept, marked with when tgsift learned of it.
-- Lists and exports leave them out unless asked.
ALTER TABLE posts ADD COLUMN deleted_at INTEGER;
CREATE INDEX posts_deleted ON posts (channel_id, deleted_at) WHERE deleted_at IS NOT NULL;
