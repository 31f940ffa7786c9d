package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/latch-dev/latch"
)

const keyColumns = `id, alg, private, sealed, public, created_at, retired_at`

func scanKey(row rowScanner) (*latch.SigningKey, error) {
	var k latch.SigningKey
	if err := row.Scan(&k.ID, &k.Alg, &k.Private, &k.Sealed, &k.Public, timeDest{&k.CreatedAt}, timeDest{&k.RetiredAt}); err != nil {
		return nil, err
	}
	return &k, nil
}

func (db *DB) insertKey(ctx context.Context, tx *sql.Tx, k *latch.SigningKey) error {
	_, err := db.exec(ctx, tx, `INSERT INTO signing_keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Alg, k.Private, k.Sealed, k.Public, nanos(k.CreatedAt), nanos(k.RetiredAt))
	return err
}

// Keys implements latch.KeyStore. Of keys created at the same time, the
// last stored comes first.
func (db *DB) Keys(ctx context.Context) ([]*latch.SigningKey, error) {
	const op = "keys"
	rows, err := db.rows(ctx, `SELECT `+keyColumns+` FROM signing_keys ORDER BY created_at DESC, rowid DESC`)
	if err != nil {
		return nil, fail(ctx, op, err)
	}
	defer rows.Close()
	var keys []*latch.SigningKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fail(ctx, op, err)
		}
		keys = append(keys, k)
	}
	return keys, fail(ctx, op, rows.Err())
}

// InitKey implements latch.KeyStore. The check and the insert are one
// write transaction, so instances starting together agree on one key; a
// unique index on the unretired key of each algorithm backs that up.
func (db *DB) InitKey(ctx context.Context, k *latch.SigningKey) (*latch.SigningKey, error) {
	const op = "init key"
	var signing *latch.SigningKey
	err := db.write(ctx, op, func(tx *sql.Tx) error {
		cur, err := scanKey(db.row(ctx, tx, `SELECT `+keyColumns+` FROM signing_keys
			WHERE alg = ? AND retired_at = 0 ORDER BY created_at DESC, rowid DESC LIMIT 1`, k.Alg))
		switch {
		case err == nil:
			signing = cur
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return fail(ctx, op, err)
		}
		if err := db.insertKey(ctx, tx, k); err != nil {
			return fail(ctx, op, err)
		}
		c := *k
		c.Private, c.Public = bytes.Clone(k.Private), bytes.Clone(k.Public)
		signing = &c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return signing, nil
}

// RotateKey implements latch.KeyStore.
func (db *DB) RotateKey(ctx context.Context, k *latch.SigningKey) error {
	const op = "rotate key"
	return db.write(ctx, op, func(tx *sql.Tx) error {
		if _, err := db.exec(ctx, tx, `UPDATE signing_keys SET retired_at = ? WHERE alg = ? AND retired_at = 0`,
			nanos(k.CreatedAt), k.Alg); err != nil {
			return fail(ctx, op, err)
		}
		return fail(ctx, op, db.insertKey(ctx, tx, k))
	})
}

// DeleteKeysRetiredBefore implements latch.KeyStore.
func (db *DB) DeleteKeysRetiredBefore(ctx context.Context, t time.Time) (int, error) {
	const op = "delete retired keys"
	res, err := db.exec(ctx, nil, `DELETE FROM signing_keys WHERE retired_at <> 0 AND retired_at < ?`, nanos(t))
	if err != nil {
		return 0, fail(ctx, op, err)
	}
	n, err := res.RowsAffected()
	return int(n), fail(ctx, op, err)
}
