package scale_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", to read PostgreSQL after a crash
	_ "modernc.org/sqlite"             // database/sql driver "sqlite", to read the SQLite file after a crash
)

// crashKills is how many times TestCrash kills latch per store: a few in
// `make test`, LATCH_CRASH_KILLS (`make crash KILLS=50`) for the long run.
func crashKills(t *testing.T) int {
	if v := os.Getenv("LATCH_CRASH_KILLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("LATCH_CRASH_KILLS=%q: want a positive number", v)
		}
		return n
	}
	return 3
}

// TestCrash kills latch with SIGKILL at random moments of a login storm, a
// refresh storm and logouts from several goroutines, restarts it on the
// same database and checks, after every restart, that:
//
//   - the revocation stream resumed with Last-Event-ID N replays exactly
//     the log's entries after N (read from the database), and every entry
//     streamed before the kill is still in the log;
//   - every session and family row is complete and consistent (its user
//     exists, hashes have their size, deadlines are in order, a family's
//     current token is not also spent, its predecessor is);
//   - every credential logged out with a 204 before the kill is refused
//     (the cookie, the access token, and the family's refresh token);
//   - every credential whose login answered 200 and that nobody logged out
//     is accepted, for its own account;
//   - of the refresh tokens a client holds for a family, at most one
//     refreshes: the last one it received (unless its refresh was in flight
//     at the kill), never the one before.
func TestCrash(t *testing.T) {
	kills := crashKills(t)
	for _, st := range []struct {
		name  string
		setup func(t *testing.T) crashStore
	}{
		{"sqlite", func(t *testing.T) crashStore {
			path := filepath.Join(t.TempDir(), "latch.db")
			return crashStore{db: "sqlite:" + path, driver: "sqlite", dsn: "file:" + path + "?_pragma=busy_timeout(5000)", dialect: sqliteChecks}
		}},
		{"postgres", func(t *testing.T) crashStore {
			redis := sharedRedis()
			needRedis(t, redis)
			db := freshDatabase(t, redis)
			return crashStore{db: db, redis: redis, driver: "pgx", dsn: db, dialect: postgresChecks}
		}},
	} {
		t.Run(st.name, func(t *testing.T) {
			c := newCrasher(t, st.setup(t))
			c.run(t, kills)
		})
	}
}

// crashStore is where a crashed latch keeps its state and how the test
// reads it directly.
type crashStore struct {
	db, redis   string // latch's --db and --redis
	driver, dsn string // database/sql, for the test's own reads
	dialect     map[string]string
}

// The consistency checks of the session tables: each query counts the rows
// that break one rule, so every one must answer 0.
var commonChecks = map[string]string{
	"session of no user":            `SELECT count(*) FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE u.id IS NULL`,
	"unknown kind":                  `SELECT count(*) FROM sessions WHERE kind NOT IN ('session', 'token')`,
	"token hash not 32 bytes":       `SELECT count(*) FROM sessions WHERE length(token_hash) <> 32`,
	"cookie session without CSRF":   `SELECT count(*) FROM sessions WHERE kind = 'session' AND (csrf_hash IS NULL OR length(csrf_hash) <> 32)`,
	"cookie session with prev_hash": `SELECT count(*) FROM sessions WHERE kind = 'session' AND prev_hash IS NOT NULL`,
	"deadlines out of order": `SELECT count(*) FROM sessions WHERE NOT (created_at <= last_seen_at AND last_seen_at <= idle_expires_at
		AND idle_expires_at <= expires_at AND created_at < expires_at)`,
	"current refresh token also spent": `SELECT count(*) FROM sessions s JOIN refresh_spent r ON r.hash = s.token_hash`,
	"predecessor not spent by its family": `SELECT count(*) FROM sessions s WHERE s.kind = 'token' AND s.prev_hash IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM refresh_spent r WHERE r.hash = s.prev_hash AND r.session_id = s.id)`,
	"spent token of no family":        `SELECT count(*) FROM refresh_spent r LEFT JOIN sessions s ON s.id = r.session_id WHERE s.id IS NULL`,
	"spent token of a cookie session": `SELECT count(*) FROM refresh_spent r JOIN sessions s ON s.id = r.session_id WHERE s.kind <> 'token'`,
	"revocation without target":       `SELECT count(*) FROM revocations WHERE value = ''`,
}

