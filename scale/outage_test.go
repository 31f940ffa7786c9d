package scale_test

import (
	"syscall"
	"testing"
	"time"
)

// writeBound is how long a write may take to fail in an outage: latch
// bounds every database operation to 1 s; the rest is slack for a noisy
// two-core machine.
const writeBound = 2500 * time.Millisecond

// pair is two instances on a private PostgreSQL and a private Redis.
type pair struct {
	pg, redis *server
	insts     []*instance
	email     string // an account with the password of every test
}

func newPair(t *testing.T) *pair {
	t.Helper()
	rd, redisURL := privateRedis(t)
	pg, dbURL := privatePostgres(t)
	p := &pair{pg: pg, redis: rd, insts: startInstances(t, 2, dbURL, redisURL), email: newEmail("outage")}
	for _, in := range p.insts {
		waitReady(t, in, 200, "ok", "ok", 10*time.Second)
	}
	signup(t, p.insts[0].url, p.email)
	return p
}

// creds makes the credentials every outage test loads and checks: a live
// session and token, and a session and token revoked before the outage.
// Every instance has seen the live ones (Redis holds the session's copy).
func (p *pair) creds(t *testing.T) (sess, tok, oldSess, oldTok *cred) {
	t.Helper()
	A, B := p.insts[0], p.insts[1]
	sess = loginSession(t, A.url, p.email, "live session")
	tok = loginToken(t, B.url, p.email, "live token")
	oldSess = loginSession(t, B.url, p.email, "session logged out before")
	oldTok = loginToken(t, A.url, p.email, "token revoked before")
	for _, in := range p.insts {
		expectWhoami(t, in, sess, 200, "before the outage")
		expectWhoami(t, in, tok, 200, "before the outage")
	}
	logout(t, p.insts, 1, oldSess)
	logout(t, p.insts, 0, oldTok)
	return sess, tok, oldSess, oldTok
}

// write is a state change that must fail closed while the database is
// down.
type write struct {
	what, path string
	a          auth
	body       any
}

func writes(email, newcomer, refresh string, sess, tok *cred) []write {
	return []write{
		{"signup", "/v1/signup", auth{}, map[string]string{"email": newcomer, "password": password}},
		{"session login", "/v1/login", auth{}, map[string]string{"email": email, "password": password}},
		{"token login", "/v1/login", auth{}, map[string]string{"email": email, "password": password, "mode": "token", "refresh_delivery": "body"}},
		{"refresh", "/v1/token/refresh", auth{}, map[string]string{"refresh_token": refresh}},
		{"session logout", "/v1/logout", sess.a, nil},
		{"token logout", "/v1/logout", tok.a, nil},
	}
}

// expectWritesUnavailable sends every write to every instance and fails
// the test unless each answers 503 "unavailable" within writeBound.
func expectWritesUnavailable(t *testing.T, insts []*instance, ws []write, when string) {
	t.Helper()
	var slowest time.Duration
	for _, in := range insts {
		for _, w := range ws {
			r := call(t, "POST", in.url+w.path, w.a, w.body)
			slowest = max(slowest, r.took)
			if r.status != 503 || r.code() != "unavailable" {
				t.Errorf("%s: %s on %s: %s, want 503 unavailable", when, w.what, in.name, r)
			}
			if r.took > writeBound {
				t.Errorf("%s: %s on %s took %v, want < %v", when, w.what, in.name, r.took, writeBound)
			}
		}
	}
	t.Logf("%s: %d writes on %d instances answered 503; the slowest in %v", when, len(ws), len(insts), slowest.Round(time.Millisecond))
}

