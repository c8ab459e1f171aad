-- A job that needs an account's Telegram connection names the account: only the worker holding the
-- account's lease claims it (the others could not use the account's session). NULL = any worker.
ALTER TABLE jobs ADD COLUMN account_id BIGINT REFERENCES accounts (id) ON DELETE SET NULL;
CREATE INDEX jobs_account ON jobs (account_id) WHERE state = 'queued';
