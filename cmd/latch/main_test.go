package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latch-dev/latch/internal/testkit"
)

// env is a fake environment for run.
type env map[string]string

func (e env) get(k string) string { return e[k] }

func TestRun_BadConfigurationExits2(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "latch.db")
	for _, c := range []struct {
		name string
		args []string
		env  env
		want string // the flag the one-line error names
	}{
		{"bad duration", []string{"serve", "--session-idle-timeout", "soon"}, nil, "--session-idle-timeout"},
		{"negative duration", []string{"serve", "--access-ttl", "-1m"}, nil, "--access-ttl"},
		{"bad duration from the environment", []string{"serve"}, env{"LATCH_REFRESH_TTL": "forever"}, "LATCH_REFRESH_TTL"},
		{"unknown db scheme", []string{"serve", "--db", "mysql://root:hunter2@db/latch"}, nil, "--db"},
		{"short hs256 secret", []string{"serve", "--jwt-alg", "HS256", "--hs256-secret", "too-short"}, nil, "--hs256-secret"},
		{"unknown algorithm", []string{"serve", "--jwt-alg", "none"}, nil, "--jwt-alg"},
		{"redis without postgres", []string{"serve", "--db", db, "--redis", "redis://127.0.0.1:6379/0"}, nil, "--redis"},
		{"bad redis port", []string{"serve", "--db", "postgres://127.0.0.1/latch", "--redis", "redis://:hunter2@127.0.0.1:99999/0"}, nil, "--redis"},
		{"redis sentinel without a master", []string{"serve", "--db", "postgres://127.0.0.1/latch", "--redis", "redis+sentinel://h1,h2/0"}, nil, "--redis"},
		{"bad client", []string{"serve", "--client", "no-secret"}, nil, "--client"},
		{"passkey rp ID an IP address", []string{"serve", "--db", db, "--webauthn-rp-id", "127.0.0.1"}, nil, "--webauthn-rp-id"},
		{"passkey origin off the rp ID", []string{"serve", "--db", db, "--webauthn-rp-id", "example.com", "--webauthn-origins", "https://example.org"}, nil, "--webauthn-origins"},
		{"passkey origin over plain http", []string{"serve", "--db", db, "--webauthn-origins", "http://auth.example.com"}, env{"LATCH_WEBAUTHN_RP_ID": "example.com"}, "plain http"},
		{"unknown flag", []string{"serve", "--no-such-flag"}, nil, "--no-such-flag"},
		{"unknown command", []string{"frobnicate"}, nil, "frobnicate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), c.args, strings.NewReader(""), &stdout, &stderr, c.env.get)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr %q", code, stderr.String())
			}
			first := strings.SplitN(stderr.String(), "\n", 2)[0]
			if !strings.Contains(first, c.want) {
				t.Errorf("first line %q does not name %s", first, c.want)
			}
			if strings.Contains(stderr.String(), "hunter2") {
				t.Errorf("the error echoes a password: %q", stderr.String())
			}
		})
	}
}

// listening waits for the "listening addr=" line and returns the address.
func listening(t *testing.T, out *testkit.Buffer, done <-chan int) string {
	t.Helper()
	re := regexp.MustCompile(`listening addr=(\S+)`)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("latch exited %d before listening: %s", code, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no listening line: %s", out.String())
	return ""
}

func TestServe_ListensObeysFlagsAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	var stderr testkit.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--db", "sqlite:" + filepath.Join(dir, "latch.db"),
			"--access-ttl", "7m", "--log-level", "error"},
			strings.NewReader(""), &bytes.Buffer{}, &stderr,
			env{"LATCH_ACCESS_TTL": "5m", "LATCH_SESSION_IDLE_TIMEOUT": "10m", "LATCH_LOGIN_IP_RATE": "0"}.get)
	}()
	addr := listening(t, &stderr, done)
	if first := strings.SplitN(stderr.String(), "\n", 2)[0]; !strings.Contains(first, "listening") {
		t.Errorf("first log line %q; want the listening line first, at any --log-level", first)
	}
	base := "http://" + addr
	post := func(path, body string) map[string]any {
		t.Helper()
		res, err := http.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var doc map[string]any
		_ = json.NewDecoder(res.Body).Decode(&doc)
		if res.StatusCode >= 300 {
			t.Fatalf("POST %s: %d %v", path, res.StatusCode, doc)
		}
		return doc
	}
	creds := `{"email":"cmd@example.com","password":"a-fine-long-passphrase"}`
	post("/v1/signup", creds)
	tok := post("/v1/login", `{"email":"cmd@example.com","password":"a-fine-long-passphrase","mode":"token","refresh_delivery":"body"}`)
	if ei, _ := tok["expires_in"].(float64); ei < 415 || ei > 420 {
		t.Errorf("expires_in %v with --access-ttl 7m and LATCH_ACCESS_TTL=5m: the flag must win", tok["expires_in"])
	}
	sess := post("/v1/login", creds)
	idle, _ := time.Parse(time.RFC3339, sess["session"].(map[string]any)["idle_expires_at"].(string))
	if d := time.Until(idle); d < 9*time.Minute || d > 10*time.Minute+5*time.Second {
		t.Errorf("idle deadline %v away with LATCH_SESSION_IDLE_TIMEOUT=10m", d)
	}

	cancel() // what SIGTERM does through signal.NotifyContext
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after the stop signal, want 0: %s", code, stderr.String())
		}
	case <-time.After(12 * time.Second):
		t.Fatal("still running 12 s after the stop signal")
	}
}

