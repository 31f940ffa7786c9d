package postgres_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/postgres"
	"github.com/latch-dev/latch/storetest"

	"github.com/latch-dev/latch/internal/testenv"
)

// defaultURL is the server of the development machines and CI.
const defaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// testURL is the server the tests use: $LATCH_TEST_POSTGRES, else defaultURL.
func testURL() string {
	if u := os.Getenv("LATCH_TEST_POSTGRES"); u != "" {
		return u
	}
	return defaultURL
}

// reachable connects once per test binary, so that a missing server costs
// one connect timeout, not one per test.
var reachable = sync.OnceValue(func() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testURL())
	if err != nil {
		return err
	}
	return conn.Close(ctx)
})

// needPostgres fails (with CI=true) or skips, loudly, the test when the
// test server does not answer, and returns its URL otherwise.
func needPostgres(tb testing.TB) string {
	tb.Helper()
	if err := reachable(); err != nil {
		testenv.Unavailable(tb, "PostgreSQL", "PostgreSQL is unreachable (%v); start it or set LATCH_TEST_POSTGRES", err)
	}
	return testURL()
}

// newSchema returns the name of a schema that no other test, run or
// process uses, dropped with everything in it when the test ends. Open
// creates it.
func newSchema(tb testing.TB) string {
	tb.Helper()
	url := needPostgres(tb)
	name := "latch_test_" + strings.ToLower(rand.Text())
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			tb.Errorf("dropping schema %s: %v", name, err)
			return
		}
		defer func() { _ = conn.Close(ctx) }()
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{name}.Sanitize()+` CASCADE`); err != nil {
			tb.Errorf("dropping schema %s: %v", name, err)
		}
	})
	return name
}

