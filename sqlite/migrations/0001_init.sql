-- latch schema, version 1.
--
-- Times are INTEGER nanoseconds since the Unix epoch, UTC; 0 stands for the
-- zero time.Time (never a real instant for latch). Booleans are 0 or 1.
-- Tables are STRICT, so a value of the wrong type is an error, not a
-- silent conversion.

CREATE TABLE users (
	id            TEXT    NOT NULL PRIMARY KEY,
	email         TEXT    NOT NULL UNIQUE, -- normalised by the caller; compared exactly
	password_hash TEXT    NOT NULL,
	role          TEXT    NOT NULL,
	disabled      INTEGER NOT NULL,
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL
) STRICT;

-- Cookie sessions and refresh families. token_hash is the SHA-256 of the
-- current secret; prev_hash, rotated_at and grace_used are the reuse grace
-- state of a family.
CREATE TABLE sessions (
	id              TEXT    NOT NULL PRIMARY KEY,
	user_id         TEXT    NOT NULL,
	kind            TEXT    NOT NULL,
	token_hash      BLOB    NOT NULL UNIQUE,
	csrf_hash       BLOB,
	prev_hash       BLOB,
	rotated_at      INTEGER NOT NULL,
	grace_used      INTEGER NOT NULL,
	created_at      INTEGER NOT NULL,
	last_seen_at    INTEGER NOT NULL,
	idle_expires_at INTEGER NOT NULL,
	expires_at      INTEGER NOT NULL,
	user_agent      TEXT    NOT NULL,
	ip              TEXT    NOT NULL
) STRICT;

-- Listing a user's sessions, oldest first, reads this index in order.
CREATE INDEX sessions_user ON sessions (user_id, created_at);
-- DeleteExpiredSessions finds the dead by either deadline.
CREATE INDEX sessions_idle_expires ON sessions (idle_expires_at);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Every refresh token a family has spent, for reuse detection. They go with
-- their family.
CREATE TABLE refresh_spent (
	hash       BLOB NOT NULL PRIMARY KEY,
	session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

-- The cascade finds a family's spent tokens by this index.
CREATE INDEX refresh_spent_session ON refresh_spent (session_id);

-- The revocation log. AUTOINCREMENT, because a plain rowid may hand the
-- highest seq out again once its row is deleted, and seq is the cursor
-- that verifiers resume from.
CREATE TABLE revocations (
	seq        INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	kind       TEXT    NOT NULL,
	value      TEXT    NOT NULL,
	not_before INTEGER NOT NULL,
	expires    INTEGER NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX revocations_expires ON revocations (expires);

CREATE TABLE signing_keys (
	id         TEXT    NOT NULL PRIMARY KEY,
	alg        TEXT    NOT NULL,
	private    BLOB,
	sealed     INTEGER NOT NULL,
	public     BLOB,
	created_at INTEGER NOT NULL,
	retired_at INTEGER NOT NULL -- 0 while it signs
) STRICT;

-- At most one signing key per algorithm: the invariant InitKey relies on.
CREATE UNIQUE INDEX signing_keys_signing ON signing_keys (alg) WHERE retired_at = 0;
