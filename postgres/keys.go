package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latch-dev/latch"
)

const keyColumns = `id, alg, private, sealed, public, created_at, retired_at`

func scanKey(row pgx.Row) (*latch.SigningKey, error) {
	var k latch.SigningKey
	if err := row.Scan(&k.ID, &k.Alg, &k.Private, &k.Sealed, &k.Public, timeDest{&k.CreatedAt}, timeDest{&k.RetiredAt}); err != nil {
		return nil, err
	}
	return &k, nil
}

// lockKeys makes key changes take turns, across instances: InitKey and
// RotateKey begin with it, so that each sees the other's work whole, while
// readers (Keys) are not held up. Keys change a few times a year. (LOCK
// TABLE would do, but PostgreSQL refuses it outside BEGIN, and a batch is
// a transaction without one.)
const lockKeys = `SELECT pg_advisory_xact_lock($1)`

// Keys implements latch.KeyStore. Of keys created at the same time, the
// last stored comes first.
func (db *DB) Keys(ctx context.Context) ([]*latch.SigningKey, error) {
	return list(ctx, db, "keys", scanKey, `SELECT `+keyColumns+` FROM signing_keys ORDER BY created_at DESC, stored DESC`)
}

// InitKey implements latch.KeyStore, in one round trip: a batch, which
// PostgreSQL runs as one transaction. Under the keys' lock it inserts k
// unless the algorithm has an unretired key, and otherwise reads that key,
// so instances starting together agree on one; a unique index on the
// unretired key of each algorithm backs that up.
func (db *DB) InitKey(ctx context.Context, k *latch.SigningKey) (*latch.SigningKey, error) {
	const op = "init key"
	var b pgx.Batch
	b.Queue(lockKeys, keysLock)
	b.Queue(`INSERT INTO signing_keys (`+keyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (alg) WHERE retired_at IS NULL DO NOTHING
		RETURNING `+keyColumns, k.ID, k.Alg, k.Private, k.Sealed, k.Public, k.CreatedAt, nullTime(k.RetiredAt))
	b.Queue(`SELECT `+keyColumns+` FROM signing_keys WHERE alg = $1 AND retired_at IS NULL
		ORDER BY created_at DESC, stored DESC LIMIT 1`, k.Alg)
	octx, cancel := db.op(ctx)
	defer cancel()
	res := db.pool.SendBatch(octx, &b)
	_, err := res.Exec()
	var inserted, current *latch.SigningKey
	if err == nil {
		inserted, err = scanKey(res.QueryRow())
		if errors.Is(err, pgx.ErrNoRows) {
			err = nil
		}
	}
	if err == nil {
		current, err = scanKey(res.QueryRow())
	}
	if cerr := res.Close(); err == nil {
		err = cerr // the commit's
	}
	switch {
	case err != nil:
		return nil, db.fail(ctx, op, err)
	case inserted != nil:
		return inserted, nil
	}
	return current, nil
}

// RotateKey implements latch.KeyStore, in one round trip: a batch, which
// PostgreSQL runs as one transaction, under the keys' lock, so that
// concurrent rotations of one algorithm retire each other's key in turn
// instead of both inserting a signing key.
func (db *DB) RotateKey(ctx context.Context, k *latch.SigningKey) error {
	const op = "rotate key"
	var b pgx.Batch
	b.Queue(lockKeys, keysLock)
	b.Queue(`UPDATE signing_keys SET retired_at = $1 WHERE alg = $2 AND retired_at IS NULL`, k.CreatedAt, k.Alg)
	b.Queue(`INSERT INTO signing_keys (`+keyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		k.ID, k.Alg, k.Private, k.Sealed, k.Public, k.CreatedAt, nullTime(k.RetiredAt))
	octx, cancel := db.op(ctx)
	defer cancel()
	return db.fail(ctx, op, db.pool.SendBatch(octx, &b).Close())
}

// DeleteKeysRetiredBefore implements latch.KeyStore. Unretired keys
// (retired_at NULL) never compare before t.
func (db *DB) DeleteKeysRetiredBefore(ctx context.Context, t time.Time) (int, error) {
	tag, err := db.exec(ctx, "delete retired keys", `DELETE FROM signing_keys WHERE retired_at < $1`, t)
	return int(tag.RowsAffected()), err
}