func TestAdminCommands(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "latch.db")
	runOK := func(stdin string, args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), args, strings.NewReader(stdin), &stdout, &stderr, env{}.get); code != 0 {
			t.Fatalf("latch %v: exit %d: %s", args, code, stderr.String())
		}
		return stdout.String()
	}
	out := runOK("a-fine-long-passphrase\n", "user", "add", "--db", db, "--email", " Admin@Example.com ", "--role", "admin")
	if !strings.Contains(out, "<admin@example.com> role admin") {
		t.Errorf("user add printed %q; want the normalised address and the role", out)
	}
	var stderr bytes.Buffer
	if code := run(t.Context(), []string{"user", "add", "--db", db, "--email", "weak@example.com"},
		strings.NewReader("password\n"), &bytes.Buffer{}, &stderr, env{}.get); code == 0 {
		t.Error("user add accepted a common password")
	}

	runOK("", "keys", "rotate", "--db", db)
	first := runOK("", "keys", "list", "--db", db)
	runOK("", "keys", "rotate", "--db", db)
	list := runOK("", "keys", "list", "--db", db)
	// user add built the Service as serve does, which made the first key.
	if n := strings.Count(list, "EdDSA"); n != 3 {
		t.Fatalf("keys list after the first key and two rotations:\n%s\nwant 3 EdDSA keys", list)
	}
	if strings.Count(list, "signing") != 1 || !strings.Contains(list, "retired") {
		t.Errorf("keys list:\n%s\nwant one signing key and the others retired", list)
	}
	kid := strings.Fields(strings.Split(first, "\n")[1])[0]
	if !strings.Contains(list, kid+" ") || strings.Contains(strings.SplitN(list, "\n", 3)[1], kid+" ") {
		t.Errorf("the first key %s should now be listed second (retired):\n%s", kid, list)
	}
}

// The admin commands write their security events to --audit-log, with the
// actor "cli": a key rotation and an account deletion.
func TestAdminCommands_AuditTrail(t *testing.T) {
	dir := t.TempDir()
	db, trail := "sqlite:"+filepath.Join(dir, "latch.db"), filepath.Join(dir, "audit.log")
	for _, args := range [][]string{
		{"user", "add", "--db", db, "--audit-log", trail, "--email", "gone@example.com"},
		{"keys", "rotate", "--db", db, "--audit-log", trail},
		{"user", "delete", "--db", db, "--audit-log", trail, "--user", "gone@example.com", "--yes"},
	} {
		var stderr bytes.Buffer
		if code := run(t.Context(), args, strings.NewReader("a-fine-long-passphrase\n"), &bytes.Buffer{}, &stderr, env{}.get); code != 0 {
			t.Fatalf("latch %v: exit %d: %s", args, code, stderr.String())
		}
	}
	b, err := os.ReadFile(trail)
	if err != nil {
		t.Fatal(err)
	}
	for _, event := range []string{"signup", "key_rotate", "logout_all", "account_delete"} {
		if !strings.Contains(string(b), `"event":"`+event+`"`) {
			t.Errorf("the audit trail lacks %s:\n%s", event, b)
		}
	}
	if !strings.Contains(string(b), `"actor":"cli"`) || strings.Contains(string(b), "a-fine-long-passphrase") {
		t.Errorf("audit trail: want actor cli and no password:\n%s", b)
	}
}