// TestOutage_Redis: Redis stops under load. latch goes on from PostgreSQL
// (degraded), honours revocations made meanwhile at once or within 1 s,
// keeps a lockout per instance, and, once Redis is back empty, reports
// ready by itself with every session and every revocation intact.
func TestOutage_Redis(t *testing.T) {
	p := newPair(t)
	insts := p.insts
	A, B := insts[0], insts[1]
	sess, tok, oldSess, oldTok := p.creds(t)
	doomedSess := loginSession(t, A.url, p.email, "session logged out during the outage")
	doomedTok := loginToken(t, A.url, p.email, "token revoked during the outage")
	for _, in := range insts {
		expectWhoami(t, in, doomedSess, 200, "before the outage")
		expectWhoami(t, in, doomedTok, 200, "before the outage")
	}
	ld := startLoad(t, insts, sess, tok, oldSess, oldTok, doomedSess, doomedTok)
	time.Sleep(300 * time.Millisecond) // some load before the outage too

	ld.setPhase("Redis down")
	p.redis.stop(t, syscall.SIGTERM)
	stopped := time.Now()
	t.Log("Redis stopped")
	for _, in := range insts {
		expectWhoami(t, in, sess, 200, "Redis down: a session, from PostgreSQL")
		expectWhoami(t, in, tok, 200, "Redis down: a token")
	}
	for _, in := range insts {
		took := waitReady(t, in, 200, "degraded", "down", 5*time.Second)
		waitMetric(t, in, "latch_redis_up", "0", 5*time.Second)
		t.Logf("%s: /readyz degraded, latch_redis_up 0 (%v)", in.name, took.Round(time.Millisecond))
	}

	logout(t, insts, 0, doomedSess)
	expectWhoami(t, A, doomedSess, 401, "Redis down: on A, right after its logout there")
	took := pollStatus(t, "Redis down: B refuses the session logged out on A", "GET", B.url+"/v1/whoami", doomedSess.a, 401, time.Second)
	t.Logf("Redis down: B refused the session logged out on A after %v", took.Round(time.Microsecond))

	logout(t, insts, 0, doomedTok)
	expectWhoami(t, A, doomedTok, 401, "Redis down: on A, right after its revocation there")
	took = pollStatus(t, "Redis down: B refuses the token revoked on A", "GET", B.url+"/v1/whoami", doomedTok.a, 401, time.Second)
	t.Logf("Redis down: B refused the token revoked on A after %v", took.Round(time.Microsecond))

	// The login lockout falls back to each instance's own count.
	locked := newEmail("lock-redis-down")
	signup(t, B.url, locked)
	for range 3 {
		r := call(t, "POST", A.url+"/v1/login", auth{}, map[string]string{"email": locked, "password": "wrong password 123"})
		if r.status != 401 {
			t.Errorf("Redis down: a failed login on A: %s, want 401", r)
		}
	}
	r := call(t, "POST", A.url+"/v1/login", auth{}, map[string]string{"email": locked, "password": password})
	if r.status != 429 || r.code() != "rate_limited" {
		t.Errorf("Redis down: the 4th attempt on A after 3 failures there: %s, want 429 rate_limited", r)
	}

	// Still serving from PostgreSQL well into the outage.
	time.Sleep(time.Until(stopped.Add(2 * time.Second)))
	for _, in := range insts {
		expectWhoami(t, in, sess, 200, "Redis down for 2 s: a session, from PostgreSQL")
		expectWhoami(t, in, tok, 200, "Redis down for 2 s: a token")
	}

	ld.setPhase("Redis back")
	p.redis.start(t) // empty: no persistence
	t.Log("Redis restarted, empty")
	for _, in := range insts {
		took := waitReady(t, in, 200, "ok", "ok", 10*time.Second)
		waitMetric(t, in, "latch_redis_up", "1", 5*time.Second)
		t.Logf("%s: /readyz ok again %v after Redis answered", in.name, took.Round(time.Millisecond))
	}
	for _, in := range insts {
		expectWhoami(t, in, sess, 200, "Redis back: nobody logged out")
		expectWhoami(t, in, tok, 200, "Redis back: nobody logged out")
		for _, c := range []*cred{doomedSess, doomedTok, oldSess, oldTok} {
			expectWhoami(t, in, c, 401, "Redis back: a revocation holds")
		}
	}
	// Redis carries sessions and revocations between instances again.
	fresh := loginSession(t, B.url, p.email, "session made after the outage")
	expectWhoami(t, A, fresh, 200, "Redis back: a new session from B")
	logout(t, insts, 1, fresh)
	expectWhoami(t, A, fresh, 401, "Redis back: the first request after a logout on B")
	time.Sleep(300 * time.Millisecond)
	ld.finish(t)
}

