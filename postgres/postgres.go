// Package postgres implements latch's stores on PostgreSQL with pgx and its
// connection pool: the database for several latch instances behind one
// load balancer.
//
// # Time limits
//
// latch fails closed: when the database does not answer, a request must get
// a 503 quickly rather than hang with the client. So every operation of a
// DB runs under a deadline of its own (WithTimeout, one second by default,
// or the caller's when that is sooner), and so does every new connection.
// A stopped, unreachable or hung server turns into latch.ErrUnavailable
// within that time, whichever way it fails: refused connections, reset
// connections or packets that go nowhere.
//
// # Errors
//
// Missing records are latch.ErrNotFound and a registered email
// latch.ErrEmailTaken. Every failure of the database itself (no connection,
// no answer in time, a server shutting down, out of resources, a
// serialization failure, a missing table) wraps latch.ErrUnavailable.
// Violated constraints and invalid data are the caller's bug and wrap
// nothing. Context errors of the caller's context are returned as such: a
// caller that gave up is no sign of an unavailable database. Errors never
// carry the connection string, which may hold a password.
//
// # Times
//
// Times are timestamptz, kept to the microsecond (finer digits are
// truncated) and returned in UTC. A zero time.Time in a field that may be
// unset (RotatedAt, RetiredAt, NotBefore) is stored as NULL.
//
// # Instances
//
// Any number of latch processes may share one database: migrations,
// refresh rotations, revocations and signing keys are safe between them
// (see Open, DB.RotateRefresh, DB.AddRevocations and DB.InitKey).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/latch-dev/latch"
)

// DB is latch's store on one PostgreSQL database (or one schema of it). It
// implements latch.UserStore, latch.SessionStore, latch.RevocationStore,
// latch.KeyStore, latch.AccountTokenStore, latch.Outbox and the optional latch.SessionUser and
// latch.SessionCounter, and is safe for concurrent use.
type DB struct {
	pool    *pgxpool.Pool
	timeout time.Duration // of each operation
}

var (
	_ latch.UserStore       = (*DB)(nil)
	_ latch.SessionStore    = (*DB)(nil)
	_ latch.SessionUser     = (*DB)(nil)
	_ latch.SessionCounter  = (*DB)(nil)
	_ latch.RevocationStore = (*DB)(nil)
	_ latch.KeyStore        = (*DB)(nil)
)

// DefaultTimeout is the time limit of one operation, and of establishing a
// connection, when no WithTimeout is given: short enough that latch answers
// 503 within about a second in an outage, long enough for any of its
// queries on a healthy server.
const DefaultTimeout = time.Second

// Option configures Open.
type Option func(*options)

type options struct {
	schema   string
	timeout  time.Duration
	maxConns int32
}

// WithSchema keeps latch's tables in the named schema, which Open creates
// when it is missing (given the privilege to): the schema becomes the
// connections' search_path. Without it latch uses the database's default
// search_path, usually the public schema. Tests use it to give every test
// a database of its own.
func WithSchema(name string) Option {
	return func(o *options) { o.schema = name }
}

// WithTimeout sets the time limit of each operation and of establishing a
// connection (DefaultTimeout when unset or not positive). It is also the
// connections' statement_timeout, so that the server too gives up on a
// statement its caller has given up on. A connect_timeout or
// statement_timeout in the URL takes precedence.
func WithTimeout(d time.Duration) Option {
	return func(o *options) { o.timeout = d }
}

// WithMaxConns sets the size of the connection pool. Without it (or with a
// value below 1) the pool_max_conns of the URL applies, else four
// connections per CPU, at least eight: latch's queries are short, so a
// connection serves thousands of requests a second and a few per CPU keep
// the CPUs busy while others wait on the network.
func WithMaxConns(n int) Option {
	return func(o *options) { o.maxConns = int32(min(n, 1<<20)) }
}

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string, as libpq takes, pgxpool's pool_* settings included)
// and migrates its schema to the latest version this package knows. It fails when the database is unreachable
// (within the connect timeout, as latch.ErrUnavailable) or when its schema
// is newer than this package knows (a newer latch migrated it).
//
// Migrations run in one transaction that first takes a PostgreSQL advisory
// lock, so that instances starting together migrate once, one after the
// other, and a failed migration changes nothing. The migration is bounded
// by ctx only: it may wait for another instance's.
func Open(ctx context.Context, url string, opts ...Option) (*DB, error) {
	db, schema, err := connect(ctx, url, opts...)
	if err != nil {
		return nil, err
	}
	if err := db.migrate(ctx, schema); err != nil {
		db.pool.Close()
		return nil, err
	}
	return db, nil
}

