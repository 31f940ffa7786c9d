package scale_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// instance is one running latch.
type instance struct {
	name string
	url  string
	p    *proc
}

// cred is a credential a test holds: a session cookie or an access token,
// made for the account email, and, once the test revokes it, when and on
// which instance.
type cred struct {
	name    string
	email   string
	a       auth
	refresh string // token logins with refresh_delivery body

	revokedOn atomic.Int32 // index of the instance that revoked it
	revokedAt atomic.Int64 // Unix nanoseconds of the 204; 0: live
	revoking  atomic.Bool  // the logout request has been sent
}

func (c *cred) token() bool { return c.a.bearer != "" }

// revoked records that instance on answered the revocation at at.
func (c *cred) revoked(on int, at time.Time) {
	c.revokedOn.Store(int32(on))
	c.revokedAt.Store(at.UnixNano())
}

// grace is how long after its revocation a credential may still be
// accepted by instance i (API.md §6): a session by none, an access token
// by none on the instance that revoked it and for up to 1 s elsewhere.
func (c *cred) grace(i int) time.Duration {
	if !c.token() || int(c.revokedOn.Load()) == i {
		return 0
	}
	return time.Second
}

func signup(t testing.TB, base, email string) {
	t.Helper()
	r := call(t, "POST", base+"/v1/signup", auth{}, map[string]string{"email": email, "password": password})
	if r.status != 201 {
		t.Fatalf("signup %s on %s: %s", email, base, r)
	}
}

