// Package e2e_test runs latch and a resource server protected by the verify
// package as real processes, and checks the promises that only hold end to
// end: a logout reaches the resource server within a second, the resource
// server fails closed when latch is gone, and recovers by itself, with the
// earlier revocations intact, when latch is back.
package e2e_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/latch-dev/latch/internal/proctest"
)

// bins are the binaries TestMain builds once for every test.
var bins struct {
	latch, resourceServer string
}

func TestMain(m *testing.M) {
	os.Exit(proctest.Main(m, "e2e", "..", func(built map[string]string) {
		bins.latch, bins.resourceServer = built["./cmd/latch"], built["./examples/resource-server"]
	}, "./cmd/latch", "./examples/resource-server"))
}

// proc is a started binary (see proctest).
type proc = proctest.Proc

// start runs bin and waits for its listening line (proctest.Start).
func start(t *testing.T, name, bin string, args ...string) (*proc, error) {
	t.Helper()
	return proctest.Start(t, name, bin, args...)
}

// freePort returns a loopback address whose port was free a moment ago:
// latch must be restartable on the very address its issuer URL names.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startLatch starts latch, retrying for a few seconds while its address is
// still taken (a killed process's port can linger briefly).
func startLatch(t *testing.T, args ...string) *proc {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := start(t, "latch", bins.latch, args...)
		if err == nil {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		t.Logf("latch did not start, retrying: %v", err)
		time.Sleep(200 * time.Millisecond)
	}
}

var httpc = &http.Client{Timeout: 5 * time.Second}

// call makes a request and returns the status and body.
func call(t *testing.T, method, url, bearer string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp.StatusCode, b
}

// pollStatus calls GET url with the bearer token until it answers want, and
// returns how long that took; it fails the test after within.
func pollStatus(t *testing.T, url, bearer string, want int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last int
	var body []byte
	for time.Since(start) <= within {
		if last, body = call(t, "GET", url, bearer, nil); last == want {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("GET %s: still %d (%s) after %v, want %d", url, last, body, within, want)
	return 0
}

func login(t *testing.T, issuer, email, password string) string {
	t.Helper()
	status, body := call(t, "POST", issuer+"/v1/login", "", map[string]string{
		"email": email, "password": password, "mode": "token", "refresh_delivery": "body",
	})
	if status != 200 {
		t.Fatalf("login: %d %s", status, body)
	}
	var resp struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || resp.AccessToken == "" {
		t.Fatalf("login body %s: %v", body, err)
	}
	return resp.AccessToken
}

func randomSecret() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// TestRevocationReachesResourceServer is the whole story of API.md §5: a
// token works at the resource server; after logout it is refused there
// within 1 s; with latch killed the resource server refuses everything with
// 503 once the staleness bound has passed; with latch back on the same
// address and database it recovers by itself, and the token revoked before
// the crash is still refused, by the old verifier and by a new one that
// only knows the replay.
func TestRevocationReachesResourceServer(t *testing.T) {
	const staleness = 2 * time.Second
	dir := t.TempDir()
	secret := randomSecret()
	latchArgs := []string{"serve",
		"--addr", freePort(t),
		"--db", "sqlite:" + filepath.Join(dir, "latch.db"),
		"--client", "rs1:" + secret,
		"--login-ip-rate", "0",
	}
	latch := startLatch(t, latchArgs...)
	issuer := "http://" + latch.Addr
	latchArgs[2] = latch.Addr // the same address on restart, whatever was asked

	startRS := func() string {
		rs, err := start(t, "resource-server", bins.resourceServer,
			"--addr", "127.0.0.1:0", "--issuer", issuer, "--client", "rs1:"+secret, "--staleness", staleness.String())
		if err != nil {
			t.Fatal(err)
		}
		return "http://" + rs.Addr
	}
	rsURL := startRS()
	api := rsURL + "/api/hello"

	const email, password = "e2e@example.com", "correct horse battery staple"
	if status, body := call(t, "POST", issuer+"/v1/signup", "", map[string]string{"email": email, "password": password}); status != 201 {
		t.Fatalf("signup: %d %s", status, body)
	}

	revoked := login(t, issuer, email, password)
	status, body := call(t, "GET", api, revoked, nil)
	if status != 200 {
		t.Fatalf("API with a fresh token: %d %s", status, body)
	}
	var hello struct{ Subject, Role string }
	if err := json.Unmarshal(body, &hello); err != nil || hello.Subject == "" || hello.Role == "" {
		t.Errorf("API body %s: want the subject and role (%v)", body, err)
	}
	if status, _ := call(t, "GET", api, "", nil); status != 401 {
		t.Errorf("API without a token: %d, want 401", status)
	}

	// Logout reaches the resource server within a second.
	if status, body := call(t, "POST", issuer+"/v1/logout", revoked, nil); status != 204 {
		t.Fatalf("logout: %d %s", status, body)
	}
	took := pollStatus(t, api, revoked, 401, 5*time.Second)
	t.Logf("the resource server refused the logged-out token %v after the logout", took)
	if took > time.Second {
		t.Errorf("the logged-out token was refused after %v, want within 1 s", took)
	}

	valid := login(t, issuer, email, password)
	if status, body := call(t, "GET", api, valid, nil); status != 200 {
		t.Fatalf("API with a new token: %d %s", status, body)
	}

	// latch crashes: after the staleness bound, every token gets 503.
	latch.Kill()
	took = pollStatus(t, api, valid, 503, staleness+3*time.Second)
	t.Logf("503 %v after latch was killed (staleness %v)", took, staleness)
	if status, _ := call(t, "GET", api, revoked, nil); status != 503 {
		t.Errorf("the revoked token while stale: %d, want 503 (every token)", status)
	}
	if status, _ := call(t, "GET", rsURL+"/healthz", "", nil); status != 200 {
		t.Errorf("healthz while stale: %d, want 200", status)
	}

	// latch is back on the same address and database: the resource server
	// recovers by itself, and the revocation survived the crash.
	startLatch(t, latchArgs...)
	took = pollStatus(t, api, valid, 200, 10*time.Second)
	t.Logf("recovered %v after latch restarted", took)
	if status, body := call(t, "GET", api, revoked, nil); status != 401 {
		t.Errorf("the token revoked before the restart: %d %s, want 401", status, body)
	}
	fresh := startRS() + "/api/hello" // knows the revocation only from the replay
	if status, body := call(t, "GET", fresh, revoked, nil); status != 401 {
		t.Errorf("a new resource server, the token revoked before the restart: %d %s, want 401", status, body)
	}
	if status, body := call(t, "GET", fresh, valid, nil); status != 200 {
		t.Errorf("a new resource server, a valid token: %d %s, want 200", status, body)
	}
}

// TestResourceServer_SIGTERM: the example exits 0 on SIGTERM.
func TestResourceServer_SIGTERM(t *testing.T) {
	dir := t.TempDir()
	secret := randomSecret()
	latch := startLatch(t, "serve", "--addr", "127.0.0.1:0", "--db", "sqlite:"+filepath.Join(dir, "latch.db"), "--client", "rs1:"+secret)
	rs, err := start(t, "resource-server", bins.resourceServer,
		"--addr", "127.0.0.1:0", "--issuer", "http://"+latch.Addr, "--client", "rs1:"+secret)
	if err != nil {
		t.Fatal(err)
	}
	pollStatus(t, "http://"+rs.Addr+"/readyz", "", 200, 10*time.Second)
	if err := rs.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rs.Done():
		if rs.Err() != nil {
			t.Errorf("exit after SIGTERM: %v, want status 0", rs.Err())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no exit within 15 s of SIGTERM")
	}
}
