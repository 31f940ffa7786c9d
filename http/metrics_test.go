package http_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latch-dev/latch/password"
)

// Each metric of docs/operations.md moves when what it counts happens,
// through the real server and its /metrics.
func TestMetrics_move(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	for _, c := range []struct {
		name   string
		series []string // each must grow by want
		want   float64
		act    func(t *testing.T)
	}{
		{"login success", []string{`latch_logins_total{outcome="success"}`}, 1, func(t *testing.T) { ts.MustLogin(t, addr, pw) }},
		{"login failure by reason", []string{`latch_logins_total{outcome="invalid_credentials"}`}, 1, func(t *testing.T) {
			ts.do(t, "POST", "/v1/login", loginBody(addr, "not the password")).want(t, 401, "invalid_credentials")
		}},
		{"refresh rotation", []string{`latch_refreshes_total{outcome="success"}`}, 1, func(t *testing.T) {
			ts.MustRefresh(t, ts.MustTokenLogin(t, addr, pw).Refresh)
		}},
		{"refresh of an unknown token", []string{`latch_refreshes_total{outcome="invalid_refresh_token"}`}, 1, func(t *testing.T) {
			st, code := ts.refreshStatus(t, "bm90LWEtcmVmcmVzaC10b2tlbi1hdC1hbGwtYXQtYWxs")
			if st != 401 || code != "invalid_refresh_token" {
				t.Fatalf("%d %s", st, code)
			}
		}},
		{"refresh reuse", []string{`latch_refresh_reuse_total`, `latch_revocations_total{kind="sid"}`}, 1, func(t *testing.T) {
			tok := ts.MustTokenLogin(t, addr, pw)
			ts.MustRefresh(t, tok.Refresh)
			if st, code := ts.refreshStatus(t, tok.Refresh); st != 401 || code != "refresh_reused" {
				t.Fatalf("%d %s", st, code)
			}
		}},
		{"revocation of a user's everything", []string{`latch_revocations_total{kind="sub"}`, `latch_security_events_total{event="logout_all",outcome=""}`}, 1, func(t *testing.T) {
			s := ts.MustLogin(t, addr, pw)
			ts.do(t, "POST", "/v1/logout-all", nil, as(s)).want(t, 204, "")
		}},
		{"active sessions", []string{`latch_sessions_active`}, 1, func(t *testing.T) { ts.MustLogin(t, addr, pw) }},
		{"verify: a full check, then a cache hit", []string{
			`latch_token_verifications_total{path="signature"}`, `latch_token_verify_seconds_count{path="signature"}`,
			`latch_token_verifications_total{path="cache_hit"}`,
		}, 1, func(t *testing.T) {
			tok := ts.MustTokenLogin(t, addr, pw)
			ts.wantAlive(t, "a new token", bearer(tok.Access))
			ts.wantAlive(t, "the same token", bearer(tok.Access))
		}},
		{"argon2id wait", []string{`latch_password_wait_seconds_count`}, 1, func(t *testing.T) {
			ts.do(t, "POST", "/v1/login", loginBody(addr, "not the password")).want(t, 401, "invalid_credentials")
		}},
		{"store latency", []string{
			`latch_store_operation_seconds_count{method="CreateUser",store="memory"}`,
		}, 1, func(t *testing.T) { ts.newUser(t) }},
		{"store errors", []string{`latch_store_errors_total{method="UserByEmail",store="memory"}`}, 1, func(t *testing.T) {
			ts.Faults.users.Store(true)
			defer ts.Faults.users.Store(false)
			ts.do(t, "POST", "/v1/login", loginBody("someone-new@example.com", pw)).want(t, 503, "unavailable")
		}},
		{"HTTP requests by route and status", []string{`latch_http_requests_total{route="/v1/whoami",status="401"}`}, 1, func(t *testing.T) {
			ts.do(t, "GET", "/v1/whoami", nil).want(t, 401, "unauthenticated")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := make([]float64, len(c.series))
			for i, s := range c.series {
				before[i] = ts.series(t, s)
			}
			c.act(t)
			for i, s := range c.series {
				if got := ts.series(t, s) - before[i]; got != c.want {
					t.Errorf("%s moved by %v, want %v", s, got, c.want)
				}
			}
		})
	}
}

