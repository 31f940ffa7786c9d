// Package scale_test runs several latch processes on one PostgreSQL and one
// Redis, and checks what only holds between processes: a session or a
// revocation made on one instance is honoured by the others (API.md §6
// "Several instances"), login limits are shared, a rotated key is served by
// all, a refresh token is spent once however many instances race for it;
// and, on private PostgreSQL and Redis servers that the tests stop and
// start, that an outage of either or both never authenticates a revoked
// credential, fails writes closed and fast, and heals without a restart.
package scale_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/latch-dev/latch/internal/proctest"

	"github.com/latch-dev/latch/internal/testenv"
)

// latchBin is the binary TestMain builds once for every test.
var latchBin string

func TestMain(m *testing.M) {
	if os.Getenv(proberURL) != "" { // the flood tests' probes (flood_test.go): nothing to build
		os.Exit(m.Run())
	}
	os.Exit(proctest.Main(m, "scale", "..", func(bins map[string]string) { latchBin = bins["./cmd/latch"] }, "./cmd/latch"))
}

// unavailable fails the test in CI and skips it, loudly, elsewhere.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	testenv.Unavailable(t, "a service", format, args...)
}

// proc is a started latch (see proctest).
type proc = proctest.Proc

// startLatch runs latch with args, waits for its `listening addr=` line,
// and kills it when the test ends (its log is printed if the test failed).
func startLatch(t testing.TB, name string, args ...string) *proc {
	t.Helper()
	return proctest.MustStart(t, name, latchBin, args...)
}

// ---- HTTP ----

// The names of latch's cookies without --insecure-cookies (API.md §3).
const (
	sessionCookie = "__Host-latch_session"
	csrfCookie    = "__Host-latch_csrf"
)

// httpc never follows redirects and gives up after 10 s: a request to
// latch that takes that long is a hang, and reported as one.
var httpc = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second},
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// auth is what a request presents: a bearer token, or a session cookie
// (with its CSRF token for state changes). Cookies are sent by hand: a
// cookie jar never sends Secure cookies over plain HTTP.
type auth struct {
	bearer, cookie, csrf string
}

// result is an answer of latch.
type result struct {
	status int
	body   []byte
	header http.Header
	resp   *http.Response
	took   time.Duration
}

// code is the problem "code" of an error answer.
func (r result) code() string {
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(r.body, &p)
	return p.Code
}

func (r result) String() string {
	b := strings.TrimSpace(string(r.body))
	if len(b) > 300 {
		b = b[:300] + "…"
	}
	return fmt.Sprintf("%d %s", r.status, b)
}

// send makes one request; it never fails the test (load goroutines use it).
func send(method, url string, a auth, body any) (result, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return result{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return result{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+a.bearer)
	}
	if a.cookie != "" {
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: a.cookie})
		if a.csrf != "" {
			req.AddCookie(&http.Cookie{Name: csrfCookie, Value: a.csrf})
			req.Header.Set("X-CSRF-Token", a.csrf)
		}
	}
	start := time.Now()
	resp, err := httpc.Do(req)
	if err != nil {
		return result{took: time.Since(start)}, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	if err != nil {
		return result{took: took}, fmt.Errorf("%s %s: reading the body: %w", method, url, err)
	}
	return result{status: resp.StatusCode, body: b, header: resp.Header, resp: resp, took: took}, nil
}

// call is send that fails the test on a transport error (a hang included).
func call(t testing.TB, method, url string, a auth, body any) result {
	t.Helper()
	r, err := send(method, url, a, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// expect calls and fails the test (not fatally) unless the status is want.
func expect(t testing.TB, want int, what, method, url string, a auth, body any) result {
	t.Helper()
	r := call(t, method, url, a, body)
	if r.status != want {
		t.Errorf("%s: %s %s: got %s, want %d", what, method, url, r, want)
	}
	return r
}

// waitFor repeats fn every 10 ms until it reports done, for at most
// within; it returns how long that took, fn's last state, and whether it
// got done. It never fails the test (goroutines use it).
func waitFor(within time.Duration, fn func() (bool, string)) (time.Duration, string, bool) {
	start := time.Now()
	for {
		ok, state := fn()
		if ok {
			return time.Since(start), state, true
		}
		if time.Since(start) > within {
			return time.Since(start), state, false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// poll is waitFor that fails the test when fn is not done within.
func poll(t testing.TB, what string, within time.Duration, fn func() (bool, string)) time.Duration {
	t.Helper()
	took, last, ok := waitFor(within, fn)
	if !ok {
		t.Fatalf("%s: not within %v; last: %s", what, within, last)
	}
	return took
}

// pollStatus repeats a request until it answers want.
func pollStatus(t testing.TB, what, method, url string, a auth, want int, within time.Duration) time.Duration {
	t.Helper()
	return poll(t, what, within, func() (bool, string) {
		r, err := send(method, url, a, nil)
		if err != nil {
			return false, err.Error()
		}
		return r.status == want, r.String()
	})
}

func randomSecret() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// newEmail is an address no other test or run uses.
func newEmail(tag string) string {
	return fmt.Sprintf("%s-%s@scale.example.com", tag, strings.ToLower(rand.Text()[:10]))
}

const password = "correct horse battery staple"
