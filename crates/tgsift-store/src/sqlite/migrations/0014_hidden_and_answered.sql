-- tgsift schema, version 14: what Telegram's irregular pages can and cannot prove.
--
-- A stored post that a later page lacks and that `channels.getMessages` answers empty is gone from the
-- account's view: deleted, or hidden from this account (posts "not displayable due to local laws"
-- are) — Telegram does not tell the two apart, so the row stays, marked with when tgsift noticed, and
-- is cleared when a page shows the post again. Only a deletion Telegram announces sets deleted_at.
ALTER TABLE posts ADD COLUMN hidden_at INTEGER;
-- How many messages (of any kind) the server answered for a fetched range: fewer than the range's ids
-- is what `channels audit` reports as a short range. NULL for ranges recorded before version 14 and
-- for those live mode extends.
ALTER TABLE fetched_ranges ADD COLUMN answered INTEGER;