// TestOutage_Postgres: PostgreSQL stops under load. Reads go on (sessions
// from Redis, tokens in memory); every write answers 503 within about a
// second and changes nothing; a refresh refused then succeeds with the same
// token once PostgreSQL is back.
func TestOutage_Postgres(t *testing.T) {
	p := newPair(t)
	insts := p.insts
	A := insts[0]
	sess, tok, oldSess, oldTok := p.creds(t)
	// An account only B has seen: its session's copy is in Redis, but A
	// never loaded the account, and cannot without PostgreSQL.
	stranger := newEmail("stranger")
	signup(t, insts[1].url, stranger)
	unseen := loginSession(t, insts[1].url, stranger, "a session of an account A has never seen")
	expectWhoami(t, insts[1], unseen, 200, "before the outage, on B")
	ld := startLoad(t, insts, sess, tok, oldSess, oldTok)
	time.Sleep(300 * time.Millisecond)

	ld.setPhase("PG down")
	p.pg.stop(t, syscall.SIGINT)
	stopped := time.Now()
	t.Log("PostgreSQL stopped")
	for _, in := range insts {
		expectWhoami(t, in, sess, 200, "PostgreSQL down: a session, from Redis")
		expectWhoami(t, in, tok, 200, "PostgreSQL down: a token, in memory")
	}
	// Fail closed: A cannot check the account behind a session it has
	// never seen (disabled? deleted?), so it does not guess.
	if r := whoami(t, A, unseen); r.status != 503 || r.code() != "unavailable" {
		t.Errorf("PostgreSQL down: a session of an account A never saw: %s, want 503 unavailable", r)
	}
	newcomer := newEmail("newcomer")
	expectWritesUnavailable(t, insts, writes(p.email, newcomer, tok.refresh, sess, tok), "PostgreSQL down")
	for _, in := range insts {
		code, rd, err := readyz(in.url)
		if err != nil || code != 503 || rd.Checks["db"] != "down" {
			t.Errorf("PostgreSQL down: %s /readyz: %d %+v (%v), want 503 with checks.db down", in.name, code, rd, err)
		}
	}
	// Reads go on past the first seconds of the outage, not only while
	// something cached before it is fresh.
	time.Sleep(time.Until(stopped.Add(3 * time.Second)))
	for _, in := range insts {
		expectWhoami(t, in, sess, 200, "PostgreSQL down for 3 s: a session, from Redis")
		expectWhoami(t, in, tok, 200, "PostgreSQL down for 3 s: a token, in memory")
		expectWhoami(t, in, oldTok, 401, "PostgreSQL down for 3 s: a token revoked before (in memory)")
		// Its copy left Redis at the logout: only PostgreSQL could tell.
		if r := whoami(t, in, oldSess); r.status != 401 && r.status != 503 {
			t.Errorf("PostgreSQL down for 3 s: %s on %s: %s, want 401 or 503", oldSess.name, in.name, r)
		}
	}

	ld.setPhase("PG back")
	p.pg.start(t)
	restarted := time.Now()
	t.Log("PostgreSQL restarted")
	took := pollStatus(t, "the unseen account's session on A after PostgreSQL is back", "GET", A.url+"/v1/whoami", unseen.a, 200, 15*time.Second)
	t.Logf("A serves the session of an account it had never seen %v after PostgreSQL restarted (%v after the poll began)",
		time.Since(restarted).Round(time.Millisecond), took.Round(time.Millisecond))
	for _, in := range insts {
		took := waitReady(t, in, 200, "ok", "ok", 15*time.Second)
		t.Logf("%s: /readyz ok again %v after PostgreSQL answered", in.name, took.Round(time.Millisecond))
	}
	// No lost rotation: the refresh refused in the outage, retried with the
	// same token.
	r := call(t, "POST", A.url+"/v1/token/refresh", auth{}, map[string]string{"refresh_token": tok.refresh})
	if r.status != 200 {
		t.Errorf("PostgreSQL back: the refresh refused in the outage, retried with the same token: %s, want 200", r)
	}
	// No partial write: the refused signup left no account, the refused
	// logouts ended nothing.
	expect(t, 201, "PostgreSQL back: the signup refused in the outage", "POST", A.url+"/v1/signup", auth{},
		map[string]string{"email": newcomer, "password": password})
	for _, in := range insts {
		expectWhoami(t, in, sess, 200, "PostgreSQL back: the session whose logout was refused")
		expectWhoami(t, in, tok, 200, "PostgreSQL back: the token whose logout was refused")
		expectWhoami(t, in, oldSess, 401, "PostgreSQL back: a session logged out before")
		expectWhoami(t, in, oldTok, 401, "PostgreSQL back: a token revoked before")
	}
	time.Sleep(300 * time.Millisecond)
	ld.finish(t)
}