// The argon2id queue: with one slot and a queue of one, a burst of logins
// shows a queued caller in the depth gauge, and every caller refused a
// slot is a 429 counted in latch_password_refused_total.
//
// The burst is held at the hasher's door until all of it has arrived and
// then let through at once, so that whatever the machine's load the eight
// ask for the one slot together: one computes (a hundred ms or so of argon2
// with these parameters), one waits, and the other six find the queue full.
func TestMetrics_passwordQueue(t *testing.T) {
	ts := newTestServer(t, withHashSlots(1), withHashQueue(1),
		withParams(password.Params{Memory: 32 << 10, Time: 4, Threads: 1, SaltLen: 16, KeyLen: 32}))
	const burst = 8
	// One account per login: guesses at one account reach the hasher at
	// most --login-max-failures at a time.
	addrs, pw := ts.newUsers(t, burst)
	refusedBefore := ts.scrape(t, "latch_password_refused_total")

	var arrived atomic.Int64
	all := make(chan struct{})
	ts.Hasher.setHook(func() {
		if arrived.Add(1) == burst {
			close(all)
		}
		select {
		case <-all:
		case <-time.After(30 * time.Second):
		}
	})
	defer ts.Hasher.setHook(nil)

	var wg sync.WaitGroup
	statuses := make(chan int, burst)
	done := make(chan struct{})
	for i := range burst {
		wg.Go(func() {
			r, err := ts.send("POST", "/v1/login", loginBody(addrs[i], pw))
			if err != nil {
				t.Error(err)
				return
			}
			statuses <- r.Status
		})
	}
	go func() { wg.Wait(); close(done) }()
	select {
	case <-all:
	case <-time.After(30 * time.Second):
		t.Fatalf("only %d of %d logins reached the hasher", arrived.Load(), burst)
	}
	sawQueue := false
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			if ts.scrape(t, "latch_password_queue_depth") >= 1 {
				sawQueue = true
			}
		}
	}
	close(statuses)
	limited, ok := 0, 0
	for st := range statuses {
		switch st {
		case 429:
			limited++
		case 200:
			ok++
		default:
			t.Errorf("a login of the burst answered %d, want 200 or 429", st)
		}
	}
	if !sawQueue {
		t.Error("latch_password_queue_depth never showed a queued login during the burst")
	}
	// One computes and one waits: at least burst-2 found the queue full.
	if ok < 1 || limited < burst-2 {
		t.Fatalf("%d logins answered 200 and %d answered 429, want at least 1 and at least %d of %d", ok, limited, burst-2, burst)
	}
	if got := ts.scrape(t, "latch_password_refused_total") - refusedBefore; got != float64(limited) {
		t.Errorf("latch_password_refused_total moved by %v, want the %d answers 429", got, limited)
	}
	if d := ts.scrape(t, "latch_password_queue_depth"); d != 0 {
		t.Errorf("queue depth %v after the burst, want 0", d)
	}
}

// The revocation stream: a follower is counted while connected, a live
// revocation's delivery is timed, and a follower that does not read shows
// as backlog.
func TestMetrics_stream(t *testing.T) {
	ts := newTestServer(t, withClient("api", "api-secret"))
	addr, pw := ts.newUser(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", ts.URL+"/v1/revocations", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("api", "api-secret")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("stream: %d", res.StatusCode)
	}
	events := bufio.NewScanner(res.Body)
	waitLine := func(prefix string) {
		t.Helper()
		for events.Scan() {
			if strings.HasPrefix(events.Text(), prefix) {
				return
			}
		}
		t.Fatalf("stream ended before %q: %v", prefix, events.Err())
	}
	waitLine(": replay done")
	if n := ts.scrape(t, "latch_stream_subscribers"); n != 1 {
		t.Fatalf("latch_stream_subscribers = %v with one follower, want 1", n)
	}

	// A follower that takes nothing: the Service's own subscription.
	idle, err := ts.Service.Subscribe(context.Background(), ts.Service.LogCursor())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Cancel()
	delivered := ts.series(t, "latch_stream_delivery_seconds_count")
	s := ts.MustLogin(t, addr, pw)
	ts.do(t, "POST", "/v1/logout", nil, as(s)).want(t, 204, "")
	waitLine("event: revoke")
	deadline := time.Now().Add(10 * time.Second)
	for ts.series(t, "latch_stream_delivery_seconds_count") != delivered+1 {
		if time.Now().After(deadline) {
			t.Fatal("latch_stream_delivery_seconds_count did not count the delivered event")
		}
	}
	if n := ts.scrape(t, "latch_stream_subscribers"); n != 2 {
		t.Errorf("latch_stream_subscribers = %v, want 2", n)
	}
	if n := ts.scrape(t, "latch_stream_backlog_max"); n != 1 {
		t.Errorf("latch_stream_backlog_max = %v with one event untaken, want 1", n)
	}
	cancel()
	idle.Cancel()
	for ts.scrape(t, "latch_stream_subscribers") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("latch_stream_subscribers did not return to 0 after the followers left")
		}
	}
}

// Every latch metric the server exposes is explained in docs/operations.md
// and drawn by docs/grafana-dashboard.json.
func TestMetrics_documented(t *testing.T) {
	ts := newTestServer(t, withClient("api", "api-secret"))
	addr, pw := ts.newUser(t)
	tok := ts.MustTokenLogin(t, addr, pw)
	ts.MustRefresh(t, tok.Refresh)
	ts.Metrics.Gauge("latch_redis_up", "as latch serve registers it with --redis", func() float64 { return 1 })
	r := ts.do(t, "GET", "/metrics", nil)
	r.want(t, 200, "")
	ops, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	dash, err := os.ReadFile("../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Targets []struct{ Expr string } `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(dash, &d); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	var exprs strings.Builder
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs.WriteString(tg.Expr + "\n")
		}
	}
	seen := 0
	for line := range strings.Lines(string(r.Body)) {
		name, ok := strings.CutPrefix(line, "# TYPE ")
		if !ok || !strings.HasPrefix(name, "latch_") {
			continue
		}
		name, _, _ = strings.Cut(name, " ")
		seen++
		if !strings.Contains(string(ops), "`"+name+"`") {
			t.Errorf("%s is not explained in docs/operations.md", name)
		}
		if !strings.Contains(exprs.String(), name) {
			t.Errorf("%s is not on the Grafana dashboard", name)
		}
	}
	if seen < 20 {
		t.Fatalf("only %d latch metrics in /metrics", seen)
	}
}
