package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/internal/amrcol"
)

const sessionColumns = `id, user_id, kind, token_hash, csrf_hash, prev_hash, rotated_at, grace_used,
	created_at, last_seen_at, idle_expires_at, expires_at, user_agent, ip, amr`

func scanSession(row rowScanner) (*latch.Session, error) {
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
// spent token of the family.
func (db *DB) CreateSession(ctx context.Context, s *latch.Session) error {
	const op = "create session"
	insert := func(tx *sql.Tx) error {
		_, err := db.exec(ctx, tx, `INSERT INTO sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			s.ID, s.UserID, string(s.Kind), s.TokenHash, s.CSRFHash, s.PrevHash, nanos(s.RotatedAt), s.GraceUsed,
			nanos(s.CreatedAt), nanos(s.LastSeenAt), nanos(s.IdleExpiresAt), nanos(s.ExpiresAt), s.UserAgent, s.IP, amrcol.Text(s.AMR))
		return fail(ctx, op, err)
	}
	if len(s.PrevHash) == 0 {
		return insert(nil)
	}
	return db.write(ctx, op, func(tx *sql.Tx) error {
		if err := insert(tx); err != nil {
			return err
		}
		_, err := db.exec(ctx, tx, `INSERT INTO refresh_spent (hash, session_id) VALUES (?, ?)`, s.PrevHash, s.ID)
		return fail(ctx, op, err)
	})
}

// SessionByID implements latch.SessionStore.
func (db *DB) SessionByID(ctx context.Context, id string) (*latch.Session, error) {
	s, err := scanSession(db.row(ctx, nil, `SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, id))
	if err != nil {
		return nil, fail(ctx, "session by id", err)
	}
	return s, nil
}

// SessionByTokenHash implements latch.SessionStore.
func (db *DB) SessionByTokenHash(ctx context.Context, hash []byte) (*latch.Session, error) {
	s, err := scanSession(db.row(ctx, nil, `SELECT `+sessionColumns+` FROM sessions WHERE token_hash = ?`, hash))
	if err != nil {
		return nil, fail(ctx, "session by token hash", err)
	}
	return s, nil
}

// SessionsByUser implements latch.SessionStore.
func (db *DB) SessionsByUser(ctx context.Context, userID string) ([]*latch.Session, error) {
	const op = "sessions by user"
	rows, err := db.rows(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fail(ctx, op, err)
	}
	defer rows.Close()
	var list []*latch.Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, fail(ctx, op, err)
		}
		list = append(list, s)
	}
	return list, fail(ctx, op, rows.Err())
}

// TouchSessions implements latch.SessionStore, in one transaction. The
// last-seen time never moves backwards either: batches may be written out
// of order.
func (db *DB) TouchSessions(ctx context.Context, touches []latch.SessionTouch) error {
	const op = "touch sessions"
	if len(touches) == 0 {
		return nil
	}
	return db.write(ctx, op, func(tx *sql.Tx) error {
		stmt, err := db.stmt(ctx, tx, `UPDATE sessions
			SET last_seen_at = MAX(last_seen_at, ?), idle_expires_at = MAX(idle_expires_at, ?)
			WHERE id = ?`)
		if err != nil {
			return fail(ctx, op, err)
		}
		for _, t := range touches {
			if _, err := stmt.ExecContext(ctx, nanos(t.LastSeenAt), nanos(t.IdleExpiresAt), t.ID); err != nil {
				return fail(ctx, op, err)
			}
		}
		return nil
	})
}

// ReplaceSessionToken implements latch.SessionStore.
func (db *DB) ReplaceSessionToken(ctx context.Context, id string, tokenHash, csrfHash []byte) error {
	res, err := db.exec(ctx, nil, `UPDATE sessions SET token_hash = ?, csrf_hash = ? WHERE id = ?`, tokenHash, csrfHash, id)
	return affected(ctx, "replace session token", res, err)
}

