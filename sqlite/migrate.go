package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/latch-dev/latch/internal/migrations"
)

// migrationFiles are the schema migrations, NNNN_name.sql, numbered from 1
// without gaps. A released file never changes: a change of schema is a new
// file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// loadMigrations returns the embedded migrations in order.
func loadMigrations() ([]migrations.Migration, error) {
	ms, err := migrations.Load(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return ms, nil
}

// migrate brings the schema of the database up to date, in one write
// transaction: instances starting together on one file migrate it once, and
// a failed migration leaves the database as it was. Each applied version is
// recorded in schema_version.
func migrate(ctx context.Context, w *sql.DB) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	latest := len(ms)
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return fail(ctx, "migrate", err)
	}
	defer func() { _ = tx.Rollback() }() // no-op after Commit
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    INTEGER NOT NULL PRIMARY KEY,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return fail(ctx, "migrate", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&current); err != nil {
		return fail(ctx, "migrate", err)
	}
	if current > latest {
		return fmt.Errorf("sqlite: database schema version %d is newer than this latch supports (%d); upgrade latch", current, latest)
	}
	for _, m := range ms[current:] {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fail(ctx, "migration "+m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, applied_at) VALUES (?, ?)`,
			m.Version, time.Now().UnixNano()); err != nil {
			return fail(ctx, "migrate", err)
		}
	}
	return fail(ctx, "migrate", tx.Commit())
}

// Pending returns the names of the migrations that Open would apply to the
// database file at path, in order, without applying them or creating the
// file: every migration for a file that does not exist yet, none for an
// up-to-date one. It fails, as Open does, when the schema is newer than
// this package knows. For `latch migrate --check`.
func Pending(ctx context.Context, path string) ([]string, error) {
	ms, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite: %q is not a database file name", path)
	}
	current := 0
	if _, err := os.Stat(path); err == nil {
		r, err := sql.Open("sqlite", fmt.Sprintf("%s?_busy_timeout=%d&_query_only=1", path, busyTimeout.Milliseconds()))
		if err != nil {
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		defer r.Close()
		var n int
		if err := r.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'`).Scan(&n); err != nil {
			return nil, fail(ctx, "pending migrations", err)
		}
		if n > 0 {
			if err := r.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&current); err != nil {
				return nil, fail(ctx, "pending migrations", err)
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if current > len(ms) {
		return nil, fmt.Errorf("sqlite: database schema version %d is newer than this latch supports (%d); upgrade latch", current, len(ms))
	}
	var names []string
	for _, m := range ms[current:] {
		names = append(names, m.Name)
	}
	return names, nil
}