var sqliteChecks = withChecks(map[string]string{
	"rotated family without rotated_at": `SELECT count(*) FROM sessions WHERE prev_hash IS NOT NULL AND rotated_at = 0`,
	"session of the zero time":          `SELECT count(*) FROM sessions WHERE created_at <= 0`,
})

var postgresChecks = withChecks(map[string]string{
	"rotated family without rotated_at": `SELECT count(*) FROM sessions WHERE prev_hash IS NOT NULL AND rotated_at IS NULL`,
})

func withChecks(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range commonChecks {
		out[k] = v
	}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// crashCred is a credential a client of the storm holds.
type crashCred struct {
	email         string
	cookie, csrf  string // a cookie session
	access        string // a token login: its latest access token
	refresh, prev string // the family's latest refresh token and the one it replaced
	inFlight      bool   // a refresh was in flight at the kill: the latest may be spent
}

func (c *crashCred) token() bool { return c.access != "" }

func (c *crashCred) auth() auth {
	if c.token() {
		return auth{bearer: c.access}
	}
	return auth{cookie: c.cookie, csrf: c.csrf}
}

// crasher drives one store through its kills.
type crasher struct {
	store    crashStore
	emails   []string
	inst     *proc
	base     string
	lastSeen int64   // the last stream event id read before a kill
	streamed []int64 // every id the follower read before the kill

	mu        sync.Mutex
	idle      []*crashCred // live credentials no worker is using
	loggedOut []*crashCred // logged out with a 204 before a kill

	counts map[string]int // reported at the end
}

func newCrasher(t *testing.T, st crashStore) *crasher {
	c := &crasher{store: st, counts: map[string]int{}}
	c.start(t)
	for i := range 6 {
		e := newEmail(fmt.Sprintf("crash%d", i))
		signup(t, c.base, e)
		c.emails = append(c.emails, e)
	}
	for _, e := range c.emails[:4] {
		tok := loginToken(t, c.base, e, "setup")
		c.idle = append(c.idle, &crashCred{email: e, access: tok.a.bearer, refresh: tok.refresh})
	}
	return c
}

func (c *crasher) start(t *testing.T) {
	t.Helper()
	args := latchArgs(c.store.db, c.store.redis)
	args = append(args, "--log-level", "warn", "--audit-log", "off")
	c.inst = startLatch(t, "latch", args...)
	c.base = "http://" + c.inst.Addr
}

func (c *crasher) run(t *testing.T, kills int) {
	began := time.Now()
	for k := range kills {
		follower := c.follow(t)
		c.check(t, follower)
		if t.Failed() {
			t.Fatalf("after kill %d of %d", k, kills)
		}
		c.storm(t, follower)
		c.counts["kills"]++
		c.start(t)
	}
	follower := c.follow(t)
	c.check(t, follower)
	follower.close()
	keys := make([]string, 0, len(c.counts))
	for k := range c.counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n    %-40s %6d", k, c.counts[k])
	}
	t.Logf("%d kills in %v:%s", kills, time.Since(began).Round(time.Millisecond), b.String())
}

// ---- the revocation stream ----

// streamFollower reads /v1/revocations like a verifier does.
type streamFollower struct {
	cancel context.CancelFunc
	done   chan struct{}
	replay []int64 // ids before ": replay done"
	ready  chan struct{}

	mu   sync.Mutex
	ids  []int64 // every id read, replay included
	last int64
	bad  []string
}

