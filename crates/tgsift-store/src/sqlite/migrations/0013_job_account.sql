-- tgsift schema, version 13: a job that needs an account's Telegram connection names the account.
--
-- With several workers (PostgreSQL) only the worker serving the account may run such a job; the column
-- is kept on SQLite too so both backends have the same jobs table. A job whose account is removed keeps
-- running nowhere special (NULL): it then fails, naming the missing account.
ALTER TABLE jobs ADD COLUMN account_id INTEGER REFERENCES accounts (id) ON DELETE SET NULL;
