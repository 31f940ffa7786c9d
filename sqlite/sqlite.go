// Package sqlite implements latch's stores on an embedded SQLite database
// (the pure-Go driver modernc.org/sqlite): the default for a single
// instance, with nothing to run beside it.
//
// # Concurrency
//
// SQLite has one writer at a time. A DB keeps two connection pools on the
// file: one connection for every write, and several for reads, which WAL
// mode lets run beside the writer on a snapshot.
//
// The single write connection makes writers of one process queue in Go, in
// database/sql's pool, instead of in SQLite's busy handler, which retries
// by sleeping (up to 100 ms a time) and so turns contention into latency
// and, past busy_timeout, into SQLITE_BUSY errors. Write transactions begin
// with BEGIN IMMEDIATE, taking the write lock before their first read: a
// deferred transaction that reads and then writes can fail with
// SQLITE_BUSY_SNAPSHOT when another process wrote in between, which no
// waiting can fix. Against other processes on the same file (latch's own
// command-line tools) busy_timeout then waits for the lock.
//
// With synchronous=NORMAL in WAL mode a commit does not wait for fsync: a
// power loss can lose the last transactions but never corrupts the
// database. That trade is what makes thousands of refresh rotations a
// second possible.
//
// # Errors
//
// Missing records are latch.ErrNotFound and a registered email
// latch.ErrEmailTaken. Every failure of the database itself (closed, I/O,
// full disk, corrupt, locked for longer than busy_timeout) wraps
// latch.ErrUnavailable, so that latch fails closed. Context errors are
// returned as such: a caller that gave up is no sign of an unavailable
// database.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/latch-dev/latch"
)

// DB is latch's store on one SQLite database file. It implements
// latch.UserStore, latch.SessionStore, latch.RevocationStore,
// latch.KeyStore, latch.AccountTokenStore and latch.Outbox, and is safe for
// concurrent use.
type DB struct {
	w *sql.DB // the one write connection
	r *sql.DB // read connections, query_only

	stmts      sync.Map // stmtKey -> *sql.Stmt
	unprepared sync.Map // query -> struct{}: met in a transaction, not yet in stmts
}

// stmtKey names a statement prepared on one of the pools.
type stmtKey struct {
	pool  *sql.DB
	query string
}

var (
	_ latch.UserStore       = (*DB)(nil)
	_ latch.SessionStore    = (*DB)(nil)
	_ latch.SessionCounter  = (*DB)(nil)
	_ latch.RevocationStore = (*DB)(nil)
	_ latch.KeyStore        = (*DB)(nil)
)

// busyTimeout is how long a connection waits for a lock that another
// process holds before failing with SQLITE_BUSY (as latch.ErrUnavailable).
const busyTimeout = 5 * time.Second

// Open opens the database file at path, creating it if needed, and migrates
// its schema to the latest version this package knows. It fails when the
// database's schema is newer than that (a newer latch migrated it).
//
// path is a file name: ":memory:" and "file:" URIs are refused, because
// the read and write connections must share one database.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite: %q is not a database file name", path)
	}
	common := fmt.Sprintf("_busy_timeout=%d&_foreign_keys=1", busyTimeout.Milliseconds())

	w, err := sql.Open("sqlite", path+"?"+common+"&_txlock=immediate&_journal_mode=WAL&_synchronous=NORMAL")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	if err := migrate(ctx, w); err != nil {
		_ = w.Close()
		return nil, err
	}

	// Readers open after the migration has put the file in WAL mode (a
	// persistent setting) and can never write: query_only guards against a
	// write sent to the wrong pool.
	r, err := sql.Open("sqlite", path+"?"+common+"&_query_only=1")
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	db := &DB{w: w, r: r}
	if err := db.Ping(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the database. Calls after Close fail with
// latch.ErrUnavailable.
func (db *DB) Close() error {
	var errs []error
	db.stmts.Range(func(_, s any) bool {
		errs = append(errs, s.(*sql.Stmt).Close())
		return true
	})
	return errors.Join(append(errs, db.r.Close(), db.w.Close())...)
}

// prepared returns query prepared on pool, preparing it on first use.
// Every query goes through here: SQLite's parser costs about as much as
// running one of latch's small queries, and a statement prepared once per
// connection is parsed once.
func (db *DB) prepared(ctx context.Context, pool *sql.DB, query string) (*sql.Stmt, error) {
	key := stmtKey{pool, query}
	if s, ok := db.stmts.Load(key); ok {
		return s.(*sql.Stmt), nil
	}
	s, err := pool.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := db.stmts.LoadOrStore(key, s); loaded {
		_ = s.Close()
		return prev.(*sql.Stmt), nil
	}
	return s, nil
}

// stmt returns query prepared for tx, or for the read pool when tx is nil:
// reads outside a transaction go to the readers, everything in one to the
// writer.
func (db *DB) stmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	if tx == nil {
		return db.prepared(ctx, db.r, query)
	}
	if s, ok := db.stmts.Load(stmtKey{db.w, query}); ok {
		// The writer has one connection, so the statement is prepared on
		// it already; the transaction closes this handle to it.
		return tx.StmtContext(ctx, s.(*sql.Stmt)), nil
	}
	// Preparing on the writer pool now would wait for the one connection,
	// which tx holds: prepare for tx alone, and for the pool once tx is
	// done (see write).
	db.unprepared.Store(query, struct{}{})
	return tx.PrepareContext(ctx, query)
}