// follow connects to latch's stream with Last-Event-ID c.lastSeen (none
// the first time) and waits for the end of the replay.
func (c *crasher) follow(t *testing.T) *streamFollower {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &streamFollower{cancel: cancel, done: make(chan struct{}), ready: make(chan struct{}), last: c.lastSeen}
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/v1/revocations", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(clientID, clientSecret)
	if c.lastSeen > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(c.lastSeen, 10))
	}
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		cancel()
		t.Fatalf("revocation stream: %v", err)
	}
	if resp.StatusCode != 200 {
		resp.Body.Close()
		cancel()
		t.Fatalf("revocation stream: %d", resp.StatusCode)
	}
	go func() {
		defer close(f.done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		replaying := true
		for sc.Scan() {
			line := sc.Text()
			if line == ": replay done" && replaying {
				replaying = false
				f.mu.Lock()
				f.replay = slices.Clone(f.ids)
				f.mu.Unlock()
				close(f.ready)
				continue
			}
			v, ok := strings.CutPrefix(line, "id: ")
			if !ok {
				continue
			}
			id, err := strconv.ParseInt(v, 10, 64)
			f.mu.Lock()
			if err != nil || id <= f.last {
				f.bad = append(f.bad, fmt.Sprintf("id %q after %d", v, f.last))
			} else {
				f.last = id
			}
			f.ids = append(f.ids, id)
			f.mu.Unlock()
		}
		if replaying {
			close(f.ready)
		}
	}()
	select {
	case <-f.ready:
	case <-time.After(10 * time.Second):
		f.close()
		t.Fatal("revocation stream: no end of replay within 10 s")
	}
	return f
}

func (f *streamFollower) close() {
	f.cancel()
	<-f.done
}

// read returns every id read so far and the last one.
func (f *streamFollower) read() ([]int64, int64, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ids), f.last, slices.Clone(f.bad)
}

// ---- after a restart ----

