package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	clientID, clientSecret = "soak", "soak-client-secret-0123456789abcdef"
	password               = "correct horse battery staple"
	sessionCookie          = "__Host-latch_session"
	csrfCookie             = "__Host-latch_csrf"

	// leeway is latch.Leeway: an access token is accepted until this long
	// after its exp (the tool speaks to latch over HTTP only).
	leeway = 60 * time.Second
	// retireMargin: a credential is retired this long before any deadline
	// it must not reach while in use, so every use of a held credential
	// must succeed.
	retireMargin = 5 * time.Second
	// deadMargin: an abandoned credential is tried this long after its
	// last deadline (API.md allows deadlines a second of slack).
	deadMargin = 2 * time.Second
)

// soak is the load and what it has seen.
type soak struct {
	cfg    config
	base   string
	stream *http.Client // the revocation stream: no time limit

	mu    sync.Mutex
	pool  []*cred // held credentials not in use right now
	dead  []*cred // abandoned, waiting for their deadline to be checked
	bad   []string
	nBad  atomic.Int64
	held  atomic.Int64 // credentials logged in and not yet retired
	count sync.Map     // kind → *atomic.Int64
	conns []*http.Transport
}

// worker is one goroutine of the load with a connection of its own: a
// client that never holds more than one, so latch's open files stay flat
// whatever the bursts, unless latch itself leaks them.
type worker struct {
	*soak
	c *http.Client
}

// worker returns a new worker.
func (s *soak) worker() *worker {
	t := &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}
	s.mu.Lock()
	s.conns = append(s.conns, t)
	s.mu.Unlock()
	return &worker{soak: s, c: &http.Client{Timeout: 10 * time.Second, Transport: t}}
}

// closeIdle closes every worker's idle connection.
func (s *soak) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.conns {
		t.CloseIdleConnections()
	}
	s.stream.CloseIdleConnections()
}

// cred is one login's credential and what the tool knows of its deadlines.
// Only the goroutine that took it from the pool touches it.
type cred struct {
	token                         bool // a refresh family (else a cookie session)
	cookie, csrf, access, refresh string

	born      time.Time // the login was sent: the absolute deadline is at least born+absolute ...
	loggedIn  time.Time // ... and the login answered: at most loggedIn+absolute
	usedSent  time.Time // cookie: the last whoami sent (idle deadline at least usedSent+idle) ...
	usedGot   time.Time // ... and answered (at most usedGot+idle)
	issued    time.Time // token: the current pair was asked for (exp at least issued+access TTL) ...
	issuedGot time.Time // ... and answered
	retireAt  time.Time // the end of its planned use
	deadAt    time.Time // abandoned: when it must be refused
}

func (s *soak) inc(kind string) {
	v, _ := s.count.LoadOrStore(kind, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// counts returns the counters by kind, sorted by kind.
func (s *soak) counts() []string {
	var out []string
	s.count.Range(func(k, v any) bool {
		out = append(out, fmt.Sprintf("%s %d", k, v.(*atomic.Int64).Load()))
		return true
	})
	sort.Strings(out)
	return out
}

func (s *soak) unexpected(format string, args ...any) {
	s.nBad.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.bad) < 20 {
		s.bad = append(s.bad, time.Now().Format(time.TimeOnly)+" "+fmt.Sprintf(format, args...))
	}
}

// do sends a request, with c's credential: the bearer token of a family,
// else the session cookie and CSRF token.
func (w *worker) do(method, path string, c *cred, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, w.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case c == nil:
	case c.token:
		req.Header.Set("Authorization", "Bearer "+c.access)
	default:
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: c.cookie})
		req.AddCookie(&http.Cookie{Name: csrfCookie, Value: c.csrf})
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	resp, err := w.c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// take removes a random credential of the kind asked from the pool, or
// returns nil.
func (s *soak) take(token bool) *cred {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range 8 {
		if len(s.pool) == 0 {
			return nil
		}
		i := rand.IntN(len(s.pool))
		if c := s.pool[i]; c.token == token {
			s.pool[i] = s.pool[len(s.pool)-1]
			s.pool = s.pool[:len(s.pool)-1]
			return c
		}
	}
	return nil
}

func (s *soak) put(c *cred) {
	s.mu.Lock()
	s.pool = append(s.pool, c)
	s.mu.Unlock()
}

// mustRetireBy is the latest moment c may still be held: its planned end,
// or retireMargin before a deadline it would otherwise reach in use.
func (s *soak) mustRetireBy(c *cred) (time.Time, string) {
	at, why := c.retireAt, "planned"
	earlier := func(t time.Time, reason string) {
		if t.Before(at) {
			at, why = t, reason
		}
	}
	if c.token {
		earlier(c.born.Add(s.cfg.refreshAbsolute-retireMargin), "absolute deadline")
		earlier(c.issued.Add(s.cfg.refreshTTL-retireMargin), "refresh deadline")
	} else {
		earlier(c.born.Add(s.cfg.absolute-retireMargin), "absolute deadline")
		earlier(c.usedSent.Add(s.cfg.idle-retireMargin), "idle deadline")
	}
	return at, why
}

