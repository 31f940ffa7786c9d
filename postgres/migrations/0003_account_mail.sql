-- latch schema, version 3: account recovery and verification (API.md §8).

-- Accounts created before this version are unverified.
ALTER TABLE users ADD COLUMN email_verified boolean NOT NULL DEFAULT false;

-- One-time links of password resets and address verification. hash is the
-- SHA-256 of the secret in the link; the secret itself is never stored.
CREATE TABLE account_tokens (
	hash       bytea       PRIMARY KEY,
	purpose    text        NOT NULL,
	user_id    text        NOT NULL,
	email      text        NOT NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL
);

CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose);
CREATE INDEX account_tokens_expires ON account_tokens (expires_at);

-- The durable outbox. link holds a one-time link until the mail is sent or
-- failed, and is erased then. Times that may be unset are NULL then.
CREATE TABLE outbox (
	id              text        PRIMARY KEY,
	kind            text        NOT NULL,
	recipient       text        NOT NULL,
	link            text        NOT NULL,
	detail          text        NOT NULL,
	status          text        NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
	created_at      timestamptz NOT NULL,
	not_after       timestamptz,
	attempts        integer     NOT NULL,
	next_attempt_at timestamptz NOT NULL,
	last_error      text        NOT NULL,
	done_at         timestamptz
);

-- The sender claims pending mail by due time; the purge finds done mail.
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_done ON outbox (done_at) WHERE status <> 'pending';