// loginSession logs in with a session cookie.
func loginSession(t testing.TB, base, email, name string) *cred {
	t.Helper()
	r := call(t, "POST", base+"/v1/login", auth{}, map[string]string{"email": email, "password": password})
	if r.status != 200 {
		t.Fatalf("session login %s on %s: %s", email, base, r)
	}
	c := &cred{name: name, email: email}
	for _, k := range r.resp.Cookies() {
		if k.Name == sessionCookie {
			c.a.cookie = k.Value
		}
	}
	var body struct {
		CSRF string `json:"csrf_token"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.CSRF == "" || c.a.cookie == "" {
		t.Fatalf("session login: no cookie or csrf_token in %s (%v)", r, err)
	}
	c.a.csrf = body.CSRF
	return c
}

// loginToken logs in for an access token and a refresh token in the body.
func loginToken(t testing.TB, base, email, name string) *cred {
	t.Helper()
	r := call(t, "POST", base+"/v1/login", auth{}, map[string]string{
		"email": email, "password": password, "mode": "token", "refresh_delivery": "body"})
	if r.status != 200 {
		t.Fatalf("token login %s on %s: %s", email, base, r)
	}
	var body struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.AccessToken == "" || body.RefreshToken == "" {
		t.Fatalf("token login: no tokens in %s (%v)", r, err)
	}
	return &cred{name: name, email: email, a: auth{bearer: body.AccessToken}, refresh: body.RefreshToken}
}

// whoami asks inst who c is; a 200 must name c's account.
func whoami(t testing.TB, inst *instance, c *cred) result {
	t.Helper()
	r := call(t, "GET", inst.url+"/v1/whoami", c.a, nil)
	if r.status == 200 {
		if got := whoamiEmail(r); got != c.email {
			t.Errorf("whoami %s on %s: 200 for %q, want %q", c.name, inst.name, got, c.email)
		}
	}
	return r
}

func whoamiEmail(r result) string {
	var w struct {
		User struct {
			Email string `json:"email"`
		} `json:"user"`
	}
	_ = json.Unmarshal(r.body, &w)
	return w.User.Email
}

// expectWhoami fails the test unless inst answers want for c.
func expectWhoami(t testing.TB, inst *instance, c *cred, want int, when string) result {
	t.Helper()
	r := whoami(t, inst, c)
	if r.status != want {
		t.Errorf("%s: whoami %s on %s: %s, want %d", when, c.name, inst.name, r, want)
	}
	return r
}

// logout revokes c on insts[i] (cookie with CSRF, or bearer) and records
// the moment of the 204.
func logout(t testing.TB, insts []*instance, i int, c *cred) result {
	t.Helper()
	c.revoking.Store(true) // from now on a 401 may be the revocation landing
	r := call(t, "POST", insts[i].url+"/v1/logout", c.a, nil)
	if r.status != 204 {
		t.Fatalf("logout %s on %s: %s, want 204", c.name, insts[i].name, r)
	}
	c.revoked(i, time.Now())
	return r
}

// readiness is the body of /readyz.
type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func readyz(base string) (int, readiness, error) {
	r, err := send("GET", base+"/readyz", auth{}, nil)
	if err != nil {
		return 0, readiness{}, err
	}
	var rd readiness
	err = json.Unmarshal(r.body, &rd)
	return r.status, rd, err
}

// waitReady polls /readyz until it answers code with status and, unless
// empty, checks.redis == redis.
func waitReady(t testing.TB, inst *instance, code int, status, redis string, within time.Duration) time.Duration {
	t.Helper()
	return poll(t, fmt.Sprintf("%s /readyz %d %q redis %q", inst.name, code, status, redis), within, func() (bool, string) {
		c, rd, err := readyz(inst.url)
		if err != nil {
			return false, err.Error()
		}
		return c == code && rd.Status == status && (redis == "" || rd.Checks["redis"] == redis),
			fmt.Sprintf("%d %+v", c, rd)
	})
}

// metric returns the value of an unlabelled metric in /metrics.
func metric(base, name string) (string, error) {
	r, err := send("GET", base+"/metrics", auth{}, nil)
	if err != nil {
		return "", err
	}
	if r.status != 200 {
		return "", fmt.Errorf("/metrics: %s", r)
	}
	for line := range strings.SplitSeq(string(r.body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("no %s in /metrics", name)
}

func waitMetric(t testing.TB, inst *instance, name, want string, within time.Duration) time.Duration {
	t.Helper()
	return poll(t, fmt.Sprintf("%s %s = %s", inst.name, name, want), within, func() (bool, string) {
		v, err := metric(inst.url, name)
		if err != nil {
			return false, err.Error()
		}
		return v == want, v
	})
}

// ---- load ----

// load runs a few goroutines that call whoami in a loop, with every
// credential on every instance in turn, and judges every answer:
//
//   - a credential revoked before the request started (plus its grace)
//     must never get 200;
//   - a credential nobody revoked must never get 401;
//   - a 200 must name the credential's own account;
//   - nothing but 200, 401 and 503 is acceptable, and no request may fail
//     at the transport level (a hang of 10 s included).
//
// Answers are counted per phase of the test (setPhase), per state of the
// credential when the request started (live; revoking: revoked while in
// flight or within its grace; revoked), kind and status.
type load struct {
	insts    []*instance
	creds    []*cred
	phase    atomic.Value // string
	stop     chan struct{}
	haltOnce sync.Once
	wg       sync.WaitGroup

	mu     sync.Mutex
	counts map[string]int
	phases []string
	calls  map[string]int // per phase
	wrong  []string
	nWrong int
	total  int
}

const (
	loadWorkers  = 4
	loadMaxCalls = 40_000 // per worker
	loadMaxTime  = 2 * time.Minute
	loadPause    = 2 * time.Millisecond // between calls: leave the CPUs to latch
	loadMinCalls = 20                   // per phase, or the phase showed nothing
)

func startLoad(t testing.TB, insts []*instance, creds ...*cred) *load {
	l := &load{insts: insts, creds: creds, stop: make(chan struct{}), counts: map[string]int{}, calls: map[string]int{}}
	l.setPhase("before")
	deadline := time.Now().Add(loadMaxTime)
	for w := range loadWorkers {
		l.wg.Go(func() {
			for n := range loadMaxCalls {
				select {
				case <-l.stop:
					return
				default:
				}
				if time.Now().After(deadline) {
					return
				}
				k := w + n*loadWorkers
				l.one(k%len(insts), creds[(k/len(insts))%len(creds)])
				time.Sleep(loadPause)
			}
		})
	}
	t.Cleanup(l.halt)
	return l
}

// setPhase names what the test does from now on, for the counts.
func (l *load) setPhase(name string) {
	l.mu.Lock()
	l.phases = append(l.phases, name)
	l.mu.Unlock()
	l.phase.Store(name)
}

func (l *load) halt() {
	l.haltOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
}

func (l *load) one(i int, c *cred) {
	phase := l.phase.Load().(string)
	start := time.Now()
	r, err := send("GET", l.insts[i].url+"/v1/whoami", c.a, nil)
	rv := c.revokedAt.Load()
	state := "live"
	switch {
	case rv == 0:
	case start.UnixNano() > rv+int64(c.grace(i)):
		state = "revoked"
	default:
		state = "revoking"
	}
	var bad string
	switch {
	case err != nil:
		bad = fmt.Sprintf("transport error after %v: %v", r.took, err)
	case r.status != 200 && r.status != 401 && r.status != 503:
		bad = "unexpected " + r.String()
	case r.status == 200 && whoamiEmail(r) != c.email:
		bad = fmt.Sprintf("200 for another account: %s", r)
	case r.status == 200 && state == "revoked":
		bad = fmt.Sprintf("WRONGLY AUTHENTICATED: 200 %v after the revocation", start.Sub(time.Unix(0, rv)))
	case r.status == 401 && rv == 0 && !c.revoking.Load():
		// Read after the answer: a request in flight while the logout
		// commits may be refused before the 204 is recorded.
		bad = "a live credential refused: " + r.String()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total++
	l.calls[phase]++
	l.counts[fmt.Sprintf("%-14s %-8s %-7s %d", phase, state, kind(c), r.status)]++
	if bad != "" {
		l.nWrong++
		if len(l.wrong) < 20 {
			l.wrong = append(l.wrong, fmt.Sprintf("%s on %s at %s (%s): %s", c.name, l.insts[i].name, start.Format("15:04:05.000"), phase, bad))
		}
	}
}

func kind(c *cred) string {
	if c.token() {
		return "token"
	}
	return "session"
}

// finish stops the load, logs the counts, and fails the test for every
// wrong answer, and for a phase with too few calls to show anything.
func (l *load) finish(t testing.TB) {
	t.Helper()
	l.halt()
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, p := range l.phases {
		keys := []string{}
		for k := range l.counts {
			if strings.HasPrefix(k, fmt.Sprintf("%-14s ", p)) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "\n    %s %6d", k, l.counts[k])
		}
		if l.calls[p] < loadMinCalls {
			t.Errorf("load: only %d calls in phase %q; too few to show anything", l.calls[p], p)
		}
	}
	t.Logf("load: %d whoami calls with %d credentials on %d instances, %d wrong:\n    %-14s %-8s %-7s status  count%s",
		l.total, len(l.creds), len(l.insts), l.nWrong, "phase", "state", "kind", b.String())
	if l.nWrong > 0 {
		t.Errorf("load: %d wrong answers, first ones:\n  %s", l.nWrong, strings.Join(l.wrong, "\n  "))
	}
}

// statusSet is a small helper for tallies in tests.
type statusSet map[int]int

func (s statusSet) String() string {
	codes := make([]int, 0, len(s))
	for c := range s {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	parts := make([]string, 0, len(codes))
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", s[c], c))
	}
	return strings.Join(parts, " ")
}