// maxShed is how many times a login answered 429 is tried again.
const maxShed = 3

// login logs in one account as a cookie session or a token family, and
// adds the credential to the pool with a planned use of 0..2×life. A login
// answered 429 rate_limited (latch sheds logins that wait over 2 s for an
// argon2id slot, as on a machine whose other tenants take the CPU) is
// counted and tried again after its Retry-After, as a client would, up to
// maxShed times.
func (w *worker) login(email string, token bool) {
	body := map[string]string{"email": email, "password": password}
	if token {
		body["mode"], body["refresh_delivery"] = "token", "body"
	}
	var c *cred
	var sent time.Time
	for try := 0; ; try++ {
		sent = time.Now()
		var after time.Duration
		var err error
		c, after, err = w.loginAs(body)
		if after > 0 && try < maxShed {
			w.inc("login shed (429), tried again")
			time.Sleep(min(after, 5*time.Second))
			continue
		}
		if err != nil {
			w.unexpected("login: %v", err)
			return
		}
		break
	}
	got := time.Now()
	c.token, c.born, c.loggedIn = token, sent, got
	c.usedSent, c.usedGot, c.issued, c.issuedGot = sent, got, sent, got
	c.retireAt = sent.Add(time.Duration(rand.Int64N(int64(2 * w.cfg.life))))
	if token {
		w.inc("login (token)")
	} else {
		w.inc("login (cookie)")
	}
	w.held.Add(1)
	w.put(c)
}

// loginAs logs in with body and returns the credential: the session
// cookie and CSRF token, or the access and refresh tokens. A 429
// rate_limited answer returns its Retry-After too (at least a second).
func (w *worker) loginAs(body map[string]string) (*cred, time.Duration, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, 0, err
	}
	resp, err := w.c.Post(w.base+"/v1/login", "application/json", strings.NewReader(string(b)))
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests && strings.Contains(string(rb), `"code":"rate_limited"`) {
		after, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return nil, time.Duration(max(after, 1)) * time.Second, fmt.Errorf("429 %s", rb)
	}
	if err != nil || resp.StatusCode != 200 {
		return nil, 0, fmt.Errorf("%d %s %v", resp.StatusCode, rb, err)
	}
	var r struct {
		CSRF    string `json:"csrf_token"`
		Access  string `json:"access_token"`
		Refresh string `json:"refresh_token"`
	}
	if err := json.Unmarshal(rb, &r); err != nil {
		return nil, 0, err
	}
	c := &cred{csrf: r.CSRF, access: r.Access, refresh: r.Refresh}
	for _, k := range resp.Cookies() {
		if k.Name == sessionCookie {
			c.cookie = k.Value
		}
	}
	if (c.access == "" || c.refresh == "") && (c.cookie == "" || c.csrf == "") {
		return nil, 0, fmt.Errorf("no credential in %s", rb)
	}
	return c, 0, nil
}

// whoami asks who a held credential is: it must be 200. A family whose
// access token is near its exp is left to the refresher.
func (w *worker) whoami(token bool) {
	c := w.take(token)
	if c == nil {
		return
	}
	defer w.put(c)
	if token && time.Now().After(c.issued.Add(w.cfg.accessTTL-time.Second)) {
		return
	}
	sent := time.Now()
	st, b, err := w.do("GET", "/v1/whoami", c, nil)
	if err != nil || st != 200 {
		w.unexpected("whoami (token %v): %d %s %v", token, st, b, err)
		return
	}
	if !token {
		c.usedSent, c.usedGot = sent, time.Now()
		w.inc("whoami (cookie)")
	} else {
		w.inc("whoami (token)")
	}
}

// rotate spends c's refresh token; it must succeed.
func (w *worker) rotate(c *cred) bool {
	sent := time.Now()
	st, b, err := w.do("POST", "/v1/token/refresh", nil, map[string]string{"refresh_token": c.refresh})
	if err != nil || st != 200 {
		w.unexpected("refresh: %d %s %v", st, b, err)
		return false
	}
	var r struct {
		Access  string `json:"access_token"`
		Refresh string `json:"refresh_token"`
	}
	if err := json.Unmarshal(b, &r); err != nil || r.Access == "" || r.Refresh == "" {
		w.unexpected("refresh: %s %v", b, err)
		return false
	}
	c.access, c.refresh, c.issued, c.issuedGot = r.Access, r.Refresh, sent, time.Now()
	w.inc("refresh")
	return true
}