// check runs every check of the state latch restarted on.
func (c *crasher) check(t *testing.T, f *streamFollower) {
	t.Helper()
	db, err := sql.Open(c.store.driver, c.store.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The stream first: nothing has written to the log since the restart.
	logged := map[int64]bool{}
	var after []int64
	rows, err := db.QueryContext(ctx, `SELECT seq, kind FROM revocations ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var seq int64
		var kind string
		if err := rows.Scan(&seq, &kind); err != nil {
			t.Fatal(err)
		}
		logged[seq] = true
		if seq > c.lastSeen && (kind == "jti" || kind == "sid" || kind == "sub") {
			after = append(after, seq)
		}
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.replay, after) {
		t.Errorf("stream resumed after %d replayed %v; the log has %v after it", c.lastSeen, f.replay, after)
	}
	c.counts["stream: events replayed after a restart"] += len(f.replay)

	for name, q := range c.store.dialect {
		var n int
		if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			t.Fatalf("check %q: %v", name, err)
		}
		if n != 0 {
			t.Errorf("database: %d rows with %s", n, name)
		}
	}
	var sessions, families int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE kind = 'session'), count(*) FILTER (WHERE kind = 'token') FROM sessions`).Scan(&sessions, &families); err != nil {
		t.Fatal(err)
	}
	c.counts["database: cookie sessions at the end"] = sessions
	c.counts["database: refresh families at the end"] = families

	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cr := range c.loggedOut {
		if r := call(t, "GET", c.base+"/v1/whoami", cr.auth(), nil); r.status != 401 {
			t.Errorf("logged out (204) before a kill, %s accepted after the restart: %s", kindOf(cr), r)
		}
		if cr.token() {
			r := call(t, "POST", c.base+"/v1/token/refresh", auth{}, map[string]string{"refresh_token": cr.refresh})
			if r.status != 401 {
				t.Errorf("logged out (204) before a kill, its family refreshes after the restart: %s", r)
			}
		}
		c.counts["logouts (204 before a kill) refused after"]++
	}
	if n := len(c.loggedOut); n > 200 {
		c.loggedOut = slices.Clone(c.loggedOut[n-200:])
	}

	var keep []*crashCred
	for _, cr := range c.idle {
		r := call(t, "GET", c.base+"/v1/whoami", cr.auth(), nil)
		switch {
		case r.status != 200:
			t.Errorf("a live %s of %s refused after the restart: %s", kindOf(cr), cr.email, r)
			continue
		case whoamiEmail(r) != cr.email:
			t.Errorf("a %s of %s authenticated as %q after the restart", kindOf(cr), cr.email, whoamiEmail(r))
			continue
		}
		c.counts["live credentials accepted after a restart"]++
		if !cr.token() {
			if r := call(t, "GET", c.base+"/v1/sessions", cr.auth(), nil); r.status != 200 || !strings.Contains(string(r.body), `"current":true`) {
				t.Errorf("sessions list of a live session after the restart: %s", r)
			}
			keep = append(keep, cr)
			continue
		}
		// At most one of the refresh tokens held refreshes.
		held := cr.refresh
		r = call(t, "POST", c.base+"/v1/token/refresh", auth{}, map[string]string{"refresh_token": held})
		switch {
		case r.status == 200:
			var body struct {
				AccessToken  string `json:"access_token"`
				RefreshToken string `json:"refresh_token"`
			}
			if err := json.Unmarshal(r.body, &body); err != nil || body.RefreshToken == "" {
				t.Fatalf("refresh: %s", r)
			}
			cr.prev, cr.refresh, cr.access = held, body.RefreshToken, body.AccessToken
			c.counts["families: latest token refreshes"]++
		case r.status == 401 && cr.inFlight:
			c.counts["families: latest token spent by a refresh in flight at the kill"]++
			c.probe(t, cr, held, "its latest token, refused")
			continue
		default:
			t.Errorf("a live family's latest refresh token after the restart: %s (refresh in flight at the kill: %v)", r, cr.inFlight)
			continue
		}
		if cr.inFlight || rand.IntN(4) == 0 {
			c.probe(t, cr, held, "the token it just spent")
			continue
		}
		cr.inFlight = false
		keep = append(keep, cr)
	}
	if len(keep) > 120 {
		rand.Shuffle(len(keep), func(i, j int) { keep[i], keep[j] = keep[j], keep[i] })
		keep = keep[:120]
	}
	c.idle = keep
	for _, id := range c.streamed {
		if !logged[id] {
			t.Errorf("stream event %d, read before the kill, is not in the log after the restart", id)
		}
	}
}

// probe presents a token of cr's family that was spent: it must never
// refresh (a reuse, which ends the family).
func (c *crasher) probe(t *testing.T, cr *crashCred, spent, what string) {
	t.Helper()
	r := call(t, "POST", c.base+"/v1/token/refresh", auth{}, map[string]string{"refresh_token": spent})
	if r.status == 200 {
		t.Errorf("a family refreshed twice with one token (%s): %s", what, r)
	}
	if cr.prev != "" && cr.prev != spent {
		if r := call(t, "POST", c.base+"/v1/token/refresh", auth{}, map[string]string{"refresh_token": cr.prev}); r.status == 200 {
			t.Errorf("a family refreshed with the token before its latest: %s", r)
		}
	}
	c.counts["families: spent tokens presented, refused"]++
}

func kindOf(c *crashCred) string {
	if c.token() {
		return "access token"
	}
	return "session cookie"
}

// ---- the storm ----

// storm runs logins, refreshes and logouts until a random moment, kills
// latch there, and notes what the follower read before the kill.
func (c *crasher) storm(t *testing.T, f *streamFollower) {
	t.Helper()
	var killed atomic.Bool
	var wg sync.WaitGroup
	worker := func(do func(*rand.Rand)) {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
			for !killed.Load() {
				do(r)
			}
		})
	}
	var logins, loginsLost, refreshes, refreshLost, logouts, logoutsLost atomic.Int64
	for w := range 2 { // the login storm: cookie and token logins
		worker(func(r *rand.Rand) {
			e := c.emails[r.IntN(len(c.emails))]
			body := map[string]string{"email": e, "password": password}
			if w == 1 {
				body["mode"], body["refresh_delivery"] = "token", "body"
			}
			res, err := send("POST", c.base+"/v1/login", auth{}, body)
			if err != nil {
				loginsLost.Add(1)
				return
			}
			if res.status != 200 {
				t.Errorf("login storm: %s", res)
				time.Sleep(10 * time.Millisecond)
				return
			}
			cr := &crashCred{email: e}
			var b struct {
				CSRF         string `json:"csrf_token"`
				AccessToken  string `json:"access_token"`
				RefreshToken string `json:"refresh_token"`
			}
			_ = json.Unmarshal(res.body, &b)
			cr.csrf, cr.access, cr.refresh = b.CSRF, b.AccessToken, b.RefreshToken
			for _, k := range res.resp.Cookies() {
				if k.Name == sessionCookie {
					cr.cookie = k.Value
				}
			}
			logins.Add(1)
			c.put(cr)
		})
	}
	for range 3 { // the refresh storm
		worker(func(r *rand.Rand) {
			cr := c.take(r, true)
			if cr == nil {
				time.Sleep(5 * time.Millisecond)
				return
			}
			res, err := send("POST", c.base+"/v1/token/refresh", auth{}, map[string]string{"refresh_token": cr.refresh})
			if err != nil {
				cr.inFlight = true
				refreshLost.Add(1)
				c.put(cr)
				return
			}
			var b struct {
				AccessToken  string `json:"access_token"`
				RefreshToken string `json:"refresh_token"`
			}
			if res.status != 200 || json.Unmarshal(res.body, &b) != nil {
				t.Errorf("refresh storm: %s", res)
				return
			}
			cr.prev, cr.refresh, cr.access = cr.refresh, b.RefreshToken, b.AccessToken
			refreshes.Add(1)
			c.put(cr)
		})
	}
	worker(func(r *rand.Rand) { // logouts
		time.Sleep(time.Duration(r.IntN(20)) * time.Millisecond)
		cr := c.take(r, r.IntN(2) == 0)
		if cr == nil {
			return
		}
		res, err := send("POST", c.base+"/v1/logout", cr.auth(), nil)
		if err != nil {
			logoutsLost.Add(1) // in flight at the kill: either answer is right
			return
		}
		if res.status != 204 {
			t.Errorf("logout storm: %s", res)
			return
		}
		logouts.Add(1)
		c.mu.Lock()
		c.loggedOut = append(c.loggedOut, cr)
		c.mu.Unlock()
	})
	time.Sleep(150*time.Millisecond + rand.N(850*time.Millisecond))
	killed.Store(true)
	c.inst.Kill()
	wg.Wait()
	f.close()
	ids, last, bad := f.read()
	if len(bad) > 0 {
		t.Errorf("revocation stream: ids out of order: %v", bad)
	}
	c.lastSeen, c.streamed = last, ids
	if live := ids[len(f.replay):]; len(live) > 0 && rand.IntN(2) == 0 {
		// Half the time the follower lagged: it had read only up to an
		// earlier event when latch died, and resumes from there.
		c.lastSeen = live[rand.IntN(len(live))]
		c.counts["stream: resumed from an earlier event"]++
	}
	c.counts["logins answered 200"] += int(logins.Load())
	c.counts["logins in flight at a kill"] += int(loginsLost.Load())
	c.counts["refreshes answered 200"] += int(refreshes.Load())
	c.counts["refreshes in flight at a kill"] += int(refreshLost.Load())
	c.counts["logouts answered 204"] += int(logouts.Load())
	c.counts["logouts in flight at a kill"] += int(logoutsLost.Load())
	c.counts["stream: events read live"] += len(ids) - len(f.replay)
}

// take removes a random idle credential (a family when family is true)
// for a worker's use; nil when there is none.
func (c *crasher) take(r *rand.Rand, family bool) *crashCred {
	c.mu.Lock()
	defer c.mu.Unlock()
	var idx []int
	for i, cr := range c.idle {
		if cr.token() == family {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	i := idx[r.IntN(len(idx))]
	cr := c.idle[i]
	c.idle = slices.Delete(c.idle, i, i+1)
	return cr
}

func (c *crasher) put(cr *crashCred) {
	c.mu.Lock()
	c.idle = append(c.idle, cr)
	c.mu.Unlock()
}