// RotateRefresh implements latch.SessionStore, in one write transaction:
// BEGIN IMMEDIATE holds the write lock from the first read, so the state
// read is the state written over, and of concurrent rotations of one token
// the first wins and the others find the token spent. The family that
// holds the presented token, as its current token or a spent one, is read
// and handed to latch.(*Session).Rotate, which decides; this writes.
func (db *DB) RotateRefresh(ctx context.Context, r latch.RefreshRotation) (*latch.Session, error) {
	const op = "rotate refresh"
	var fam *latch.Session
	err := db.write(ctx, op, func(tx *sql.Tx) error {
		s, err := scanSession(db.row(ctx, tx, `SELECT `+sessionColumns+` FROM sessions WHERE token_hash = ?`, r.Presented))
		if errors.Is(err, sql.ErrNoRows) {
			s, err = scanSession(db.row(ctx, tx, `SELECT `+sessionColumns+` FROM sessions
				WHERE id = (SELECT session_id FROM refresh_spent WHERE hash = ?)`, r.Presented))
		}
		if err != nil {
			return fail(ctx, op, err) // ErrNotFound for a token never seen
		}
		next, err := s.Rotate(r)
		if err != nil {
			fam = next
			return err
		}
		displaced := s.TokenHash
		res, err := db.exec(ctx, tx, `UPDATE sessions
			SET token_hash = ?, prev_hash = ?, rotated_at = ?, grace_used = ?, last_seen_at = ?, idle_expires_at = ?
			WHERE id = ? AND token_hash = ?`,
			next.TokenHash, next.PrevHash, nanos(next.RotatedAt), next.GraceUsed, nanos(next.LastSeenAt), nanos(next.IdleExpiresAt), s.ID, displaced)
		if err != nil {
			return fail(ctx, op, err)
		}
		// Compare-and-set: under the write lock nothing can have changed the
		// row since it was read; if it did, spend nothing.
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("sqlite: %s: family %s changed during its rotation (%d rows, %v)", op, s.ID, n, err)
		}
		if _, err := db.exec(ctx, tx, `INSERT INTO refresh_spent (hash, session_id) VALUES (?, ?)`, displaced, s.ID); err != nil {
			return fail(ctx, op, err)
		}
		fam = next
		return nil
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
	res, err := db.exec(ctx, nil, `DELETE FROM sessions WHERE id = ?`, id)
	return affected(ctx, "delete session", res, err)
}

// DeleteExpiredSessions implements latch.SessionStore.
func (db *DB) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	t := nanos(now)
	return db.deleteBatched(ctx, "delete expired sessions", `DELETE FROM sessions WHERE id IN (
		SELECT id FROM sessions WHERE idle_expires_at <= ? OR expires_at <= ? LIMIT ?)`, t, t)
}

// deleteBatch is how many rows one transaction of a purge deletes.
const deleteBatch = 1000

// deleteBatched runs query, a DELETE whose last parameter is a row limit,
// until it deletes fewer rows than the limit, and returns how many it
// deleted in all. Each batch is a transaction of its own, so that a large
// purge never holds the write lock for long: logins and refreshes wait for
// one batch at most.
func (db *DB) deleteBatched(ctx context.Context, op, query string, args ...any) (int, error) {
	args = append(args, deleteBatch)
	total := 0
	for {
		res, err := db.exec(ctx, nil, query, args...)
		if err != nil {
			return total, fail(ctx, op, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fail(ctx, op, err)
		}
		total += int(n)
		if n < deleteBatch {
			return total, nil
		}
	}
}

// CountLiveSessions implements latch.SessionCounter, for the active
// sessions gauge.
func (db *DB) CountLiveSessions(ctx context.Context, now time.Time) (int, error) {
	var n int
	t := nanos(now)
	err := db.row(ctx, nil, `SELECT count(*) FROM sessions WHERE idle_expires_at > ? AND expires_at > ?`, t, t).Scan(&n)
	if err != nil {
		return 0, fail(ctx, "count sessions", err)
	}
	return n, nil
}