// row runs a query for one row, in tx or on the readers when tx is nil.
func (db *DB) row(ctx context.Context, tx *sql.Tx, query string, args ...any) rowScanner {
	s, err := db.stmt(ctx, tx, query)
	if err != nil {
		return errRow{err}
	}
	return s.QueryRowContext(ctx, args...)
}

// rows runs a query on the readers.
func (db *DB) rows(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, err := db.stmt(ctx, nil, query)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(ctx, args...)
}

// exec runs a statement in tx, or on its own on the writer when tx is nil.
func (db *DB) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if tx != nil {
		s, err := db.stmt(ctx, tx, query)
		if err != nil {
			return nil, err
		}
		return s.ExecContext(ctx, args...)
	}
	s, err := db.prepared(ctx, db.w, query)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(ctx, args...)
}

// errRow is a row that failed before its query ran.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// Ping reports whether the database can serve latch: it reads the schema
// version and takes and releases the write lock, since latch cannot log
// anyone in, or refresh a token, without writing. For /readyz.
func (db *DB) Ping(ctx context.Context) error {
	var v int
	if err := db.row(ctx, nil, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v); err != nil {
		return fail(ctx, "ping", err)
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fail(ctx, "ping", err)
	}
	return fail(ctx, "ping", tx.Rollback())
}

// fail turns an error of database/sql or the driver into the store's (see
// the package documentation). op names the operation, for the logs.
func fail(ctx context.Context, op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return latch.ErrNotFound
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("sqlite: %s: %w", op, err)
	case ctx.Err() != nil:
		return fmt.Errorf("sqlite: %s: %w: %w", op, ctx.Err(), err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_MISMATCH, sqlite3.SQLITE_RANGE:
			// The input, not the database: a caller's bug.
			return fmt.Errorf("sqlite: %s: %w", op, err)
		}
	}
	return fmt.Errorf("%w: sqlite: %s: %w", latch.ErrUnavailable, op, err)
}

// isConstraint reports whether err is a violation of the constraint code,
// on the index or column named by target ("users.email").
func isConstraint(err error, code int, target string) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == code && strings.Contains(se.Error(), target)
}

// write runs f in a write transaction (BEGIN IMMEDIATE) and commits it when
// f returns nil. f's errors are returned as they are, so that it can return
// latch sentinels; errors of the database are passed through fail.
func (db *DB) write(ctx context.Context, op string, f func(*sql.Tx) error) error {
	defer db.prepareMissed(ctx)
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fail(ctx, op, err)
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return fail(ctx, op, tx.Commit())
}

// prepareMissed prepares on the writer pool the queries that transactions
// had to prepare for themselves. A failure leaves the query to be prepared
// after its next use.
func (db *DB) prepareMissed(ctx context.Context) {
	db.unprepared.Range(func(q, _ any) bool {
		db.unprepared.Delete(q)
		_, _ = db.prepared(ctx, db.w, q.(string))
		return true
	})
}

// nanos stores a time.Time as INTEGER nanoseconds since the Unix epoch,
// UTC: exact, compact, and ordered like the times, so that deadlines
// compare in SQL. The zero time is 0, never a real instant for latch.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// timeDest scans a column written with nanos into a time.Time.
type timeDest struct{ t *time.Time }

func (d timeDest) Scan(src any) error {
	n, ok := src.(int64)
	if !ok {
		return fmt.Errorf("sqlite: time column holds %T, want int64", src)
	}
	if n == 0 {
		*d.t = time.Time{}
	} else {
		*d.t = time.Unix(0, n).UTC()
	}
	return nil
}

// rowScanner is what *sql.Row and *sql.Rows have in common.
type rowScanner interface {
	Scan(dest ...any) error
}
