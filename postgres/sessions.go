package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/internal/amrcol"
)

const sessionColumns = `id, user_id, kind, token_hash, csrf_hash, prev_hash, rotated_at, grace_used,
	created_at, last_seen_at, idle_expires_at, expires_at, user_agent, ip, amr`

func scanSession(row pgx.Row) (*latch.Session, error) {
	var s latch.Session
	err := row.Scan(&s.ID, &s.UserID, (*string)(&s.Kind), &s.TokenHash, &s.CSRFHash, &s.PrevHash,
		timeDest{&s.RotatedAt}, &s.GraceUsed, timeDest{&s.CreatedAt}, timeDest{&s.LastSeenAt},
		timeDest{&s.IdleExpiresAt}, timeDest{&s.ExpiresAt}, &s.UserAgent, &s.IP, amrcol.Dest{AMR: &s.AMR})
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// CreateSession implements latch.SessionStore. A PrevHash in s counts as a
// spent token of the family; the session and it are inserted by one
// statement, so both or neither are stored.
func (db *DB) CreateSession(ctx context.Context, s *latch.Session) error {
	_, err := db.exec(ctx, "create session", `WITH s AS (
			INSERT INTO sessions (`+sessionColumns+`, purge_after)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, LEAST($11::timestamptz, $12::timestamptz))
			RETURNING id, prev_hash
		)
		INSERT INTO refresh_spent (hash, session_id) SELECT prev_hash, id FROM s WHERE length(prev_hash) > 0`,
		s.ID, s.UserID, string(s.Kind), s.TokenHash, s.CSRFHash, s.PrevHash, nullTime(s.RotatedAt), s.GraceUsed,
		s.CreatedAt, s.LastSeenAt, s.IdleExpiresAt, s.ExpiresAt, s.UserAgent, s.IP, amrcol.Text(s.AMR))
	return err
}

// SessionByID implements latch.SessionStore.
func (db *DB) SessionByID(ctx context.Context, id string) (*latch.Session, error) {
	return get(ctx, db, "session by id", scanSession, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1`, id)
}

// SessionByTokenHash implements latch.SessionStore.
func (db *DB) SessionByTokenHash(ctx context.Context, hash []byte) (*latch.Session, error) {
	return get(ctx, db, "session by token hash", scanSession, `SELECT `+sessionColumns+` FROM sessions WHERE token_hash = $1`, hash)
}

// UseSession implements latch.SessionUser in one statement: an UPDATE that
// slides a live cookie session and returns it, or, when it slid nothing,
// the session as it is. A deadline that would move by less than a second is
// not written (the contract allows it): a busy session costs a read, not a
// committed row version, per request. A refresh family found by the hash is returned
// unchanged, never slid: its idle deadline is the refresh TTL's, which a
// family's token presented as a cookie must not cut to the session idle
// timeout.
func (db *DB) UseSession(ctx context.Context, hash []byte, now time.Time, idle time.Duration) (*latch.Session, error) {
	return get(ctx, db, "use session", scanSession, `WITH used AS (
			UPDATE sessions SET last_seen_at = $2, idle_expires_at = GREATEST(idle_expires_at, LEAST($3, expires_at))
			WHERE token_hash = $1 AND kind = 'session' AND idle_expires_at > $2 AND expires_at > $2
				AND idle_expires_at < LEAST($3, expires_at) - interval '1 second'
			RETURNING `+sessionColumns+`
		)
		SELECT `+sessionColumns+` FROM used
		UNION ALL
		SELECT `+sessionColumns+` FROM sessions WHERE token_hash = $1 AND NOT EXISTS (SELECT FROM used)`,
		hash, now, now.Add(idle))
}

// SessionsByUser implements latch.SessionStore.
func (db *DB) SessionsByUser(ctx context.Context, userID string) ([]*latch.Session, error) {
	return list(ctx, db, "sessions by user", scanSession,
		`SELECT `+sessionColumns+` FROM sessions WHERE user_id = $1 ORDER BY created_at, id`, userID)
}

// TouchSessions implements latch.SessionStore, in one round trip: a batch,
// which PostgreSQL runs as one transaction. The last-seen time never moves
// backwards either: batches may be written out of order. The batch first
// locks the rows in ID order, so that two instances writing overlapping
// batches queue for each other instead of deadlocking.
func (db *DB) TouchSessions(ctx context.Context, touches []latch.SessionTouch) error {
	const op = "touch sessions"
	if len(touches) == 0 {
		return nil
	}
	ids := make([]string, len(touches))
	seen := make([]time.Time, len(touches))
	idle := make([]time.Time, len(touches))
	for i, t := range touches {
		ids[i], seen[i], idle[i] = t.ID, t.LastSeenAt, t.IdleExpiresAt
	}
	var b pgx.Batch
	b.Queue(`SELECT FROM sessions WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE`, ids)
	b.Queue(`UPDATE sessions s
		SET last_seen_at = GREATEST(s.last_seen_at, t.last_seen_at), idle_expires_at = GREATEST(s.idle_expires_at, t.idle_expires_at)
		FROM (
			SELECT id, max(last_seen_at) AS last_seen_at, max(idle_expires_at) AS idle_expires_at
			FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS t (id, last_seen_at, idle_expires_at)
			GROUP BY id
		) t
		WHERE s.id = t.id`, ids, seen, idle)
	octx, cancel := db.op(ctx)
	defer cancel()
	return db.fail(ctx, op, db.pool.SendBatch(octx, &b).Close())
}

// ReplaceSessionToken implements latch.SessionStore.
func (db *DB) ReplaceSessionToken(ctx context.Context, id string, tokenHash, csrfHash []byte) error {
	return db.one(ctx, "replace session token", `UPDATE sessions SET token_hash = $1, csrf_hash = $2 WHERE id = $3`, tokenHash, csrfHash, id)
}

// rotateCurrent is the common case of RotateRefresh in one statement: it
// rotates the live family whose current token is $1 to $2 at $3, sliding
// the idle deadline to $4 capped at expires_at, and records $1 as spent.
// SET expressions read the row as it was, so prev_hash becomes the
// displaced token. It is the first case of latch.(*Session).Rotate written
// in SQL, to spare the common case the round trips of a transaction; the
// conformance suite holds the two to the same results.
const rotateCurrent = `WITH rotated AS (
		UPDATE sessions
		SET token_hash = $2, prev_hash = token_hash, rotated_at = $3, grace_used = false,
			last_seen_at = $3, idle_expires_at = LEAST($4, expires_at), purge_after = LEAST(purge_after, $4)
		WHERE token_hash = $1 AND kind = 'token' AND idle_expires_at > $3 AND expires_at > $3
		RETURNING ` + sessionColumns + `
	), spent AS (
		INSERT INTO refresh_spent (hash, session_id) SELECT $1, id FROM rotated
	)
	SELECT ` + sessionColumns + ` FROM rotated`

// rotateLocked writes a rotation decided under the row lock: the family $1,
// whose current token $2 is displaced and spent, gets the token $3, the
// predecessor $4, grace_used $5, rotated_at $6, last_seen_at $7 and
// idle_expires_at $8. Comparing the token too is a belt to the lock's
// braces: a family changed since it was read is left alone.
const rotateLocked = `WITH rotated AS (
		UPDATE sessions
		SET token_hash = $3, prev_hash = $4, grace_used = $5, rotated_at = $6,
			last_seen_at = $7, idle_expires_at = $8, purge_after = LEAST(purge_after, $8)
		WHERE id = $1 AND token_hash = $2
		RETURNING ` + sessionColumns + `
	), spent AS (
		INSERT INTO refresh_spent (hash, session_id) SELECT $2, id FROM rotated
	)
	SELECT ` + sessionColumns + ` FROM rotated`

// RotateRefresh implements latch.SessionStore.
//
// The common case, the current token of a live family, is one statement
// (rotateCurrent): an UPDATE whose WHERE names the presented token. Of
// concurrent rotations of one token, from any number of connections or
// instances, PostgreSQL lets the first take the row lock; the others wait
// for it, then re-check their WHERE against the row the first committed,
// find another token and update nothing. Those, and every other case (the
// predecessor within its grace, a spent, unknown or expired token), go the
// slow way: a transaction that locks the family row (SELECT ... FOR
// UPDATE), so that the state it decides on is the state it writes over. Of
// the racers, one may then pass through the grace, which that uses up; the
// rest find the token spent. There latch.(*Session).Rotate decides, on the
// locked family that holds the presented token as its current token or a
// spent one.
func (db *DB) RotateRefresh(ctx context.Context, r latch.RefreshRotation) (*latch.Session, error) {
	const op = "rotate refresh"
	s, err := get(ctx, db, op, scanSession, rotateCurrent, r.Presented, r.Next, r.Now, r.Now.Add(r.RefreshTTL))
	if !errors.Is(err, latch.ErrNotFound) {
		return s, err
	}

	var fam *latch.Session
	err = db.tx(ctx, op, func(octx context.Context, tx pgx.Tx) error {
		s, err := scanSession(tx.QueryRow(octx, `SELECT `+sessionColumns+` FROM sessions WHERE token_hash = $1 FOR UPDATE`, r.Presented))
		if errors.Is(err, pgx.ErrNoRows) {
			// Not current: perhaps spent. (A token found current here,
			// which the fast path passed by, is a dead family, a cookie
			// session, or one that became current since: the lock settles
			// it.)
			s, err = scanSession(tx.QueryRow(octx, `SELECT `+sessionColumns+` FROM sessions
				WHERE id = (SELECT session_id FROM refresh_spent WHERE hash = $1) FOR UPDATE`, r.Presented))
		}
		if err != nil {
			return db.fail(ctx, op, err) // ErrNotFound for a token never seen
		}
		next, err := s.Rotate(r)
		if err != nil {
			fam = next
			return err
		}
		fam, err = scanSession(tx.QueryRow(octx, rotateLocked, s.ID, s.TokenHash,
			next.TokenHash, next.PrevHash, next.GraceUsed, next.RotatedAt, next.LastSeenAt, next.IdleExpiresAt))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("postgres: %s: family %s changed under its row lock", op, s.ID)
		}
		return db.fail(ctx, op, err)
	})
	switch {
	case errors.Is(err, latch.ErrRefreshReused):
		return fam, err
	case err != nil:
		return nil, err
	}
	return fam, nil
}

// DeleteSession implements latch.SessionStore. The family's spent token
// hashes go with it (ON DELETE CASCADE).
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	return db.one(ctx, "delete session", `DELETE FROM sessions WHERE id = $1`, id)
}

// purgeSessions takes up to $2 rows whose purge_after has come ($1), skipping
// rows another transaction holds, deletes those dead at $1 and moves the
// others' purge_after to their deadline, and returns how many it took and
// how many it deleted. purge_after stays at or before the earlier of a
// row's two deadlines: a slide only moves the idle deadline later, and the
// statements that may set it earlier (a rotation under a shorter refresh TTL)
// lower purge_after with it.
const purgeSessions = `WITH due AS (
		SELECT id, idle_expires_at <= $1 OR expires_at <= $1 AS dead
		FROM sessions WHERE purge_after <= $1
		LIMIT $2 FOR UPDATE SKIP LOCKED
	), deleted AS (
		DELETE FROM sessions s USING due WHERE s.id = due.id AND due.dead
		RETURNING 1
	), rearmed AS (
		UPDATE sessions s SET purge_after = LEAST(s.idle_expires_at, s.expires_at)
		FROM due WHERE s.id = due.id AND NOT due.dead
	)
	SELECT (SELECT count(*) FROM due), (SELECT count(*) FROM deleted)`

// DeleteExpiredSessions implements latch.SessionStore, in batches of
// purgeSessions. Rows another transaction holds are skipped, not waited
// for: two instances purging at once share the work, and what is skipped
// goes next time. A session in use is taken once per idle timeout, to have
// its purge_after moved, instead of on every slide.
func (db *DB) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	const op = "delete expired sessions"
	total := 0
	for {
		var due, deleted int
		octx, cancel := db.op(ctx)
		err := db.pool.QueryRow(octx, purgeSessions, now, deleteBatch).Scan(&due, &deleted)
		cancel()
		if err != nil {
			return total, db.fail(ctx, op, err)
		}
		total += deleted
		if due < deleteBatch {
			return total, nil
		}
	}
}

// CountLiveSessions implements latch.SessionCounter, for the active
// sessions gauge. A row whose purge_after is after now is live (it is at or
// before both deadlines); of the others, the few the purge has not yet
// taken, the deadlines decide. It reads the purge_after index; on a very
// large table it may take longer than the operation timeout, and then fails
// as unavailable rather than hold up the scrape.
func (db *DB) CountLiveSessions(ctx context.Context, now time.Time) (int, error) {
	octx, cancel := db.op(ctx)
	defer cancel()
	var n int
	err := db.pool.QueryRow(octx, `SELECT (SELECT count(*) FROM sessions WHERE purge_after > $1)
		+ (SELECT count(*) FROM sessions WHERE purge_after <= $1 AND idle_expires_at > $1 AND expires_at > $1)`, now).Scan(&n)
	if err != nil {
		return 0, db.fail(ctx, "count sessions", err)
	}
	return n, nil
}
