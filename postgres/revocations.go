package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latch-dev/latch"
)

// AddRevocations implements latch.RevocationStore, in one round trip: a
// batch, which PostgreSQL runs as one transaction.
//
// Other instances follow the log by polling for seq > their cursor, so an
// entry must never become visible after one with a higher seq: the poller
// would have moved its cursor past it and skip it forever. A sequence alone
// does not ensure that. It hands out numbers as transactions insert, but
// they commit in any order: A takes 41, B takes 42, B commits, a poller
// reads 42 and moves its cursor there, then A commits 41. So the batch
// first takes a transaction-scoped advisory lock, which serialises
// AddRevocations across connections and instances: a writer draws its
// numbers only after the previous writer has committed and become visible
// (PostgreSQL releases a transaction's locks after making its commit
// visible), so seq order is commit order. Revocations are rare, and a
// writer holds the lock for one round trip, so the queue is short.
//
// Seq is set on revs only once the transaction has committed.
func (db *DB) AddRevocations(ctx context.Context, revs []*latch.Revocation) error {
	const op = "add revocations"
	if len(revs) == 0 {
		return nil
	}
	var b pgx.Batch
	b.Queue(`SELECT pg_advisory_xact_lock($1)`, revocationLock)
	for _, r := range revs {
		b.Queue(`INSERT INTO revocations (kind, value, not_before, expires, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING seq`,
			string(r.Kind), r.Value, nullTime(r.NotBefore), r.Expires, r.CreatedAt)
	}
	octx, cancel := db.op(ctx)
	defer cancel()
	res := db.pool.SendBatch(octx, &b)
	seqs := make([]int64, len(revs))
	_, err := res.Exec()
	for i := 0; err == nil && i < len(revs); i++ {
		err = res.QueryRow().Scan(&seqs[i])
	}
	if cerr := res.Close(); err == nil {
		err = cerr // the commit's
	}
	if err != nil {
		return db.fail(ctx, op, err)
	}
	for i, r := range revs {
		r.Seq = seqs[i]
	}
	return nil
}

func scanRevocation(row pgx.Row) (*latch.Revocation, error) {
	var r latch.Revocation
	err := row.Scan(&r.Seq, (*string)(&r.Kind), &r.Value, timeDest{&r.NotBefore}, timeDest{&r.Expires}, timeDest{&r.CreatedAt})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// RevocationsSince implements latch.RevocationStore.
func (db *DB) RevocationsSince(ctx context.Context, after int64, now time.Time, limit int) ([]*latch.Revocation, error) {
	var lim any // NULL: LIMIT ALL
	if limit > 0 {
		lim = limit
	}
	return list(ctx, db, "revocations since", scanRevocation, `SELECT seq, kind, value, not_before, expires, created_at
		FROM revocations WHERE seq > $1 AND expires > $2 ORDER BY seq LIMIT $3`, after, now, lim)
}

// DeleteExpiredRevocations implements latch.RevocationStore.
func (db *DB) DeleteExpiredRevocations(ctx context.Context, now time.Time) (int, error) {
	return db.deleteBatched(ctx, "delete expired revocations", `DELETE FROM revocations WHERE seq IN (
		SELECT seq FROM revocations WHERE expires < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, now)
}
