package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/latch-dev/latch"
)

// AddRevocations implements latch.RevocationStore, in one transaction. Seq
// is the table's AUTOINCREMENT key: increasing, and never handed out twice
// even after deletions. Writes are serialised, so entries commit in Seq
// order and a reader never sees a Seq before a smaller one that is still to
// come; it is set on revs only once the transaction has committed.
func (db *DB) AddRevocations(ctx context.Context, revs []*latch.Revocation) error {
	const op = "add revocations"
	if len(revs) == 0 {
		return nil
	}
	seqs := make([]int64, len(revs))
	err := db.write(ctx, op, func(tx *sql.Tx) error {
		stmt, err := db.stmt(ctx, tx, `INSERT INTO revocations (kind, value, not_before, expires, created_at) VALUES (?, ?, ?, ?, ?)`)
		if err != nil {
			return fail(ctx, op, err)
		}
		for i, r := range revs {
			res, err := stmt.ExecContext(ctx, string(r.Kind), r.Value, nanos(r.NotBefore), nanos(r.Expires), nanos(r.CreatedAt))
			if err != nil {
				return fail(ctx, op, err)
			}
			if seqs[i], err = res.LastInsertId(); err != nil {
				return fail(ctx, op, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, r := range revs {
		r.Seq = seqs[i]
	}
	return nil
}

// RevocationsSince implements latch.RevocationStore.
func (db *DB) RevocationsSince(ctx context.Context, after int64, now time.Time, limit int) ([]*latch.Revocation, error) {
	const op = "revocations since"
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := db.rows(ctx, `SELECT seq, kind, value, not_before, expires, created_at FROM revocations
		WHERE seq > ? AND expires > ? ORDER BY seq LIMIT ?`, after, nanos(now), limit)
	if err != nil {
		return nil, fail(ctx, op, err)
	}
	defer rows.Close()
	var revs []*latch.Revocation
	for rows.Next() {
		var r latch.Revocation
		if err := rows.Scan(&r.Seq, (*string)(&r.Kind), &r.Value, timeDest{&r.NotBefore}, timeDest{&r.Expires}, timeDest{&r.CreatedAt}); err != nil {
			return nil, fail(ctx, op, err)
		}
		revs = append(revs, &r)
	}
	return revs, fail(ctx, op, rows.Err())
}

// DeleteExpiredRevocations implements latch.RevocationStore.
func (db *DB) DeleteExpiredRevocations(ctx context.Context, now time.Time) (int, error) {
	return db.deleteBatched(ctx, "delete expired revocations", `DELETE FROM revocations WHERE seq IN (
		SELECT seq FROM revocations WHERE expires < ? LIMIT ?)`, nanos(now))
}
