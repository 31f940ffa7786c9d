package http_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latch-dev/latch"
	lhttp "github.com/latch-dev/latch/http"
	"github.com/latch-dev/latch/password"
)

// onlyReader hides a body's length, so the client sends it chunked.
type onlyReader struct{ io.Reader }

// SECURITY.md 41 (body)
func TestLimits_BodyTooLarge(t *testing.T) {
	ts := newTestServer(t, withClient("rs", "rs-secret"))
	addr, pw := ts.newUser(t)
	s := ts.MustLogin(t, addr, pw)
	big := `{"email":"` + strings.Repeat("a", 64<<10) + `@example.com","password":"x"}`
	bigForm := "token=" + strings.Repeat("a", 64<<10)
	form := ctype("application/x-www-form-urlencoded")

	for _, rq := range []struct {
		name, path, body string
		opts             []reqOpt
	}{
		{"signup", "/v1/signup", big, nil},
		{"login", "/v1/login", big, nil},
		{"logout", "/v1/logout", big, []reqOpt{as(s)}},
		{"password", "/v1/password", big, []reqOpt{as(s)}},
		{"refresh", "/v1/token/refresh", big, nil},
		{"exchange", "/v1/token/exchange", big, []reqOpt{as(s)}},
		{"revoke", "/oauth2/revoke", bigForm, []reqOpt{form}},
		{"introspect", "/oauth2/introspect", bigForm, []reqOpt{form, basic("rs", "rs-secret")}},
	} {
		for _, chunked := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s chunked=%v", rq.name, chunked), func(t *testing.T) {
				req, err := ts.newRequest("POST", rq.path, nil, rq.opts...)
				if err != nil {
					t.Fatal(err)
				}
				if req.Header.Get("Content-Type") == "" {
					req.Header.Set("Content-Type", "application/json")
				}
				if chunked {
					req.Body, req.ContentLength = io.NopCloser(onlyReader{strings.NewReader(rq.body)}), -1
				} else {
					req.Body, req.ContentLength = io.NopCloser(strings.NewReader(rq.body)), int64(len(rq.body))
				}
				r, err := ts.sendRequest(req)
				if err != nil {
					t.Fatal(err)
				}
				r.want(t, 413, "body_too_large")
			})
		}
	}
	ts.wantAlive(t, "session", cookieOnly(s))

	t.Run("64 KiB exactly is read", func(t *testing.T) {
		body := `{"email":"` + addr + `","password":"` + pw + `"}`
		body += strings.Repeat(" ", 64<<10-len(body))
		ts.do(t, "POST", "/v1/login", body).want(t, 200, "")
	})
}

// SECURITY.md 41 (headers)
func TestLimits_HeadersTooLarge(t *testing.T) {
	ts := newTestServer(t)
	for _, tc := range []struct {
		size   int
		status int
	}{
		{60 << 10, 200},
		{63 << 10, 200},
		{64<<10 + 1, 431}, // exact: net/http's own slack is closed by the handler
		{66 << 10, 431},
		{80 << 10, 431},
		{1 << 20, 431},
	} {
		r := ts.do(t, "GET", "/healthz", nil, header("X-Padding", strings.Repeat("p", tc.size)))
		if r.Status != tc.status {
			t.Fatalf("%d-byte header: %d, want %d", tc.size, r.Status, tc.status)
		}
	}
}