// TestOutage_Both: with PostgreSQL and Redis both stopped, latch answers
// 503 to everything but /healthz, authenticates nobody, and works again
// without a restart once both are back.
func TestOutage_Both(t *testing.T) {
	p := newPair(t)
	insts := p.insts
	A, B := insts[0], insts[1]
	sess, tok, oldSess, oldTok := p.creds(t)
	ld := startLoad(t, insts, sess, tok, oldSess, oldTok)
	time.Sleep(300 * time.Millisecond)

	ld.setPhase("both down")
	p.redis.stop(t, syscall.SIGTERM)
	p.pg.stop(t, syscall.SIGINT)
	stopped := time.Now()
	t.Log("Redis and PostgreSQL stopped")
	for _, in := range insts {
		expect(t, 200, "both down: /healthz", "GET", in.url+"/healthz", auth{}, nil)
		code, rd, err := readyz(in.url)
		if err != nil || code != 503 || rd.Checks["db"] != "down" || rd.Checks["redis"] != "down" {
			t.Errorf("both down: %s /readyz: %d %+v (%v), want 503 with db and redis down", in.name, code, rd, err)
		}
		expectWhoami(t, in, sess, 503, "both down: a session has no source of truth")
		for _, c := range []*cred{oldSess, oldTok} {
			if r := whoami(t, in, c); r.status != 401 && r.status != 503 {
				t.Errorf("both down: %s on %s: %s, want 401 or 503", c.name, in.name, r)
			}
		}
	}
	// A token is checked in memory, but its account is reloaded from the
	// database after a second, and without the bus nothing says it was
	// not disabled or revoked meanwhile: 503 once that second is over.
	for _, in := range insts {
		took := pollStatus(t, "both down: "+in.name+" refuses the live token with 503", "GET", in.url+"/v1/whoami", tok.a, 503, writeBound)
		t.Logf("both down: %s answers 503 to the live token %v after the check began", in.name, took.Round(time.Millisecond))
		expectWhoami(t, in, tok, 503, "both down: the live token, again")
	}
	expectWritesUnavailable(t, insts, writes(p.email, newEmail("newcomer"), tok.refresh, sess, tok), "both down")

	time.Sleep(time.Until(stopped.Add(2 * time.Second))) // let the load see the outage
	for _, in := range insts {
		expectWhoami(t, in, sess, 503, "both down for 2 s: the live session")
		expectWhoami(t, in, tok, 503, "both down for 2 s: the live token")
	}

	ld.setPhase("both back")
	p.redis.start(t)
	p.pg.start(t)
	t.Log("Redis and PostgreSQL restarted")
	for _, in := range insts {
		took := waitReady(t, in, 200, "ok", "ok", 15*time.Second)
		t.Logf("%s: /readyz ok again %v after both answered", in.name, took.Round(time.Millisecond))
	}
	for _, in := range insts {
		expectWhoami(t, in, sess, 200, "both back: the live session")
		expectWhoami(t, in, tok, 200, "both back: the live token")
		expectWhoami(t, in, oldSess, 401, "both back: a session logged out before")
		expectWhoami(t, in, oldTok, 401, "both back: a token revoked before")
	}
	// Every write works again, without restarting latch.
	signup(t, B.url, newEmail("after-both"))
	r := call(t, "POST", B.url+"/v1/token/refresh", auth{}, map[string]string{"refresh_token": tok.refresh})
	if r.status != 200 {
		t.Errorf("both back: the refresh refused in the outage, retried: %s, want 200", r)
	}
	fresh := loginSession(t, B.url, p.email, "session made after the outage")
	expectWhoami(t, A, fresh, 200, "both back: a new session from B")
	logout(t, insts, 0, fresh)
	expectWhoami(t, B, fresh, 401, "both back: the first request after a logout on A")
	time.Sleep(300 * time.Millisecond)
	ld.finish(t)
}
