package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/sqlite"
	"github.com/latch-dev/latch/storetest"
)

// open opens a fresh database file, closed when the test ends.
func open(tb testing.TB) *sqlite.DB {
	tb.Helper()
	return openAt(tb, filepath.Join(tb.TempDir(), "latch.db"))
}

func openAt(tb testing.TB, path string) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

func TestStores(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Stores {
		db := open(t)
		return storetest.Stores{Users: db, Sessions: db, Revocations: db, Keys: db, AccountTokens: db, Outbox: db, Factors: db}
	})
}

var t0 = time.Date(2031, time.March, 14, 15, 9, 26, 0, time.UTC)

func newUser(id string) *latch.User {
	return &latch.User{ID: id, Email: id + "@example.com", PasswordHash: "$argon2id$x", Role: latch.DefaultRole, CreatedAt: t0, UpdatedAt: t0}
}

func TestOpen_reopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latch.db")
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open of a new file: %v", err)
	}
	if err := db.CreateUser(t.Context(), newUser("u1")); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	db = openAt(t, path)
	if _, err := db.UserByID(t.Context(), "u1"); err != nil {
		t.Errorf("UserByID after reopening: %v", err)
	}
	if err := db.CreateUser(t.Context(), newUser("u2")); err != nil {
		t.Errorf("CreateUser after reopening: %v", err)
	}
	// Reopening applied no migration twice (that would have failed on
	// CREATE TABLE) and recorded none twice.
	raw := rawOpen(t, path)
	var versions, distinct int
	if err := raw.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_version`).Scan(&versions, &distinct); err != nil {
		t.Fatal(err)
	}
	if versions == 0 || versions != distinct {
		t.Errorf("schema_version holds %d rows of %d versions, want one row per version", versions, distinct)
	}
}

// rawOpen opens path with database/sql directly, behind the store's back.
func rawOpen(t *testing.T, path string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	return raw
}

func TestOpen_newerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latch.db")
	db := openAt(t, path)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw := rawOpen(t, path)
	if _, err := raw.Exec(`INSERT INTO schema_version (version, applied_at) VALUES (999, 0)`); err != nil {
		t.Fatal(err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(t.Context(), path)
	if err == nil {
		_ = db.Close()
		t.Fatal("Open of a database with a newer schema succeeded")
	}
	want := regexp.MustCompile(`database schema version 999 is newer than this latch supports \(\d+\); upgrade latch`)
	if !want.MatchString(err.Error()) {
		t.Errorf("Open error = %q, want one matching %q", err, want)
	}
}

func TestOpen_badPath(t *testing.T) {
	dir := t.TempDir()
	for _, path := range []string{"", ":memory:", "file:" + filepath.Join(dir, "a.db"), filepath.Join(dir, "a.db?mode=ro"), filepath.Join(dir, "missing", "a.db")} {
		if db, err := sqlite.Open(t.Context(), path); err == nil {
			_ = db.Close()
			t.Errorf("Open(%q) succeeded", path)
		}
	}
}

func TestDB_closed(t *testing.T) {
	db := open(t)
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := t.Context()
	for _, c := range []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return db.Ping(ctx) }},
		{"CreateUser", func() error { return db.CreateUser(ctx, newUser("u")) }},
		{"UserByID", func() error { _, err := db.UserByID(ctx, "u"); return err }},
		{"SessionByTokenHash", func() error { _, err := db.SessionByTokenHash(ctx, []byte("h")); return err }},
		{"SessionsByUser", func() error { _, err := db.SessionsByUser(ctx, "u"); return err }},
		{"TouchSessions", func() error {
			return db.TouchSessions(ctx, []latch.SessionTouch{{ID: "s", LastSeenAt: t0, IdleExpiresAt: t0}})
		}},
		{"RotateRefresh", func() error {
			_, err := db.RotateRefresh(ctx, latch.RefreshRotation{Presented: []byte("p"), Next: []byte("n"), Now: t0, RefreshTTL: time.Hour})
			return err
		}},
		{"DeleteExpiredSessions", func() error { _, err := db.DeleteExpiredSessions(ctx, t0); return err }},
		{"AddRevocations", func() error {
			return db.AddRevocations(ctx, []*latch.Revocation{{Kind: latch.RevokeJTI, Value: "j", Expires: t0}})
		}},
		{"RevocationsSince", func() error { _, err := db.RevocationsSince(ctx, 0, t0, 0); return err }},
		{"Keys", func() error { _, err := db.Keys(ctx); return err }},
		{"InitKey", func() error {
			_, err := db.InitKey(ctx, &latch.SigningKey{ID: "k", Alg: "EdDSA", CreatedAt: t0})
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if !errors.Is(err, latch.ErrUnavailable) {
				t.Errorf("%s on a closed DB: error = %v, want one matching latch.ErrUnavailable", c.name, err)
			}
			if errors.Is(err, latch.ErrNotFound) {
				t.Errorf("%s on a closed DB: error %v matches latch.ErrNotFound", c.name, err)
			}
		})
	}
}

func TestDB_contextDone(t *testing.T) {
	// A caller that gave up is no sign of an unavailable database.
	db := open(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, c := range []struct {
		name string
		call func() error
	}{
		{"UserByID", func() error { _, err := db.UserByID(ctx, "u"); return err }},
		{"CreateUser", func() error { return db.CreateUser(ctx, newUser("u")) }},
		{"RotateRefresh", func() error {
			_, err := db.RotateRefresh(ctx, latch.RefreshRotation{Presented: []byte("p"), Next: []byte("n"), Now: t0})
			return err
		}},
	} {
		err := c.call()
		if !errors.Is(err, context.Canceled) || errors.Is(err, latch.ErrUnavailable) {
			t.Errorf("%s with a cancelled context: error = %v, want context.Canceled and not latch.ErrUnavailable", c.name, err)
		}
	}
}

func TestDB_Ping(t *testing.T) {
	if err := open(t).Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// Two handles on one file stand for two processes (the server and a
// command-line tool): their writers must wait for each other, not fail.
func TestDB_twoHandlesOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latch.db")
	dbs := []*sqlite.DB{openAt(t, path), openAt(t, path)}
	const writers, rotations = 4, 50
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		db := dbs[i%2]
		f := &latch.Session{
			ID: fmt.Sprintf("f%d", i), UserID: "u", Kind: latch.KindToken, TokenHash: []byte{byte(i), 0},
			CreatedAt: t0, LastSeenAt: t0, IdleExpiresAt: t0.Add(time.Hour), ExpiresAt: t0.Add(24 * time.Hour),
		}
		if err := db.CreateSession(t.Context(), f); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			cur := f.TokenHash
			for j := range rotations {
				next := []byte{byte(i), byte(j + 1)}
				if _, err := db.RotateRefresh(t.Context(), latch.RefreshRotation{Presented: cur, Next: next, Now: t0, RefreshTTL: time.Hour}); err != nil {
					errs[i] = err
					return
				}
				cur = next
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
}

func TestPending(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "latch.db")
	all, err := sqlite.Pending(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 || all[0] != "0001_init.sql" {
		t.Fatalf("Pending of a missing file = %v, want every migration from 0001_init.sql", all)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Pending created the file (stat: %v)", err)
	}
	if err := openAt(t, path).Close(); err != nil {
		t.Fatal(err)
	}
	if none, err := sqlite.Pending(ctx, path); err != nil || len(none) != 0 {
		t.Fatalf("Pending after Open = %v, %v; want none", none, err)
	}
	raw := rawOpen(t, path)
	if _, err := raw.Exec(`DELETE FROM schema_version`); err != nil {
		t.Fatal(err)
	}
	if again, err := sqlite.Pending(ctx, path); err != nil || !slices.Equal(again, all) {
		t.Fatalf("Pending with no version recorded = %v, %v; want %v", again, err, all)
	}
	if _, err := raw.Exec(`INSERT INTO schema_version (version, applied_at) VALUES (999, 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Pending(ctx, path); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Pending of a newer schema = %v, want an error", err)
	}
	if _, err := sqlite.Pending(ctx, ":memory:"); err == nil {
		t.Fatal("Pending(:memory:) succeeded")
	}
}