// SECURITY.md 41 (a 1 MB bearer token)
func TestLimits_HugeBearerToken(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	s := ts.MustLogin(t, addr, pw)
	huge := strings.Repeat("A", 1<<20/3) + "." + strings.Repeat("B", 1<<20/3) + "." + strings.Repeat("C", 1<<20/3)

	t.Run("through the server: the header limit answers first", func(t *testing.T) {
		ts.do(t, "GET", "/v1/whoami", nil, bearer(huge)).want(t, 431, "")
	})

	t.Run("under the header limit", func(t *testing.T) {
		r := ts.do(t, "GET", "/v1/whoami", nil, bearer(huge[:60<<10]), cookieOnly(s))
		r.want(t, 401, "unauthenticated")
		if r.Header.Get("WWW-Authenticate") == "" {
			t.Fatal("no WWW-Authenticate challenge")
		}
	})

	t.Run("in process, past net/http's header limit", func(t *testing.T) {
		// The handler enforces the 64 KiB header limit itself (exactly), so
		// a 1 MB header that reaches it any other way is refused unread too.
		auth := "Bearer " + huge
		serve := func() {
			req, err := http.NewRequest("GET", "/v1/whoami", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", auth)
			rec := ts.serve(t, req, "192.0.2.1:1")
			if rec.Code != 431 {
				t.Fatalf("1 MB bearer token in process: %d, want 431", rec.Code)
			}
		}
		serve()
		const n = 50
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range n {
			serve()
		}
		runtime.ReadMemStats(&after)
		if per := (after.TotalAlloc - before.TotalAlloc) / n; per > 64<<10 {
			t.Fatalf("a 1 MB bearer token costs %d bytes of allocation, want it refused unread", per)
		}
	})

	t.Run("the service refuses it unread", func(t *testing.T) {
		calls := ts.Verifier.calls.Load()
		if _, err := ts.Service.AuthenticateToken(t.Context(), huge); !errors.Is(err, latch.ErrUnauthenticated) {
			t.Fatalf("AuthenticateToken(1 MB) = %v, want ErrUnauthenticated (401)", err)
		}
		if ts.Verifier.calls.Load() != calls {
			t.Fatal("a 1 MB token reached the verifier")
		}
	})

	if n := ts.Verifier.longest.Load(); n > 8<<10 {
		t.Fatalf("a %d-byte token reached signature verification", n)
	}
}

// SECURITY.md 42
func TestJSON_Strict(t *testing.T) {
	const adminKey = "admin-key-for-tests-0123456789"
	ts := newTestServer(t, withAdminKey(adminKey), withLockout(1000, time.Minute))
	addr, pw := ts.newUser(t)
	s := ts.MustLogin(t, addr, pw)
	fam := ts.MustTokenLogin(t, addr, pw)
	q := strconv.Quote

	// Each body would do something with a lax parser: log in, sign up,
	// change the password, refresh, change a role.
	creds := `"email":` + q(addr) + `,"password":` + q(pw)
	bad := map[string][]string{
		"truncated": {
			`{` + creds, `{` + creds + `,`, `{"email":` + q(addr) + `,"password":"` + pw, `{`,
		},
		"trailing data": {
			`{` + creds + `} x`, `{` + creds + `}{}`, `{` + creds + `}]`, `{` + creds + `} ` + `{` + creds + `}`, `{` + creds + `,}`,
		},
		"wrong types": {
			`{"email":1,"password":` + q(pw) + `}`, `{"email":[` + q(addr) + `],"password":` + q(pw) + `}`,
			`{"email":{"a":1},"password":` + q(pw) + `}`, `{"email":true,"password":` + q(pw) + `}`,
			`{` + creds + `,"mode":1}`, `{` + creds + `,"mode":["token"]}`, `{"email":1e999,"password":"x"}`,
		},
		"missing or null fields": {
			`{}`, `{"email":` + q(addr) + `}`, `{"email":null,"password":` + q(pw) + `}`, `{"password":` + q(pw) + `}`,
		},
		"unknown keys": {
			`{` + creds + `,"admin":true}`, `{` + creds + `,"":1}`, `{` + creds + `,"\u0000":1}`,
			`{"email":` + q(addr) + `,"Password":` + q(pw) + `}`, `{"EMAIL":` + q(addr) + `,"password":` + q(pw) + `}`,
			`{"email":` + q(addr) + `,"paſſword":` + q(pw) + `}`, // ſ folds to s in encoding/json's matching
		},
		"duplicate keys": {
			`{"email":"x@example.com",` + creds + `}`, `{"email":` + q(addr) + `,"password":"wrong","password":` + q(pw) + `}`,
			`{"email":` + q(addr) + `,"password":"wrong","PASSWORD":` + q(pw) + `}`,
			`{` + creds + `,"mode":"token","mode":"session"}`,
		},
		"not an object": {
			`[]`, `"` + addr + `"`, `null`, `123`, `[{` + creds + `}]`, "\ufeff{" + creds + `}`, ` `,
		},
		"deep nesting": {
			`{"email":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `,"password":"x"}`,
		},
	}
	endpoints := []struct {
		name, path string
		subst      func(string) string // adapts the login body to the endpoint
		opts       []reqOpt
		skip       []string // kinds that do not apply
	}{
		{"login", "/v1/login", nil, nil, nil},
		{"signup", "/v1/signup", func(b string) string {
			return strings.ReplaceAll(strings.ReplaceAll(b, addr, "strict-new@example.com"), pw, "strict-new-pw-1")
		}, nil, nil},
		{"password", "/v1/password", func(b string) string {
			return strings.NewReplacer(`"email"`, `"current_password"`, `"EMAIL"`, `"CURRENT_PASSWORD"`, q(addr), q(pw),
				`"password"`, `"new_password"`, `"Password"`, `"New_password"`, `"PASSWORD"`, `"NEW_PASSWORD"`,
				`"paſſword"`, `"new_paſſword"`, q(pw)+"}", q(pw+"-changed")+"}").Replace(b)
		}, []reqOpt{as(s)}, nil},
		{"refresh", "/v1/token/refresh", func(b string) string {
			return strings.NewReplacer(`"email"`, `"refresh_token"`, `"EMAIL"`, `"REFRESH_TOKEN"`, q(addr), q(fam.Refresh)).Replace(b)
		}, nil, []string{"missing or null fields", "not an object/ "}}, // no field and an empty body mean the cookie
		{"admin role", "/v1/admin/users/" + s.UserID + "/role", func(b string) string {
			return strings.NewReplacer(`"email"`, `"role"`, `"EMAIL"`, `"ROLE"`, q(addr), q("admin")).Replace(b)
		}, []reqOpt{bearer(adminKey)}, []string{"missing or null fields"}},
	}
	for kind, bodies := range bad {
		t.Run(kind, func(t *testing.T) {
			for _, ep := range endpoints {
				for i, b := range bodies {
					if slices.Contains(ep.skip, kind) || slices.Contains(ep.skip, kind+"/"+b) {
						continue
					}
					if ep.subst != nil {
						b = ep.subst(b)
					}
					r := ts.do(t, "POST", ep.path, b, ep.opts...)
					if r.Status != 400 || r.code() != "invalid_request" {
						t.Errorf("%s body %d: %d %s, want 400 invalid_request (body %.80q)", ep.name, i, r.Status, r.code(), b)
					}
					if len(r.setCookies()) != 0 {
						t.Errorf("%s body %d set cookies", ep.name, i)
					}
				}
			}
		})
	}
	// Nothing happened.
	ts.wantAlive(t, "session", cookieOnly(s))
	ts.MustLogin(t, addr, pw)
	ts.MustRefresh(t, fam.Refresh)
	ts.MustSignup(t, "strict-new@example.com", "strict-new-pw-1")
	if role := ts.do(t, "GET", "/v1/whoami", nil, cookieOnly(s)).str(t, "user.role"); role != "user" {
		t.Fatalf("role %q after refused role changes", role)
	}
}

// heapBytes is the Go heap in use, live or not yet swept.
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// SECURITY.md 43
func TestLogin_HashingConcurrencyBounded(t *testing.T) {
	const (
		n      = 500
		memKiB = 4 << 10 // each running hash holds 4 MiB: 500 at once would be 2 GiB
	)
	// The hasher's cap as serve wires it: GOMAXPROCS − 1 hashes at once, 64 × that
	// waiting at most 2 s, the rest refused at once.
	ts := newTestServer(t, withParams(password.Params{Memory: memKiB, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}))
	// One account per login: concurrent guesses at one account reach the
	// hasher at most --login-max-failures at a time (TestService_LockoutConcurrent),
	// and this test is about the hasher's own cap.
	addrs, pw := ts.newUsers(t, n)
	tok := ts.MustTokenLogin(t, addrs[0], pw)
	s := ts.MustLogin(t, addrs[0], pw)

	// Hold every login at the hasher's door until all have arrived, so that
	// all of them ask it for a hash at the same moment.
	var arrived atomic.Int64
	all := make(chan struct{})
	ts.Hasher.setHook(func() {
		if arrived.Add(1) == n {
			close(all)
		}
		select {
		case <-all:
		case <-time.After(30 * time.Second):
		}
	})
	defer ts.Hasher.setHook(nil)
	before := ts.Hasher.compares.Load()

	runtime.GC()
	base := heapBytes()
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if h := heapBytes(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()

	type result struct {
		status     int
		retryAfter string
		code       string
		at         time.Time
		err        error
	}
	results := make(chan result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := ts.send("POST", "/v1/login", loginBody(addrs[i], pw))
			if err != nil {
				results <- result{err: err, at: time.Now()}
				return
			}
			results <- result{status: r.Status, retryAfter: r.Header.Get("Retry-After"), code: r.code(), at: time.Now()}
		})
	}
	select {
	case <-all:
	case <-time.After(30 * time.Second):
		t.Fatalf("only %d of %d logins reached the hasher", arrived.Load(), n)
	}
	released := time.Now()

	// Health and token-authenticated requests keep their latency meanwhile.
	var slowest time.Duration
	for range 5 {
		start := time.Now()
		ts.do(t, "GET", "/healthz", nil).want(t, 200, "")
		ts.wantAlive(t, "token during the login storm", bearer(tok.Access))
		ts.wantAlive(t, "session during the login storm", cookieOnly(s))
		slowest = max(slowest, time.Since(start))
	}
	wg.Wait()
	close(stop)
	<-sampled
	close(results)

	counts := map[int]int{}
	var lastRefusal time.Time
	for r := range results {
		if r.err != nil {
			t.Fatalf("login failed: %v", r.err)
		}
		counts[r.status]++
		switch r.status {
		case 200:
		case 429, 503:
			if n, err := strconv.Atoi(r.retryAfter); err != nil || n < 1 {
				t.Errorf("%d without a Retry-After in seconds: %q", r.status, r.retryAfter)
			}
			if r.at.After(lastRefusal) {
				lastRefusal = r.at
			}
		default:
			t.Errorf("login under load: %d %s, want 200, 429 or 503", r.status, r.code)
		}
	}
	t.Logf("statuses %v; heap peak +%d MiB; slowest health/token round %v", counts, (peak.Load()-base)>>20, slowest)
	if got := ts.Hasher.compares.Load() - before; got != n {
		t.Fatalf("%d logins reached the hasher, want %d", got, n)
	}
	if counts[200] == 0 || counts[429]+counts[503] == 0 {
		t.Fatalf("statuses %v: want some logins served and the excess refused", counts)
	}
	if grew := peak.Load() - min(base, peak.Load()); grew > 256<<20 {
		t.Fatalf("the heap grew by %d MiB under %d concurrent logins: hashing is not bounded", grew>>20, n)
	}
	if d := lastRefusal.Sub(released); d > 10*time.Second {
		t.Fatalf("the last refusal came %v after the burst: excess logins must not queue without bound", d)
	}
	if slowest > 5*time.Second {
		t.Fatalf("health and token requests took %v during the login storm", slowest)
	}
}

// SECURITY.md 44
func TestStoreOutage_FailClosed(t *testing.T) {
	t.Run("session store down: a valid cookie gets 503", func(t *testing.T) {
		ts := newTestServer(t, withoutSessionCache())
		addr, pw := ts.newUser(t)
		s := ts.MustLogin(t, addr, pw)
		fam := ts.MustTokenLogin(t, addr, pw)

		ts.Faults.sessions.Store(true)
		for name, r := range map[string]*response{
			"whoami":  ts.do(t, "GET", "/v1/whoami", nil, cookieOnly(s)),
			"logout":  ts.do(t, "POST", "/v1/logout", nil, as(s)),
			"login":   ts.do(t, "POST", "/v1/login", loginBody(addr, pw)),
			"refresh": ts.do(t, "POST", "/v1/token/refresh", map[string]string{"refresh_token": fam.Refresh}),
			"readyz":  ts.do(t, "GET", "/readyz", nil),
		} {
			if r.Status != 503 {
				t.Errorf("%s with the session store down: %d, want 503: %s", name, r.Status, r.Body)
			}
			if name != "readyz" && (r.code() != "unavailable" || r.Header.Get("Retry-After") == "") {
				t.Errorf("%s: code %q Retry-After %q, want unavailable with Retry-After", name, r.code(), r.Header.Get("Retry-After"))
			}
			if len(r.setCookies()) != 0 {
				t.Errorf("%s set cookies during the outage", name)
			}
		}
		ts.Faults.sessions.Store(false)
		ts.wantAlive(t, "session after recovery", cookieOnly(s))
		ts.MustRefresh(t, fam.Refresh) // the failed refresh did not spend it
		ts.do(t, "GET", "/readyz", nil).want(t, 200, "")
	})

	t.Run("user store down: no login on a guess", func(t *testing.T) {
		ts := newTestServer(t, withoutSessionCache())
		addr, pw := ts.newUser(t)
		s := ts.MustLogin(t, addr, pw)
		ts.Faults.users.Store(true)
		ts.Clock.Advance(2 * time.Second) // past the user cache's TTL
		ts.do(t, "POST", "/v1/login", loginBody(addr, pw)).want(t, 503, "unavailable")
		ts.do(t, "POST", "/v1/login", loginBody(addr, "wrong-password")).want(t, 503, "unavailable")
		ts.do(t, "POST", "/v1/signup", loginBody("new-in-outage@example.com", pw)).want(t, 503, "unavailable")
		ts.do(t, "GET", "/v1/whoami", nil, cookieOnly(s)).want(t, 503, "unavailable")
		ts.Faults.users.Store(false)
		ts.MustLogin(t, addr, pw)
	})

	t.Run("revocation store down: no logout is claimed", func(t *testing.T) {
		ts := newTestServer(t, withoutSessionCache())
		addr, pw := ts.newUser(t)
		s := ts.MustLogin(t, addr, pw)
		tok := ts.MustTokenLogin(t, addr, pw)
		ts.Faults.revs.Store(true)
		ts.do(t, "POST", "/v1/logout", nil, as(s)).want(t, 503, "unavailable")
		ts.do(t, "POST", "/v1/logout", nil, bearer(tok.Access)).want(t, 503, "unavailable")
		ts.do(t, "POST", "/oauth2/revoke", "token="+tok.Access, ctype("application/x-www-form-urlencoded")).want(t, 503, "unavailable")
		ts.Faults.revs.Store(false)
		ts.do(t, "POST", "/v1/logout", nil, as(s)).want(t, 204, "")
		ts.wantDead(t, "session logged out after recovery", cookieOnly(s))
	})

	t.Run("revocations hold through an outage and a restart", func(t *testing.T) {
		forSessionModes(t, func(t *testing.T, opts []option) {
			ts := newTestServer(t, opts...)
			addr, pw := ts.newUser(t)
			out := ts.MustLogin(t, addr, pw)
			live := ts.MustLogin(t, addr, pw)
			revoked := ts.MustTokenLogin(t, addr, pw)
			reused := ts.MustTokenLogin(t, addr, pw)
			ts.do(t, "POST", "/v1/logout", nil, as(out)).want(t, 204, "")
			ts.do(t, "POST", "/oauth2/revoke", "token="+revoked.Access, ctype("application/x-www-form-urlencoded")).want(t, 200, "")
			ts.MustRefresh(t, reused.Refresh)
			if st, _ := ts.refreshStatus(t, reused.Refresh); st != 401 {
				t.Fatalf("reuse: %d", st)
			}

			ts.Faults.all(true)
			for name, opt := range map[string]reqOpt{
				"logged-out cookie":   cookieOnly(out),
				"revoked token":       bearer(revoked.Access),
				"reused family token": bearer(reused.Access),
			} {
				if st := ts.whoami(t, opt); st == 200 {
					t.Errorf("%s accepted during the outage", name)
				}
			}
			if st := ts.whoami(t, cookieOnly(ts.MustLoginOrNil(t, addr, pw))); st == 200 {
				t.Error("a login succeeded during the outage")
			}
			ts.Faults.all(false)

			check := func(t *testing.T, ts *testServer) {
				t.Helper()
				ts.wantDead(t, "logged-out cookie", cookieOnly(out))
				ts.wantDead(t, "revoked token", bearer(revoked.Access))
				ts.wantDead(t, "reused family token", bearer(reused.Access))
				if st, _ := ts.refreshStatus(t, reused.Refresh); st != 401 {
					t.Fatalf("reused family refresh: %d, want 401", st)
				}
				ts.wantAlive(t, "live session", cookieOnly(live))
			}
			check(t, ts)
			check(t, newTestServer(t, append(opts, withSharedStores(ts))...))

			// A fresh process, its cache empty, cannot vouch for a cookie without the store.
			fresh := newTestServer(t, append(opts, withSharedStores(ts))...)
			ts.Faults.sessions.Store(true)
			fresh.do(t, "GET", "/v1/whoami", nil, cookieOnly(live)).want(t, 503, "unavailable")
			ts.Faults.sessions.Store(false)
		})
	})
}

// MustLoginOrNil logs in, and returns a session with no secret when it fails.
func (ts *testServer) MustLoginOrNil(t testing.TB, addr, pw string) *session {
	t.Helper()
	r := ts.do(t, "POST", "/v1/login", loginBody(addr, pw))
	if r.Status == 200 {
		return ts.sessionFrom(t, r, sessionCookie)
	}
	return &session{cookieName: sessionCookie, Secret: "none"}
}

// SECURITY.md 45 (the server's limits)
func TestHTTPServer_Limits(t *testing.T) {
	hs := lhttp.NewHTTPServer(http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	if hs.ReadHeaderTimeout != 10*time.Second {
		t.Errorf("ReadHeaderTimeout %v, want 10s (API.md §2)", hs.ReadHeaderTimeout)
	}
	if hs.ReadTimeout <= 0 || hs.ReadTimeout > time.Minute {
		t.Errorf("ReadTimeout %v, want a bound of at most a minute", hs.ReadTimeout)
	}
	if hs.WriteTimeout <= 0 || hs.WriteTimeout > time.Minute {
		t.Errorf("WriteTimeout %v, want a bound of at most a minute", hs.WriteTimeout)
	}
	if hs.IdleTimeout <= 0 || hs.IdleTimeout > 5*time.Minute {
		t.Errorf("IdleTimeout %v, want a bound of at most 5 minutes", hs.IdleTimeout)
	}
	if hs.MaxHeaderBytes != 64<<10 {
		t.Errorf("MaxHeaderBytes %d, want 64 KiB", hs.MaxHeaderBytes)
	}
}

// SECURITY.md 45 (slowloris)
func TestSlowClient_HeadersCutOff(t *testing.T) {
	const timeout = 300 * time.Millisecond // ReadHeaderTimeout, 10 s in production
	ts := newTestServer(t, withReadHeaderTimeout(timeout))
	ts.do(t, "GET", "/healthz", nil).want(t, 200, "") // a normal client is served

	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	closed := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, conn) // returns when the server hangs up
		closed <- err
	}()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: latch\r\n"); err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-closed:
			if d := time.Since(start); d < timeout/2 || d > 2*time.Second {
				t.Fatalf("cut off after %v, want about %v", d, timeout)
			}
			return
		case <-tick.C:
			if time.Since(start) > 5*time.Second {
				t.Fatal("a client trickling its headers is still connected after 5 s")
			}
			// Each header line resets no timer: the whole header must arrive in time.
			_, _ = fmt.Fprintf(conn, "X-Trickle-%d: x\r\n", i)
		}
	}
}

// SECURITY.md 45 (idle connections)
func TestHTTPServer_IdleConnectionsDropped(t *testing.T) {
	const idle = 300 * time.Millisecond // IdleTimeout, 2 min in production
	ts := newTestServer(t, withHTTPIdleTimeout(idle))
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: latch\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle keep-alive connection: %v, want the server to close it", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("idle connection closed after %v, want about %v", d, idle)
	}
}

// SECURITY.md 45 (bounded in-flight requests)
func TestInFlight_Bounded(t *testing.T) {
	ts := newTestServer(t, withMaxInFlight(2))
	addr, pw := ts.newUser(t)

	hold, entered := make(chan struct{}), make(chan struct{}, 2)
	ts.Hasher.setHook(func() {
		entered <- struct{}{}
		<-hold
	})
	var wg sync.WaitGroup
	statuses := make(chan int, 2)
	for range 2 {
		wg.Go(func() {
			r, err := ts.send("POST", "/v1/login", loginBody(addr, pw))
			if err != nil {
				statuses <- 0
				return
			}
			statuses <- r.Status
		})
	}
	<-entered
	<-entered
	r := ts.do(t, "GET", "/healthz", nil)
	r.want(t, 503, "unavailable")
	if r.Header.Get("Retry-After") != "1" {
		t.Fatalf("Retry-After %q, want 1", r.Header.Get("Retry-After"))
	}
	ts.Hasher.setHook(nil)
	close(hold)
	wg.Wait()
	close(statuses)
	for st := range statuses {
		if st != 200 {
			t.Fatalf("held login: %d, want 200", st)
		}
	}
	ts.do(t, "GET", "/healthz", nil).want(t, 200, "")
}

// SECURITY.md 46
func TestPanic_RecoveredLoggedAndCounted(t *testing.T) {
	ts := newTestServer(t, withMaxInFlight(1))
	addr, pw := ts.newUser(t)
	before := ts.scrape(t, "latch_http_panics_total")

	ts.Hasher.setHook(func() { panic("hasher exploded: internal-detail-42") })
	r := ts.do(t, "POST", "/v1/login", loginBody(addr, pw))
	ts.Hasher.setHook(nil)

	r.want(t, 500, "internal")
	if strings.Contains(string(r.Body), "internal-detail-42") || strings.Contains(string(r.Body), "goroutine") {
		t.Fatalf("the panic reached the client: %s", r.Body)
	}
	if got := ts.scrape(t, "latch_http_panics_total"); got != before+1 {
		t.Fatalf("latch_http_panics_total %v, want %v", got, before+1)
	}
	if logs := ts.Logs.String(); !strings.Contains(logs, "panic") || !strings.Contains(logs, "internal-detail-42") {
		t.Fatalf("the panic was not logged: %s", logs)
	}
	// The server lives on, and the panicking request gave its in-flight slot back.
	ts.do(t, "GET", "/healthz", nil).want(t, 200, "")
	ts.MustLogin(t, addr, pw)
}
