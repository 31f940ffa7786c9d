-- latch schema, version 5: sliding a session's idle deadline is a HOT update.
--
-- A slide (every use of a session, written back in batches) changed
-- idle_expires_at, which was indexed for the purge, so each slide wrote a
-- new entry into every index of the table. purge_after replaces the two
-- deadline indexes: it is a lower bound of the earlier of a row's two
-- deadlines, which only the purge moves forward (DeleteExpiredSessions
-- deletes the rows it finds dead and sets the others' to their deadline), so
-- a slide changes no indexed column. Rows from before this version are due
-- at the first purge, which sets theirs.
ALTER TABLE sessions ADD COLUMN purge_after timestamptz NOT NULL DEFAULT '-infinity';
ALTER TABLE sessions ALTER COLUMN purge_after DROP DEFAULT;
DROP INDEX sessions_idle_expires;
DROP INDEX sessions_expires;
CREATE INDEX sessions_purge_after ON sessions (purge_after);
-- Room on each page for the new version of a row a slide writes.
ALTER TABLE sessions SET (fillfactor = 90);