// connect opens the connection pool of Open, without migrating, and
// returns the schema of WithSchema.
func connect(ctx context.Context, url string, opts ...Option) (*DB, string, error) {
	o := options{timeout: DefaultTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	if o.timeout <= 0 {
		o.timeout = DefaultTimeout
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx masks the passwords it can recognise in a malformed string;
		// "can" is not enough, so none of the string is repeated here.
		return nil, "", errors.New("postgres: the database URL does not parse (details withheld, as it may hold a password)")
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = o.timeout
	}
	switch {
	case o.maxConns > 0:
		cfg.MaxConns = o.maxConns
	case !strings.Contains(url, "pool_max_conns"):
		cfg.MaxConns = int32(max(8, 4*runtime.GOMAXPROCS(0)))
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["statement_timeout"]; !ok {
		// A backstop on the server: a statement this process has given up
		// on (its operation timed out and the connection was dropped) does
		// not go on waiting for locks, or commit long after its caller was
		// told it failed.
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(max(1, o.timeout.Milliseconds()), 10)
	}
	if o.schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{o.schema}.Sanitize()
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "latch" // for pg_stat_activity
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, "", fmt.Errorf("postgres: %w", err)
	}
	return &DB{pool: pool, timeout: o.timeout}, o.schema, nil
}

// Close closes every connection, waiting for those in use to be returned.
// Calls after Close fail with latch.ErrUnavailable. It always returns nil;
// the error is there for io.Closer.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Ping reports whether the database can serve latch: it reads the schema
// version, and fails when the server accepts only reads (a standby, or
// default_transaction_read_only), since latch cannot log anyone in, or
// refresh a token, without writing. For /readyz.
func (db *DB) Ping(ctx context.Context) error {
	const op = "ping"
	octx, cancel := db.op(ctx)
	defer cancel()
	var (
		version  int
		readOnly string
	)
	err := db.pool.QueryRow(octx, `SELECT COALESCE(MAX(version), 0), current_setting('transaction_read_only') FROM schema_version`).
		Scan(&version, &readOnly)
	if err != nil {
		return db.fail(ctx, op, err)
	}
	if readOnly == "on" {
		return fmt.Errorf("%w: postgres: %s: the database accepts only reads", latch.ErrUnavailable, op)
	}
	return nil
}

// op derives the context of one operation from the caller's: it ends after
// db.timeout at the latest, so that an unresponsive server costs a caller
// that much and no more.
func (db *DB) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, db.timeout)
}

// fail turns an error of pgx into the store's (see the package
// documentation). ctx is the caller's context, not the operation's, so as
// to tell a caller that gave up from a server that did not answer in time.
// op names the operation, for the logs.
func (db *DB) fail(ctx context.Context, op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return latch.ErrNotFound
	case ctx.Err() != nil:
		if errors.Is(err, ctx.Err()) {
			return fmt.Errorf("postgres: %s: %w", op, err)
		}
		return fmt.Errorf("postgres: %s: %w: %w", op, ctx.Err(), err)
	case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
		// The operation's own deadline, not the caller's: the server did not
		// answer. The context error is not wrapped, as it is not the caller's.
		return fmt.Errorf("%w: postgres: %s: no answer within %v (%v)", latch.ErrUnavailable, op, db.timeout, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code[:2] {
		case "22", "23": // data exception, integrity constraint violation
			// The input, not the database: a caller's bug.
			return fmt.Errorf("postgres: %s: %w", op, err)
		}
	}
	return fmt.Errorf("%w: postgres: %s: %w", latch.ErrUnavailable, op, err)
}

// isUnique reports whether err is a unique violation of the named constraint.
func isUnique(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == constraint
}

