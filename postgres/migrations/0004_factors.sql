-- latch schema, version 4: second factors (API.md §8).

-- How the login behind a session or family authenticated (RFC 8176 amr
-- values, space-separated). Sessions from before this version used a password.
ALTER TABLE sessions ADD COLUMN amr text NOT NULL DEFAULT 'pwd';

-- Login ceremonies (an mfa_token, a WebAuthn challenge) are account tokens
-- too: what they carry between steps, and the wrong answers given so far.
ALTER TABLE account_tokens ADD COLUMN data text NOT NULL DEFAULT '';
ALTER TABLE account_tokens ADD COLUMN attempts integer NOT NULL DEFAULT 0;

-- One TOTP authenticator per account. secret is sealed with the master key
-- when sealed. last_step is the last time step whose code was accepted.
CREATE TABLE totp_factors (
	user_id    text        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	secret     bytea       NOT NULL,
	sealed     boolean     NOT NULL,
	confirmed  boolean     NOT NULL,
	last_step  bigint      NOT NULL,
	created_at timestamptz NOT NULL
);

-- Recovery codes: only their SHA-256.
CREATE TABLE recovery_codes (
	user_id text  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	hash    bytea NOT NULL,
	PRIMARY KEY (user_id, hash)
);

-- WebAuthn credentials. data is the WebAuthn library's record (public key,
-- flags, transports); sign_count is kept apart for clone detection.
CREATE TABLE passkeys (
	credential_id bytea       PRIMARY KEY,
	user_id       text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name          text        NOT NULL,
	data          bytea       NOT NULL,
	sign_count    bigint      NOT NULL,
	created_at    timestamptz NOT NULL,
	last_used_at  timestamptz
);

CREATE INDEX passkeys_user ON passkeys (user_id, created_at);
