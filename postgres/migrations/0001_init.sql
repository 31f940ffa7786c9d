-- latch schema, version 1, for PostgreSQL.
--
-- Times are timestamptz (microseconds, UTC in and out). Times that may be
-- unset are NULL then; the rest are NOT NULL. Hashes are bytea.

CREATE TABLE users (
	id            text        PRIMARY KEY,
	email         text        NOT NULL CONSTRAINT users_email_key UNIQUE, -- normalised by the caller; compared exactly
	password_hash text        NOT NULL,
	role          text        NOT NULL,
	disabled      boolean     NOT NULL,
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL
);

-- Cookie sessions and refresh families. token_hash is the SHA-256 of the
-- current secret; prev_hash, rotated_at and grace_used are the reuse grace
-- state of a family.
CREATE TABLE sessions (
	id              text        PRIMARY KEY,
	user_id         text        NOT NULL,
	kind            text        NOT NULL CHECK (kind IN ('session', 'token')),
	token_hash      bytea       NOT NULL CONSTRAINT sessions_token_hash_key UNIQUE,
	csrf_hash       bytea,
	prev_hash       bytea,
	rotated_at      timestamptz,
	grace_used      boolean     NOT NULL,
	created_at      timestamptz NOT NULL,
	last_seen_at    timestamptz NOT NULL,
	idle_expires_at timestamptz NOT NULL,
	expires_at      timestamptz NOT NULL,
	user_agent      text        NOT NULL,
	ip              text        NOT NULL
);

-- Listing a user's sessions, oldest first, reads this index in order.
CREATE INDEX sessions_user ON sessions (user_id, created_at);
-- DeleteExpiredSessions finds the dead by either deadline.
CREATE INDEX sessions_idle_expires ON sessions (idle_expires_at);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Every refresh token a family has spent, for reuse detection. They go with
-- their family.
CREATE TABLE refresh_spent (
	hash       bytea PRIMARY KEY,
	session_id text  NOT NULL REFERENCES sessions (id) ON DELETE CASCADE
);

-- The cascade finds a family's spent tokens by this index.
CREATE INDEX refresh_spent_session ON refresh_spent (session_id);

-- The revocation log. seq is the cursor other instances follow; an
-- identity's sequence never hands a value out twice, deleted rows
-- included. Its values follow commit order only because AddRevocations
-- serialises the writers (see there).
CREATE TABLE revocations (
	seq        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind       text        NOT NULL,
	value      text        NOT NULL,
	not_before timestamptz,
	expires    timestamptz NOT NULL,
	created_at timestamptz NOT NULL
);

CREATE INDEX revocations_expires ON revocations (expires);

CREATE TABLE signing_keys (
	id         text        PRIMARY KEY,
	-- Insertion order: of keys created at the same time, the last stored
	-- lists first.
	stored     bigint      GENERATED ALWAYS AS IDENTITY,
	alg        text        NOT NULL,
	private    bytea,
	sealed     boolean     NOT NULL,
	public     bytea,
	created_at timestamptz NOT NULL,
	retired_at timestamptz -- NULL while it signs
);

-- At most one signing key per algorithm: the invariant InitKey relies on.
CREATE UNIQUE INDEX signing_keys_signing ON signing_keys (alg) WHERE retired_at IS NULL;
