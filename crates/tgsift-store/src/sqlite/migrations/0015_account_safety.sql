-- tgsift schema, version 15: an account stopped by Telegram says how (`logged_out`, `key_revoked`,
-- `frozen`, `banned`), because each needs a different act from its owner. `disabled_reason` keeps
-- Telegram's answer; it is NULL exactly when the state is `active`. Accounts stopped before this
-- version were stopped as logged out.
ALTER TABLE accounts ADD COLUMN state TEXT NOT NULL DEFAULT 'active'
    CHECK (state = 'active' OR state = 'logged_out' OR state = 'key_revoked' OR state = 'frozen'
           OR state = 'banned');
UPDATE accounts SET state = 'logged_out' WHERE disabled_reason IS NOT NULL;

-- The client identity an account presents to Telegram (`initConnection`: device model, system and app
-- version, language codes) as JSON, fixed when it is added so every process presents the same one.
ALTER TABLE accounts ADD COLUMN identity TEXT;

-- Calls of budgeted methods (contacts.resolveUsername, channels.joinChannel) in the last day, so the
-- budgets Telegram enforces by escalating waits hold across restarts and one-shot commands.
CREATE TABLE budget_calls (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    method     TEXT    NOT NULL,
    at_ms      INTEGER NOT NULL,
    PRIMARY KEY (account_id, method, at_ms)
);