// refreshOne rotates a random held family.
func (w *worker) refreshOne() {
	c := w.take(true)
	if c == nil {
		return
	}
	if !w.rotate(c) {
		w.held.Add(-1) // dropped: its state will expire
		return
	}
	w.put(c)
}

// retireDue takes every credential due for retirement out of the pool and
// logs it out (a share of logoutShare) or abandons it, to be checked once
// its deadline has passed.
func (w *worker) retireDue() {
	now := time.Now()
	var due []*cred
	var whys []string
	w.mu.Lock()
	for i := 0; i < len(w.pool); {
		if at, why := w.mustRetireBy(w.pool[i]); !now.Before(at) {
			due, whys = append(due, w.pool[i]), append(whys, why)
			w.pool[i] = w.pool[len(w.pool)-1]
			w.pool = w.pool[:len(w.pool)-1]
			continue
		}
		i++
	}
	w.mu.Unlock()
	for i, c := range due {
		w.held.Add(-1)
		w.inc("retired (" + whys[i] + ")")
		if rand.Float64() < w.cfg.logoutShare {
			w.logout(c)
			continue
		}
		w.abandon(c)
	}
}

// logout logs c out; a whoami with it must then be 401.
func (w *worker) logout(c *cred) {
	if c.token && time.Now().After(c.issued.Add(w.cfg.accessTTL-time.Second)) && !w.rotate(c) {
		return
	}
	if st, b, err := w.do("POST", "/v1/logout", c, nil); err != nil || st != 204 {
		w.unexpected("logout (token %v): %d %s %v", c.token, st, b, err)
		return
	}
	if st, _, err := w.do("GET", "/v1/whoami", c, nil); err != nil || st != 401 {
		w.unexpected("whoami after logout (token %v): %d %v", c.token, st, err)
		return
	}
	w.inc("logout")
}

// abandon leaves c unused: it must be refused once every deadline that
// could keep it alive has passed.
func (s *soak) abandon(c *cred) {
	if c.token {
		family := earliest(c.issuedGot.Add(s.cfg.refreshTTL), c.loggedIn.Add(s.cfg.refreshAbsolute))
		access := c.issuedGot.Add(s.cfg.accessTTL + leeway)
		c.deadAt = latest(family, access).Add(deadMargin)
	} else {
		c.deadAt = earliest(c.usedGot.Add(s.cfg.idle), c.loggedIn.Add(s.cfg.absolute)).Add(deadMargin)
	}
	s.inc("abandoned")
	s.mu.Lock()
	s.dead = append(s.dead, c)
	s.mu.Unlock()
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// checkDead tries every abandoned credential whose deadline has passed:
// whoami must be 401, and a family's refresh token must be refused.
func (w *worker) checkDead() {
	now := time.Now()
	var due []*cred
	w.mu.Lock()
	for i := 0; i < len(w.dead); {
		if c := w.dead[i]; !now.Before(c.deadAt) {
			due = append(due, c)
			w.dead[i] = w.dead[len(w.dead)-1]
			w.dead = w.dead[:len(w.dead)-1]
			continue
		}
		i++
	}
	w.mu.Unlock()
	for _, c := range due {
		if st, b, err := w.do("GET", "/v1/whoami", c, nil); err != nil || st != 401 {
			w.unexpected("whoami of an expired credential (token %v, %v past its deadline): %d %s %v",
				c.token, time.Since(c.deadAt)+deadMargin, st, b, err)
			continue
		}
		if c.token {
			st, b, err := w.do("POST", "/v1/token/refresh", nil, map[string]string{"refresh_token": c.refresh})
			if err != nil || st != 401 {
				w.unexpected("refresh of an expired family: %d %s %v", st, b, err)
				continue
			}
		}
		w.inc("expired, refused")
	}
}

// waiting is the number of abandoned credentials not yet checked.
func (s *soak) waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.dead)
}

// follow reads the revocation stream for as long as ctx lasts, resuming
// with Last-Event-ID; ids must only grow.
func (s *soak) follow(ctx context.Context, events *atomic.Int64) {
	var last int64
	for ctx.Err() == nil {
		req, err := http.NewRequestWithContext(ctx, "GET", s.base+"/v1/revocations", nil)
		if err != nil {
			s.unexpected("stream: %v", err)
			return
		}
		req.SetBasicAuth(clientID, clientSecret)
		if last > 0 {
			req.Header.Set("Last-Event-ID", strconv.FormatInt(last, 10))
		}
		resp, err := s.stream.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				s.unexpected("stream: %v", err)
				time.Sleep(time.Second)
			}
			continue
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
				id, err := strconv.ParseInt(v, 10, 64)
				if err != nil || id <= last {
					s.unexpected("stream: id %q after %d", v, last)
				}
				last = id
				events.Add(1)
			}
		}
		resp.Body.Close()
	}
}
