-- latch schema, version 3: second factors (API.md §8).

-- How the login behind a session or family authenticated (RFC 8176 amr
-- values, space-separated). Sessions from before this version used a password.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';

-- Login ceremonies (an mfa_token, a WebAuthn challenge) are account tokens
-- too: what they carry between steps, and the wrong answers given so far.
ALTER TABLE account_tokens ADD COLUMN data TEXT NOT NULL DEFAULT '';
ALTER TABLE account_tokens ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;

-- One TOTP authenticator per account. secret is sealed with the master key
-- when sealed = 1. last_step is the last time step whose code was accepted.
CREATE TABLE totp_factors (
	user_id    TEXT    NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	secret     BLOB    NOT NULL,
	sealed     INTEGER NOT NULL,
	confirmed  INTEGER NOT NULL,
	last_step  INTEGER NOT NULL,
	created_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Recovery codes: only their SHA-256.
CREATE TABLE recovery_codes (
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	hash    BLOB NOT NULL,
	PRIMARY KEY (user_id, hash)
) STRICT, WITHOUT ROWID;

-- WebAuthn credentials. data is the WebAuthn library's record (public key,
-- flags, transports); sign_count is kept apart for clone detection.
CREATE TABLE passkeys (
	credential_id BLOB    NOT NULL PRIMARY KEY,
	user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name          TEXT    NOT NULL,
	data          BLOB    NOT NULL,
	sign_count    INTEGER NOT NULL,
	created_at    INTEGER NOT NULL,
	last_used_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX passkeys_user ON passkeys (user_id, created_at);