// exec runs one statement under the operation's time limit.
func (db *DB) exec(ctx context.Context, op, query string, args ...any) (pgconn.CommandTag, error) {
	octx, cancel := db.op(ctx)
	defer cancel()
	tag, err := db.pool.Exec(octx, query, args...)
	return tag, db.fail(ctx, op, err)
}

// one runs one statement that must change one row: ErrNotFound when it
// changed none.
func (db *DB) one(ctx context.Context, op, query string, args ...any) error {
	tag, err := db.exec(ctx, op, query, args...)
	if err == nil && tag.RowsAffected() == 0 {
		return latch.ErrNotFound
	}
	return err
}

// get runs a query for one row and scans it with scan: ErrNotFound when
// there is none.
func get[T any](ctx context.Context, db *DB, op string, scan func(pgx.Row) (*T, error), query string, args ...any) (*T, error) {
	octx, cancel := db.op(ctx)
	defer cancel()
	v, err := scan(db.pool.QueryRow(octx, query, args...))
	if err != nil {
		return nil, db.fail(ctx, op, err)
	}
	return v, nil
}

// list runs a query and scans each row with scan.
func list[T any](ctx context.Context, db *DB, op string, scan func(pgx.Row) (*T, error), query string, args ...any) ([]*T, error) {
	octx, cancel := db.op(ctx)
	defer cancel()
	rows, err := db.pool.Query(octx, query, args...)
	if err != nil {
		return nil, db.fail(ctx, op, err)
	}
	vs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*T, error) { return scan(row) })
	if err != nil {
		return nil, db.fail(ctx, op, err)
	}
	return vs, nil
}

// tx runs f in a transaction under the operation's time limit and commits
// it when f returns nil. f gets the operation's context. Its errors are
// returned as they are, so that it can return latch sentinels; it passes
// errors of the database through db.fail with the caller's context.
func (db *DB) tx(ctx context.Context, op string, f func(octx context.Context, tx pgx.Tx) error) error {
	octx, cancel := db.op(ctx)
	defer cancel()
	tx, err := db.pool.Begin(octx)
	if err != nil {
		return db.fail(ctx, op, err)
	}
	if err := f(octx, tx); err != nil {
		_ = tx.Rollback(octx)
		return err
	}
	return db.fail(ctx, op, tx.Commit(octx))
}

// deleteBatch is how many rows one statement of a purge deletes.
const deleteBatch = 1000

// deleteBatched runs query, a DELETE whose last parameter is a row limit,
// until it deletes fewer rows than the limit, and returns how many it
// deleted in all. Each batch is a statement (and a time limit) of its own,
// so that a large purge never holds many row locks for long, nor needs more
// than db.timeout for any one step; the whole purge is bounded by ctx only.
func (db *DB) deleteBatched(ctx context.Context, op, query string, args ...any) (int, error) {
	args = append(args, deleteBatch)
	total := 0
	for {
		tag, err := db.exec(ctx, op, query, args...)
		if err != nil {
			return total, err
		}
		total += int(tag.RowsAffected())
		if tag.RowsAffected() < deleteBatch {
			return total, nil
		}
	}
}

// nullTime is t as a timestamptz parameter, NULL for the zero time.
func nullTime(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// timeDest scans a timestamptz, NULL included (as the zero time), into a
// time.Time in UTC.
type timeDest struct{ t *time.Time }

// ScanTimestamptz implements pgtype.TimestamptzScanner.
func (d timeDest) ScanTimestamptz(v pgtype.Timestamptz) error {
	switch {
	case !v.Valid:
		*d.t = time.Time{}
	case v.InfinityModifier != pgtype.Finite:
		return fmt.Errorf("postgres: infinite timestamp")
	default:
		*d.t = v.Time.UTC()
	}
	return nil
}

// DeploymentID is the random identity this database got at its first
// migration. latch names the state it keeps elsewhere for this database
// after it (the Redis key prefix), so that a Redis shared by two databases,
// or kept across a database's re-creation, never mixes their entries.
func (db *DB) DeploymentID(ctx context.Context) (string, error) {
	octx, cancel := db.op(ctx)
	defer cancel()
	var id string
	if err := db.pool.QueryRow(octx, `SELECT id FROM deployment`).Scan(&id); err != nil {
		return "", db.fail(ctx, "deployment id", err)
	}
	return id, nil
}
