-- A stored post gone from an account's view (a page lacks it, channels.getMessages answers it empty)
-- is marked hidden, not deleted: Telegram does not tell deleted from hidden to that account. Cleared
-- when a page shows it again.
ALTER TABLE posts ADD COLUMN hidden_at BIGINT;
-- Messages the server answered for a fetched range (fewer than its ids: a short range in the audit).
ALTER TABLE fetched_ranges ADD COLUMN answered BIGINT;