// openIn opens the test server with latch's tables in schema, closed when
// the test ends (before the schema is dropped).
func openIn(tb testing.TB, schema string, opts ...postgres.Option) *postgres.DB {
	tb.Helper()
	db, err := postgres.Open(context.Background(), needPostgres(tb), append([]postgres.Option{postgres.WithSchema(schema)}, opts...)...)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// open opens a fresh, empty database: a new schema.
func open(tb testing.TB) *postgres.DB {
	tb.Helper()
	return openIn(tb, newSchema(tb))
}

// rawConn connects behind the store's back, with schema as search_path.
func rawConn(tb testing.TB, schema string) *pgx.Conn {
	tb.Helper()
	cfg, err := pgx.ParseConfig(needPostgres(tb))
	if err != nil {
		tb.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
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

func newFamily(id string, hash []byte) *latch.Session {
	return &latch.Session{
		ID: id, UserID: "u-" + id, Kind: latch.KindToken, TokenHash: hash,
		CreatedAt: t0, LastSeenAt: t0, IdleExpiresAt: t0.Add(time.Hour), ExpiresAt: t0.Add(24 * time.Hour),
		UserAgent: "test", IP: "192.0.2.1",
	}
}

// versions returns how many rows schema_version holds, and of how many
// distinct versions.
func versions(t *testing.T, schema string) (rows, distinct int) {
	t.Helper()
	if err := rawConn(t, schema).QueryRow(t.Context(), `SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_version`).
		Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	return rows, distinct
}

func TestOpen_reopen(t *testing.T) {
	schema := newSchema(t)
	db := openIn(t, schema)
	if err := db.CreateUser(t.Context(), newUser("u1")); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	db = openIn(t, schema)
	if _, err := db.UserByID(t.Context(), "u1"); err != nil {
		t.Errorf("UserByID after reopening: %v", err)
	}
	if n, distinct := versions(t, schema); n == 0 || n != distinct {
		t.Errorf("schema_version holds %d rows of %d versions, want one row per version", n, distinct)
	}
}

// Instances that start together on a new database: one migrates, the
// others wait for it and find the work done.
func TestOpen_concurrentMigration(t *testing.T) {
	schema := newSchema(t)
	const instances = 3
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		dbs   [instances]*postgres.DB
		errs  [instances]error
	)
	for i := range instances {
		wg.Go(func() {
			<-start
			dbs[i], errs[i] = postgres.Open(t.Context(), needPostgres(t), postgres.WithSchema(schema))
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
			continue
		}
		t.Cleanup(func() { _ = dbs[i].Close() })
	}
	if t.Failed() {
		t.FailNow()
	}
	if n, distinct := versions(t, schema); n == 0 || n != distinct {
		t.Errorf("schema_version holds %d rows of %d versions after %d concurrent Opens, want one row per version", n, distinct, instances)
	}
	// Every instance works on the one schema.
	for i, db := range dbs {
		if err := db.CreateUser(t.Context(), newUser(fmt.Sprintf("u%d", i))); err != nil {
			t.Errorf("CreateUser on instance %d: %v", i, err)
		}
	}
	if _, err := dbs[0].UserByID(t.Context(), "u2"); err != nil {
		t.Errorf("a user created by instance 2, read by instance 0: %v", err)
	}
}

func TestOpen_newerSchema(t *testing.T) {
	schema := newSchema(t)
	if err := openIn(t, schema).Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := rawConn(t, schema).Exec(t.Context(), `INSERT INTO schema_version (version) VALUES (999)`); err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(t.Context(), needPostgres(t), postgres.WithSchema(schema))
	if err == nil {
		_ = db.Close()
		t.Fatal("Open of a database with a newer schema succeeded")
	}
	want := regexp.MustCompile(`database schema version 999 is newer than this latch supports \(\d+\); upgrade latch`)
	if !want.MatchString(err.Error()) {
		t.Errorf("Open error = %q, want one matching %q", err, want)
	}
	if errors.Is(err, latch.ErrUnavailable) {
		t.Errorf("Open error %q matches latch.ErrUnavailable: retrying will not help", err)
	}
}

func TestOpen_badURL(t *testing.T) {
	const password = "s3cret-Passw0rd"
	for _, url := range []string{
		"postgres://latch:" + password + "@127.0.0.1:notaport/test",
		"postgres://latch:" + password + "@[::1/test",
		"host=127.0.0.1 password=" + password + " port=x",
		"postgres://127.0.0.1/test?pool_max_conns=many&password=" + password,
	} {
		db, err := postgres.Open(t.Context(), url)
		if err == nil {
			_ = db.Close()
			t.Errorf("Open of a malformed URL succeeded")
			continue
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("Open error %q shows the password", err)
		}
	}
}

func TestDB_Ping(t *testing.T) {
	db := open(t)
	if err := db.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestDB_Ping_readOnly(t *testing.T) {
	// A standby, or a primary told to refuse writes, cannot serve latch.
	schema := newSchema(t)
	openIn(t, schema) // migrate
	url := needPostgres(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	db, err := postgres.Open(t.Context(), url+sep+"default_transaction_read_only=on", postgres.WithSchema(schema))
	if err != nil {
		t.Fatalf("Open with default_transaction_read_only: %v", err)
	}
	defer db.Close()
	if err := db.Ping(t.Context()); !errors.Is(err, latch.ErrUnavailable) {
		t.Errorf("Ping of a read-only database: error = %v, want one matching latch.ErrUnavailable", err)
	}
}

// calls are one call of each kind of operation, for the tests of failures
// that every operation must report the same way.
func calls(ctx context.Context, db *postgres.DB) []struct {
	name string
	call func() error
} {
	return []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return db.Ping(ctx) }},
		{"CreateUser", func() error { return db.CreateUser(ctx, newUser("u-"+rand.Text())) }},
		{"UserByID", func() error { _, err := db.UserByID(ctx, "u"); return err }},
		{"UpdateUser", func() error { return db.UpdateUser(ctx, newUser("u")) }},
		{"CreateSession", func() error { return db.CreateSession(ctx, newFamily("f-"+rand.Text(), []byte(rand.Text()))) }},
		{"SessionByTokenHash", func() error { _, err := db.SessionByTokenHash(ctx, []byte("h")); return err }},
		{"UseSession", func() error { _, err := db.UseSession(ctx, []byte("h"), t0, time.Hour); return err }},
		{"SessionsByUser", func() error { _, err := db.SessionsByUser(ctx, "u"); return err }},
		{"CountLiveSessions", func() error { _, err := db.CountLiveSessions(ctx, t0); return err }},
		{"TouchSessions", func() error {
			return db.TouchSessions(ctx, []latch.SessionTouch{{ID: "s", LastSeenAt: t0, IdleExpiresAt: t0}})
		}},
		{"RotateRefresh", func() error {
			_, err := db.RotateRefresh(ctx, latch.RefreshRotation{Presented: []byte("p"), Next: []byte("n"), Now: t0, RefreshTTL: time.Hour})
			return err
		}},
		{"DeleteSession", func() error { return db.DeleteSession(ctx, "s") }},
		{"DeleteExpiredSessions", func() error { _, err := db.DeleteExpiredSessions(ctx, t0); return err }},
		{"AddRevocations", func() error {
			return db.AddRevocations(ctx, []*latch.Revocation{{Kind: latch.RevokeJTI, Value: "j", Expires: t0, CreatedAt: t0}})
		}},
		{"RevocationsSince", func() error { _, err := db.RevocationsSince(ctx, 0, t0, 0); return err }},
		{"Keys", func() error { _, err := db.Keys(ctx); return err }},
		{"InitKey", func() error {
			_, err := db.InitKey(ctx, &latch.SigningKey{ID: "k-" + rand.Text(), Alg: "EdDSA", CreatedAt: t0})
			return err
		}},
		{"RotateKey", func() error {
			return db.RotateKey(ctx, &latch.SigningKey{ID: "k-" + rand.Text(), Alg: "EdDSA", CreatedAt: t0})
		}},
	}
}

func TestDB_closed(t *testing.T) {
	db := open(t)
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, c := range calls(t.Context(), db) {
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
	for _, c := range calls(ctx, db) {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if !errors.Is(err, context.Canceled) || errors.Is(err, latch.ErrUnavailable) {
				t.Errorf("%s with a cancelled context: error = %v, want context.Canceled and not latch.ErrUnavailable", c.name, err)
			}
		})
	}
}

// Two instances (two pools on one schema) rotating one token at once: the
// row lock, not anything in the process, decides. One caller rotates the
// token; with a grace, one more may pass through it; the rest are reuse.
func TestDB_RotateRefresh_twoInstances(t *testing.T) {
	schema := newSchema(t)
	dbs := []*postgres.DB{openIn(t, schema), openIn(t, schema)}
	const callers = 20
	for _, grace := range []time.Duration{0, 5 * time.Second} {
		for round := range 5 {
			f := newFamily(fmt.Sprintf("f%v-%d", grace, round), []byte(rand.Text()))
			if err := dbs[0].CreateSession(t.Context(), f); err != nil {
				t.Fatal(err)
			}
			var (
				wg    sync.WaitGroup
				start = make(chan struct{})
				got   [callers]*latch.Session
				errs  [callers]error
			)
			for i := range callers {
				wg.Go(func() {
					<-start
					got[i], errs[i] = dbs[i%2].RotateRefresh(t.Context(), latch.RefreshRotation{
						Presented: f.TokenHash, Next: []byte(rand.Text()), Now: t0.Add(time.Minute), RefreshTTL: time.Hour, Grace: grace,
					})
				})
			}
			close(start)
			wg.Wait()
			final, err := dbs[1].SessionByID(t.Context(), f.ID)
			if err != nil {
				t.Fatal(err)
			}
			var rotated, viaGrace int
			for i, err := range errs {
				switch {
				case err == nil && !got[i].GraceUsed:
					rotated++
				case err == nil:
					viaGrace++
				case !errors.Is(err, latch.ErrRefreshReused):
					t.Errorf("grace %v, round %d: caller %d (instance %d): error = %v, want ErrRefreshReused", grace, round, i, i%2, err)
				case got[i] == nil || string(got[i].TokenHash) != string(final.TokenHash):
					t.Errorf("grace %v, round %d: caller %d got family %+v with ErrRefreshReused, want its final state %+v", grace, round, i, got[i], final)
				}
			}
			maxGrace := 0
			if grace > 0 {
				maxGrace = 1
			}
			if rotated != 1 || viaGrace > maxGrace {
				t.Errorf("grace %v, round %d: %d callers rotated the token and %d passed through the grace, want 1 and at most %d",
					grace, round, rotated, viaGrace, maxGrace)
			}
			if string(final.PrevHash) != string(f.TokenHash) || final.GraceUsed != (viaGrace == 1) {
				t.Errorf("grace %v, round %d: the family is left with PrevHash %x, GraceUsed %v; want %x, %v",
					grace, round, final.PrevHash, final.GraceUsed, f.TokenHash, viaGrace == 1)
			}
		}
	}
}

// CountLiveSessions counts cookie sessions and families alive at now.
func TestDB_CountLiveSessions(t *testing.T) {
	db := open(t)
	now := t0.Add(2 * time.Hour)
	for i, d := range []struct{ idle, abs time.Duration }{
		{3 * time.Hour, 24 * time.Hour},                  // live
		{2*time.Hour + time.Microsecond, 24 * time.Hour}, // live, just
		{2 * time.Hour, 24 * time.Hour},                  // idle deadline is now: dead
		{time.Hour, 24 * time.Hour},                      // idle
		{3 * time.Hour, 2 * time.Hour},                   // absolute deadline is now: dead
	} {
		s := newFamily(fmt.Sprintf("s%d", i), []byte(rand.Text()))
		s.IdleExpiresAt, s.ExpiresAt = t0.Add(d.idle), t0.Add(d.abs)
		if err := db.CreateSession(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	n, err := db.CountLiveSessions(t.Context(), now)
	if err != nil || n != 2 {
		t.Errorf("CountLiveSessions = %d, %v; want 2, nil", n, err)
	}
}

// Another instance follows the revocation log by polling for seq > cursor
// while several write to it. If an entry could commit after one with a
// higher seq, the follower would move its cursor past it and never see it.
func TestDB_AddRevocations_followed(t *testing.T) {
	schema := newSchema(t)
	writers := []*postgres.DB{openIn(t, schema), openIn(t, schema)}
	follower := openIn(t, schema)
	const goroutines, adds = 8, 40
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		written = map[string]bool{}
	)
	for g := range goroutines {
		wg.Go(func() {
			for i := range adds {
				var revs []*latch.Revocation
				for j := range 1 + i%3 {
					revs = append(revs, &latch.Revocation{Kind: latch.RevokeJTI, Value: fmt.Sprintf("g%d-%d-%d", g, i, j),
						Expires: t0.Add(time.Hour), CreatedAt: t0})
				}
				if err := writers[g%2].AddRevocations(t.Context(), revs); err != nil {
					t.Errorf("AddRevocations: %v", err)
					return
				}
				mu.Lock()
				for _, r := range revs {
					written[r.Value] = true
				}
				mu.Unlock()
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	seen := map[string]int{}
	var cursor int64
	poll := func() int {
		revs, err := follower.RevocationsSince(t.Context(), cursor, t0, 16)
		if err != nil {
			t.Fatalf("RevocationsSince: %v", err)
		}
		for _, r := range revs {
			if r.Seq <= cursor {
				t.Fatalf("RevocationsSince(%d) returned seq %d", cursor, r.Seq)
			}
			cursor = r.Seq
			seen[r.Value]++
		}
		return len(revs)
	}
	for following := true; following; {
		select {
		case <-done:
			following = false
		default:
			poll()
		}
	}
	for poll() > 0 { // catch up with what the writers left
	}
	if t.Failed() {
		return
	}
	var wrong []string
	for v := range written {
		if seen[v] != 1 {
			wrong = append(wrong, fmt.Sprintf("%s %d times", v, seen[v]))
		}
	}
	if len(wrong) > 0 || len(seen) != len(written) {
		t.Errorf("of %d entries written, the follower saw %d; %d not exactly once, such as %v",
			len(written), len(seen), len(wrong), wrong[:min(len(wrong), 5)])
	}
}

func TestDB_UseSession(t *testing.T) {
	db := open(t)
	const idle = 30 * time.Minute
	newCookie := func() *latch.Session {
		return &latch.Session{
			ID: "s-" + rand.Text(), UserID: "u", Kind: latch.KindSession, TokenHash: []byte(rand.Text()), CSRFHash: []byte("csrf"),
			CreatedAt: t0, LastSeenAt: t0, IdleExpiresAt: t0.Add(idle), ExpiresAt: t0.Add(12 * time.Hour),
			UserAgent: "test", IP: "192.0.2.1",
		}
	}
	for _, c := range []struct {
		name      string
		kind      latch.SessionKind
		idleAt    time.Duration // the stored idle deadline, after t0
		now       time.Duration // after t0
		idle      time.Duration
		slides    bool
		wantIdle  time.Duration // after t0, when it slides
		wantFound bool
	}{
		{name: "live", kind: latch.KindSession, idleAt: idle, now: 10 * time.Minute, idle: idle, slides: true, wantIdle: 40 * time.Minute},
		{name: "capped at ExpiresAt", kind: latch.KindSession, idleAt: 12*time.Hour - 5*time.Minute, now: 11*time.Hour + 50*time.Minute, idle: idle,
			slides: true, wantIdle: 12 * time.Hour},
		// Already at the cap: nothing to move, nothing written.
		{name: "at ExpiresAt already", kind: latch.KindSession, idleAt: 12 * time.Hour, now: 11*time.Hour + 50*time.Minute, idle: idle},
		// Never backwards, even when the idle timeout was shortened.
		{name: "shorter idle timeout", kind: latch.KindSession, idleAt: idle, now: time.Minute, idle: 5 * time.Minute},
		// A move of under a second is not worth a committed row version.
		{name: "moves by less than a second", kind: latch.KindSession, idleAt: idle, now: 500 * time.Millisecond, idle: idle},
		{name: "moves by a second or more", kind: latch.KindSession, idleAt: idle, now: 1500 * time.Millisecond, idle: idle,
			slides: true, wantIdle: idle + 1500*time.Millisecond},
		{name: "idle deadline is now", kind: latch.KindSession, idleAt: idle, now: idle, idle: idle},
		{name: "absolute deadline passed", kind: latch.KindSession, idleAt: 13 * time.Hour, now: 12*time.Hour + time.Second, idle: idle},
		// A refresh family's idle deadline is the refresh TTL's.
		{name: "refresh family", kind: latch.KindToken, idleAt: idle, now: 10 * time.Minute, idle: idle},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newCookie()
			s.Kind, s.IdleExpiresAt = c.kind, t0.Add(c.idleAt)
			if c.kind == latch.KindToken {
				s.CSRFHash = nil
			}
			if err := db.CreateSession(t.Context(), s); err != nil {
				t.Fatal(err)
			}
			now := t0.Add(c.now)
			want := *s
			if c.slides {
				want.LastSeenAt, want.IdleExpiresAt = now, t0.Add(c.wantIdle)
			}
			got, err := db.UseSession(t.Context(), s.TokenHash, now, c.idle)
			if err != nil {
				t.Fatalf("UseSession: %v", err)
			}
			stored, err := db.SessionByID(t.Context(), s.ID)
			if err != nil {
				t.Fatal(err)
			}
			for what, got := range map[string]*latch.Session{"UseSession": got, "SessionByID after UseSession": stored} {
				if !got.LastSeenAt.Equal(want.LastSeenAt) || !got.IdleExpiresAt.Equal(want.IdleExpiresAt) ||
					got.ID != want.ID || got.Kind != want.Kind || string(got.TokenHash) != string(want.TokenHash) ||
					!got.ExpiresAt.Equal(want.ExpiresAt) || string(got.CSRFHash) != string(want.CSRFHash) {
					t.Errorf("%s = %+v, want %+v", what, got, want)
				}
				if got.IdleExpiresAt.Location() != time.UTC {
					t.Errorf("%s returned times in %v, want UTC", what, got.IdleExpiresAt.Location())
				}
			}
		})
	}
	t.Run("unknown", func(t *testing.T) {
		for _, hash := range [][]byte{[]byte(rand.Text()), nil} {
			got, err := db.UseSession(t.Context(), hash, t0, idle)
			if !errors.Is(err, latch.ErrNotFound) || got != nil {
				t.Errorf("UseSession(%q) = %v, %v; want nil, ErrNotFound", hash, got, err)
			}
		}
	})
}

// Two instances flushing overlapping batches of touches, in opposite
// orders, must queue for each other, not deadlock.
func TestDB_TouchSessions_overlapping(t *testing.T) {
	schema := newSchema(t)
	dbs := []*postgres.DB{openIn(t, schema), openIn(t, schema)}
	const sessions, rounds = 20, 30
	ids := make([]string, sessions)
	for i := range ids {
		ids[i] = fmt.Sprintf("s%02d", i)
		s := newFamily(ids[i], []byte(rand.Text()))
		if err := dbs[0].CreateSession(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for r := range rounds {
				touches := make([]latch.SessionTouch, sessions)
				for i := range touches {
					id := ids[i]
					if w%2 == 1 {
						id = ids[sessions-1-i]
					}
					at := t0.Add(time.Duration(r*4+w) * time.Second)
					touches[i] = latch.SessionTouch{ID: id, LastSeenAt: at, IdleExpiresAt: at.Add(time.Hour)}
				}
				if err := dbs[w%2].TouchSessions(t.Context(), touches); err != nil {
					t.Errorf("writer %d, round %d: TouchSessions: %v", w, r, err)
					return
				}
			}
		})
	}
	wg.Wait()
	last := t0.Add(time.Duration((rounds-1)*4+3) * time.Second)
	for _, id := range ids {
		s, err := dbs[1].SessionByID(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if !s.LastSeenAt.Equal(last) || !s.IdleExpiresAt.Equal(last.Add(time.Hour)) {
			t.Errorf("session %s: LastSeenAt, IdleExpiresAt = %v, %v; want the latest touch, %v", id, s.LastSeenAt, s.IdleExpiresAt, last)
		}
	}
}

func TestDB_DeploymentID(t *testing.T) {
	a, b := open(t), open(t)
	idA, err := a.DeploymentID(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	again, err := a.DeploymentID(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	idB, err := b.DeploymentID(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(idA) != 32 || idA != again {
		t.Errorf("DeploymentID = %q then %q; want one stable 32-character ID", idA, again)
	}
	if idA == idB {
		t.Errorf("two databases share the deployment ID %q", idA)
	}
}

func TestPending(t *testing.T) {
	ctx := t.Context()
	url := needPostgres(t)
	schema := newSchema(t)
	all, err := postgres.Pending(ctx, url, postgres.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 2 || all[0] != "0001_init.sql" {
		t.Fatalf("Pending of a new schema = %v, want every migration from 0001_init.sql", all)
	}
	var exists bool
	if err := rawConn(t, "public").QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil || exists {
		t.Fatalf("Pending created the schema (%v, %v)", exists, err)
	}
	openIn(t, schema)
	if none, err := postgres.Pending(ctx, url, postgres.WithSchema(schema)); err != nil || len(none) != 0 {
		t.Fatalf("Pending after Open = %v, %v; want none", none, err)
	}
	if _, err := rawConn(t, schema).Exec(ctx, `DELETE FROM schema_version WHERE version = $1`, len(all)); err != nil {
		t.Fatal(err)
	}
	if one, err := postgres.Pending(ctx, url, postgres.WithSchema(schema)); err != nil || !slices.Equal(one, all[len(all)-1:]) {
		t.Fatalf("Pending with the last version unrecorded = %v, %v; want %v", one, err, all[len(all)-1:])
	}
	if _, err := rawConn(t, schema).Exec(ctx, `INSERT INTO schema_version (version) VALUES (999)`); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.Pending(ctx, url, postgres.WithSchema(schema)); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Pending of a newer schema = %v, want an error", err)
	}
}
