-- latch schema, version 2: account recovery and verification (API.md §8).

-- Accounts created before this version are unverified.
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;

-- One-time links of password resets and address verification. hash is the
-- SHA-256 of the secret in the link; the secret itself is never stored.
CREATE TABLE account_tokens (
	hash       BLOB    NOT NULL PRIMARY KEY,
	purpose    TEXT    NOT NULL,
	user_id    TEXT    NOT NULL,
	email      TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose);
CREATE INDEX account_tokens_expires ON account_tokens (expires_at);

-- The durable outbox. link holds a one-time link until the mail is sent or
-- failed, and is erased then.
CREATE TABLE outbox (
	id              TEXT    NOT NULL PRIMARY KEY,
	kind            TEXT    NOT NULL,
	recipient       TEXT    NOT NULL,
	link            TEXT    NOT NULL,
	detail          TEXT    NOT NULL,
	status          TEXT    NOT NULL,
	created_at      INTEGER NOT NULL,
	not_after       INTEGER NOT NULL,
	attempts        INTEGER NOT NULL,
	next_attempt_at INTEGER NOT NULL,
	last_error      TEXT    NOT NULL,
	done_at         INTEGER NOT NULL
) STRICT;

-- The sender claims pending mail by due time; the purge finds done mail.
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_done ON outbox (done_at) WHERE status != 'pending';
