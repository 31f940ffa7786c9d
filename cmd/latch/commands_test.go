package main

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/latch-dev/latch/internal/testkit"
	"github.com/latch-dev/latch/totp"
)

// TestMain lets the multi-instance test start this test binary as `latch`.
func TestMain(m *testing.M) {
	if os.Getenv("LATCH_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// result is one run of the command.
type result struct {
	code           int
	stdout, stderr string
}

func cli(t *testing.T, e env, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, strings.NewReader(stdin), &stdout, &stderr, e.get)
	return result{code, stdout.String(), stderr.String()}
}

// ok runs the command, fails the test unless it exits 0, and decodes its
// --json output into v when v is not nil.
func ok(t *testing.T, e env, stdin string, v any, args ...string) string {
	t.Helper()
	r := cli(t, e, stdin, args...)
	if r.code != 0 {
		t.Fatalf("latch %s: exit %d: %s%s", strings.Join(args, " "), r.code, r.stderr, r.stdout)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
			t.Fatalf("latch %s: output is not JSON (%v): %s", strings.Join(args, " "), err, r.stdout)
		}
	}
	return r.stdout
}

// commands lists every available command under c, c included.
func commands(c *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{c}
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			out = append(out, commands(sub)...)
		}
	}
	return out
}

func TestHelp_EveryCommand(t *testing.T) {
	root := newRoot(&app{ctx: t.Context(), stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: env{}.get})
	root.InitDefaultCompletionCmd()
	all := commands(root)
	var paths []string
	for _, c := range all {
		paths = append(paths, c.CommandPath())
	}
	for _, want := range []string{"latch serve", "latch migrate", "latch user add", "latch user list", "latch user show",
		"latch user set-role", "latch user disable", "latch user enable", "latch user delete", "latch sessions list",
		"latch sessions revoke", "latch keys list", "latch keys rotate", "latch token inspect", "latch config",
		"latch version", "latch completion bash", "latch completion zsh", "latch completion fish"} {
		if !slices.Contains(paths, want) {
			t.Errorf("no command %q; have %v", want, paths)
		}
	}
	for _, c := range all {
		t.Run(c.CommandPath(), func(t *testing.T) {
			args := append(strings.Fields(c.CommandPath())[1:], "--help")
			out := ok(t, nil, "", nil, args...)
			if !strings.Contains(out, "Usage:\n  "+c.CommandPath()) {
				t.Errorf("no usage line in:\n%s", out)
			}
			if !strings.HasPrefix(c.CommandPath(), "latch completion") && !strings.Contains(out, "Examples:\n  ") {
				t.Errorf("no examples in:\n%s", out)
			}
			for _, sub := range c.Commands() {
				if sub.IsAvailableCommand() && !strings.Contains(out, "  "+sub.Name()+" ") {
					t.Errorf("subcommand %s not listed in:\n%s", sub.Name(), out)
				}
			}
			c.Flags().VisitAll(func(f *pflag.Flag) {
				line := ""
				for l := range strings.SplitSeq(out, "\n") {
					l = strings.TrimSpace(l)
					if strings.HasPrefix(l, "--"+f.Name+" ") || strings.HasPrefix(l, "-"+f.Shorthand+", --"+f.Name+" ") {
						line = l
						break
					}
				}
				if line == "" {
					t.Errorf("flag --%s missing from:\n%s", f.Name, out)
					return
				}
				if def := flagDefault(f); def != "" && !strings.Contains(line, "default "+def) {
					t.Errorf("flag --%s: no default %s in %q", f.Name, def, line)
				}
				if env := f.Annotations[annotEnv]; env != nil && !strings.Contains(line, "env "+envName(f.Name)) {
					t.Errorf("flag --%s: no environment twin in %q", f.Name, line)
				}
			})
			if c.Name() == "serve" {
				// API.md §1: every flag with its twin.
				for _, f := range []string{"addr", "db", "redis", "issuer", "audience", "jwt-alg", "hs256-secret", "master-key",
					"access-ttl", "refresh-ttl", "refresh-absolute-ttl", "refresh-reuse-grace", "session-idle-timeout",
					"session-absolute-timeout", "max-sessions-per-user", "login-max-failures", "login-failure-window",
					"login-ip-rate", "admin-key", "client", "insecure-cookies"} {
					if !strings.Contains(out, "--"+f+" ") || !strings.Contains(out, "env "+envName(f)) {
						t.Errorf("serve --help lacks --%s or %s", f, envName(f))
					}
				}
				for _, d := range []string{`default "127.0.0.1:8080"`, `default "sqlite:./latch-data/latch.db"`, "default 15m0s", "default 168h0m0s"} {
					if !strings.Contains(out, d) {
						t.Errorf("serve --help lacks %s", d)
					}
				}
			}
		})
	}
	if out := ok(t, nil, "", nil, "completion", "bash"); !strings.Contains(out, "bash completion") {
		t.Errorf("completion bash printed no bash completion script: %.200s", out)
	}
}

func TestRun_UsageErrorsAreOneLine(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "latch.db")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "missing command"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"group without command", []string{"user"}, "missing command; see latch user --help"},
		{"unknown subcommand", []string{"sessions", "kill"}, `unknown command "kill" for "latch sessions"`},
		{"unknown flag", []string{"user", "list", "--db", db, "--frob"}, "unknown flag: --frob"},
		{"missing --user", []string{"sessions", "revoke", "--db", db}, `"user" not set`},
		{"missing --email", []string{"user", "add", "--db", db}, `"email" not set`},
		{"missing argument", []string{"token", "inspect", "--db", db}, "missing argument <JWT>"},
		{"extra argument", []string{"keys", "list", "--db", db, "extra"}, `unexpected argument "extra"`},
		{"bad value", []string{"user", "list", "--db", db, "--limit", "many"}, `invalid value "many" for --limit`},
		{"bad value of a secret flag", []string{"config", "--client", "rs:hunter2,nope"}, "invalid value for --client"},
		{"delete without --yes", []string{"user", "delete", "--db", db, "--user", "a@example.com"}, "add --yes"},
		{"keys rotate with HS256", []string{"keys", "rotate", "--db", db, "--jwt-alg", "HS256", "--hs256-secret", strings.Repeat("s", 32)}, "--jwt-alg HS256"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := cli(t, nil, "", c.args...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2; stderr %q", r.code, r.stderr)
			}
			if n := strings.Count(r.stderr, "\n"); n != 1 || !strings.HasPrefix(r.stderr, "latch: ") {
				t.Errorf("stderr %q: want one line starting latch:", r.stderr)
			}
			if !strings.Contains(r.stderr, c.want) {
				t.Errorf("stderr %q does not say %q", r.stderr, c.want)
			}
			if strings.Contains(r.stderr, "hunter2") {
				t.Errorf("stderr echoes a secret: %q", r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing (no usage dump)", r.stdout)
			}
		})
	}
}

func TestConfig_SourcesAndMasking(t *testing.T) {
	e := env{"LATCH_ACCESS_TTL": "5m", "LATCH_REFRESH_TTL": "24h", "LATCH_ADMIN_KEY": "admin-secret-1",
		"LATCH_REDIS": "redis://:redispass@127.0.0.1:6379/0"}
	var got []settingJSON
	ok(t, e, "", &got, "config", "--json", "--access-ttl", "7m", "--db", "postgres://latch:dbpass@db.example/latch?sslmode=disable",
		"--client", "rs1:client-secret-1", "--master-key", "master-secret-1")
	by := map[string]settingJSON{}
	for _, s := range got {
		by[s.Flag] = s
	}
	for _, c := range []struct{ flag, value, source string }{
		{"--access-ttl", "7m0s", fromFlag}, // the flag wins over LATCH_ACCESS_TTL
		{"--refresh-ttl", "24h0m0s", fromEnv},
		{"--session-idle-timeout", "30m0s", fromDefault},
		{"--admin-key", masked, fromEnv},
		{"--master-key", masked, fromFlag},
		{"--hs256-secret", "", fromDefault},
		{"--client", "rs1:" + masked, fromFlag},
		{"--db", "postgres://latch:" + masked + "@db.example/latch?sslmode=disable", fromFlag},
		{"--redis", "redis://:" + masked + "@127.0.0.1:6379/0", fromEnv},
	} {
		if s := by[c.flag]; s.Value != c.value || s.Source != c.source || s.Env != envName(c.flag[2:]) {
			t.Errorf("%s = %+v, want value %q from %s", c.flag, s, c.value, c.source)
		}
	}
	if len(got) != 33 {
		t.Errorf("%d settings, want the 33 configuration flags", len(got))
	}
	out := ok(t, e, "", nil, "config", "--db", "postgres://latch:dbpass@db.example/latch", "--client", "rs1:client-secret-1")
	for _, secret := range []string{"dbpass", "redispass", "admin-secret-1", "client-secret-1"} {
		if strings.Contains(out, secret) {
			t.Errorf("latch config prints %q:\n%s", secret, out)
		}
	}
	if r := cli(t, nil, "", "config", "--jwt-alg", "none"); r.code != 2 || !strings.Contains(r.stdout, "--jwt-alg") || !strings.Contains(r.stderr, "--jwt-alg") {
		t.Errorf("config with an invalid value: exit %d, stderr %q; want the table, then the error and exit 2", r.code, r.stderr)
	}
}

func TestVersion(t *testing.T) {
	var b buildInfo
	ok(t, nil, "", &b, "version", "--json")
	if b.Version != version || !strings.HasPrefix(b.Go, "go1.") || b.Commit == "" {
		t.Errorf("version --json = %+v", b)
	}
	if out := ok(t, nil, "", nil, "version"); !strings.HasPrefix(out, "latch "+version+"\n") || !strings.Contains(out, "commit ") {
		t.Errorf("version printed %q", out)
	}
}

func TestMigrate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latch.db")
	db := "sqlite:" + path
	var out struct {
		Pending, Applied []string
	}
	ok(t, nil, "", &out, "migrate", "--check", "--json", "--db", db)
	if len(out.Pending) == 0 || out.Pending[0] != "0001_init.sql" || len(out.Applied) != 0 {
		t.Fatalf("migrate --check on a new database = %+v", out)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("migrate --check created the database")
	}
	ok(t, nil, "", &out, "migrate", "--json", "--db", db)
	if len(out.Applied) == 0 || len(out.Pending) != 0 {
		t.Fatalf("migrate = %+v, want the migrations applied", out)
	}
	if got := ok(t, nil, "", nil, "migrate", "--check", "--db", db); !strings.Contains(got, "up to date") {
		t.Errorf("migrate --check after migrate printed %q", got)
	}
}

// server is a `latch serve` run in process on a database.
type server struct {
	base string
	stop func()
}

func startServe(t *testing.T, db string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stderr testkit.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--db", db, "--insecure-cookies",
			"--login-ip-rate", "0", "--log-level", "error"}, strings.NewReader(""), io.Discard, &stderr, env{}.get)
	}()
	addr := listening(t, &stderr, done)
	s := &server{base: "http://" + addr, stop: func() {
		cancel()
		select {
		case <-done:
		case <-time.After(12 * time.Second):
			t.Error("latch serve did not stop")
		}
	}}
	t.Cleanup(s.stop)
	return s
}

// client logs in and asks whoami, against one latch.
type client struct {
	t    *testing.T
	base string
}

func (c client) do(method, path, cookie, bearer string, body any) (int, map[string]any, *http.Response) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	var doc map[string]any
	_ = json.NewDecoder(res.Body).Decode(&doc)
	return res.StatusCode, doc, res
}

const passphrase = "a-fine-long-passphrase"

// loginSession returns the session cookie ("name=value") and the session ID.
func (c client) loginSession(addr string) (cookie, id string) {
	c.t.Helper()
	code, doc, res := c.do("POST", "/v1/login", "", "", map[string]string{"email": addr, "password": passphrase})
	if code != 200 {
		c.t.Fatalf("login: %d %v", code, doc)
	}
	for _, k := range res.Cookies() {
		if strings.HasSuffix(k.Name, "latch_session") {
			cookie = k.Name + "=" + k.Value
		}
	}
	sess, _ := doc["session"].(map[string]any)
	id, _ = sess["id"].(string)
	if cookie == "" || id == "" {
		c.t.Fatalf("login: no session cookie or id in %v", doc)
	}
	return cookie, id
}

func (c client) loginToken(addr string) string {
	c.t.Helper()
	code, doc, _ := c.do("POST", "/v1/login", "", "", map[string]string{"email": addr, "password": passphrase, "mode": "token", "refresh_delivery": "body"})
	tok, _ := doc["access_token"].(string)
	if code != 200 || tok == "" {
		c.t.Fatalf("token login: %d %v", code, doc)
	}
	return tok
}

func (c client) whoami(cookie, bearer string) int {
	c.t.Helper()
	code, _, _ := c.do("GET", "/v1/whoami", cookie, bearer, nil)
	return code
}

// refusedWithin polls whoami until it answers 401, and fails the test
// when that takes longer than d.
func (c client) refusedWithin(what string, d time.Duration, cookie, bearer string) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for c.whoami(cookie, bearer) != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			c.t.Fatalf("%s still accepted %s after the revocation", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Every admin command against SQLite, with a `latch serve` running on the
// same file: what the commands change, the server applies.
func TestCommands_SQLite(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "latch.db")
	srv := startServe(t, db)
	web := client{t, srv.base}
	e := env{"LATCH_DB": db} // the database from the environment, as an operator would

	var admin userJSON
	ok(t, e, "an-admin-long-passphrase\n", &admin, "user", "add", "--email", " Admin@Example.com ", "--role", "admin", "--json")
	if admin.Email != "admin@example.com" || admin.Role != "admin" || admin.ID == "" {
		t.Fatalf("user add = %+v", admin)
	}
	if r := cli(t, e, "password\n", "user", "add", "--email", "weak@example.com"); r.code != 1 {
		t.Errorf("user add with a common passphrase: exit %d, want 1", r.code)
	}
	var ada userJSON
	ok(t, e, passphrase+"\n", &ada, "user", "add", "--email", "ada@example.com", "--json")

	cookie, sessID := web.loginSession("ada@example.com")
	cookie2, _ := web.loginSession("ada@example.com")
	token := web.loginToken("ada@example.com")

	var users []userJSON
	ok(t, e, "", &users, "user", "list", "--json")
	if len(users) != 2 || users[0].Email != "ada@example.com" || users[1].Email != "admin@example.com" {
		t.Errorf("user list = %+v, want ada then admin", users)
	}
	ok(t, e, "", &users, "user", "list", "--json", "--limit", "1", "--after", "ada@example.com")
	if len(users) != 1 || users[0].Email != "admin@example.com" {
		t.Errorf("user list --after ada --limit 1 = %+v", users)
	}
	var shown struct {
		userJSON
		LiveSessions int `json:"live_sessions"`
	}
	ok(t, e, "", &shown, "user", "show", "--user", "ADA@example.com", "--json") // an email, normalised
	if shown.ID != ada.ID || shown.LiveSessions != 3 {
		t.Errorf("user show = %+v, want ada with 3 live sessions", shown)
	}
	var sessions []sessionJSON
	ok(t, e, "", &sessions, "sessions", "list", "--user", ada.ID, "--json") // an ID
	if len(sessions) != 3 || sessions[0].ID != sessID || sessions[2].Kind != "token" {
		t.Errorf("sessions list = %+v, want the two cookie sessions then the token family", sessions)
	}
	if out := ok(t, e, "", nil, "sessions", "list", "--user", "ada@example.com"); !strings.Contains(out, sessID) || !strings.Contains(out, "3 live") {
		t.Errorf("sessions list printed:\n%s", out)
	}

	// token inspect: a valid token, then the same tampered with.
	var in inspection
	ok(t, e, "", &in, "token", "inspect", "--json", token)
	if !in.Valid || in.Claims["sub"] != ada.ID || in.Header["alg"] != "EdDSA" {
		t.Errorf("token inspect of a fresh token = %+v", in)
	}
	parts := strings.Split(token, ".")
	sig := []byte(parts[2])
	// Another base64url character (a flipped bit can leave the alphabet,
	// which would be a malformed token, not a bad signature).
	if sig[5] == 'A' {
		sig[5] = 'B'
	} else {
		sig[5] = 'A'
	}
	for _, c := range []struct{ name, token, code string }{
		{"bad signature", parts[0] + "." + parts[1] + "." + string(sig), "bad_signature"},
		{"not a JWT", "not-a-token", "malformed"},
	} {
		r := cli(t, e, "", "token", "inspect", "--json", c.token)
		if r.code != 1 || json.Unmarshal([]byte(r.stdout), &in) != nil || in.Valid || !hasReason(in, c.code) {
			t.Errorf("token inspect of %s: exit %d, %s; want exit 1 and reason %s", c.name, r.code, r.stdout, c.code)
		}
	}

	// One session ends on the running server; the others live.
	ok(t, e, "", nil, "sessions", "revoke", "--user", "ada@example.com", "--id", sessID)
	web.refusedWithin("the revoked cookie session", 2*time.Second, cookie, "")
	if c := web.whoami(cookie2, ""); c != 200 {
		t.Errorf("another session after revoking one: %d", c)
	}
	if c := web.whoami("", token); c != 200 {
		t.Errorf("the access token after revoking a cookie session: %d", c)
	}
	if r := cli(t, e, "", "sessions", "revoke", "--user", "ada@example.com", "--id", "no-such-session"); r.code != 1 {
		t.Errorf("revoking an unknown session: exit %d, want 1", r.code)
	}
	// Everything ends.
	out := ok(t, e, "", nil, "sessions", "revoke", "--user", "ada@example.com")
	if !strings.Contains(out, "revoked every session and token") {
		t.Errorf("sessions revoke printed %q", out)
	}
	web.refusedWithin("the access token", 2*time.Second, "", token)
	web.refusedWithin("the other cookie session", 2*time.Second, cookie2, "")
	// Logout-all logs the token's session (sid) and the user (sub, for
	// tokens issued before the current second): a token issued within the
	// same second is refused by its sid alone.
	r := cli(t, e, "", "token", "inspect", token)
	if r.code != 1 || !strings.Contains(r.stdout, "revoked by logout") {
		t.Errorf("token inspect after logout-all: exit %d:\n%s", r.code, r.stdout)
	}

	// Role, disable, enable, delete.
	ok(t, e, "", nil, "user", "set-role", "--user", "ada@example.com", "--role", "editor")
	ok(t, e, "", &shown, "user", "show", "--user", ada.ID, "--json")
	if shown.Role != "editor" || shown.LiveSessions != 0 {
		t.Errorf("after set-role and revoke: %+v", shown)
	}
	if r := cli(t, e, "", "user", "set-role", "--user", ada.ID, "--role", "Bad Role"); r.code != 2 {
		t.Errorf("set-role with a bad role: exit %d, want 2", r.code)
	}
	ok(t, e, "", nil, "user", "disable", "--user", "ada@example.com")
	if code, _, _ := web.do("POST", "/v1/login", "", "", map[string]string{"email": "ada@example.com", "password": passphrase}); code == 200 {
		t.Error("a disabled account logged in")
	}
	ok(t, e, "", nil, "user", "enable", "--user", "ada@example.com")
	token = web.loginToken("ada@example.com")
	ok(t, e, "", nil, "user", "delete", "--user", "ada@example.com", "--yes")
	web.refusedWithin("the deleted account's token", 2*time.Second, "", token)
	if r := cli(t, e, "", "user", "show", "--user", "ada@example.com"); r.code != 1 || !strings.Contains(r.stderr, `no user "ada@example.com"`) {
		t.Errorf("user show of a deleted account: exit %d, %q", r.code, r.stderr)
	}
	var again userJSON
	ok(t, e, passphrase+"\n", &again, "user", "add", "--email", "ada@example.com", "--json")
	if again.ID == ada.ID {
		t.Error("the new account has the deleted one's ID")
	}
}

// An operator removes the second factors of a person who lost them: the
// next login asks for the password alone, and the audit trail says so.
func TestUserResetMFA(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "latch.db")
	audit := filepath.Join(t.TempDir(), "audit.log")
	srv := startServe(t, db)
	web := client{t, srv.base}
	e := env{"LATCH_DB": db, "LATCH_AUDIT_LOG": audit}
	ok(t, e, passphrase+"\n", nil, "user", "add", "--email", "bea@example.com")
	token := web.loginToken("bea@example.com")
	code, doc, _ := web.do("POST", "/v1/mfa/totp", "", token, map[string]string{"current_password": passphrase})
	if code != 200 {
		t.Fatalf("TOTP setup: %d %v", code, doc)
	}
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(doc["secret"].(string))
	if err != nil {
		t.Fatal(err)
	}
	now, err := totp.Codes{}.Code(key, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if code, doc, _ = web.do("POST", "/v1/mfa/totp/confirm", "", token, map[string]string{"code": now}); code != 200 {
		t.Fatalf("TOTP confirm: %d %v", code, doc)
	}
	login := map[string]string{"email": "bea@example.com", "password": passphrase}
	if _, doc, _ = web.do("POST", "/v1/login", "", "", login); doc["mfa_required"] != true {
		t.Fatalf("login with TOTP on: %v", doc)
	}
	if r := cli(t, e, "", "user", "reset-mfa", "--user", "bea@example.com"); r.code != 2 {
		t.Errorf("reset-mfa without --yes: exit %d, want 2", r.code)
	}
	out := ok(t, e, "", nil, "user", "reset-mfa", "--user", "bea@example.com", "--yes")
	if !strings.Contains(out, "the password alone logs in now") {
		t.Errorf("reset-mfa printed %q", out)
	}
	if code, doc, _ = web.do("POST", "/v1/login", "", "", login); code != 200 || doc["mfa_required"] != nil || doc["user"] == nil {
		t.Fatalf("login after reset-mfa: %d %v", code, doc)
	}
	trail, err := os.ReadFile(audit)
	if err != nil || !strings.Contains(string(trail), `"factors_reset"`) || !strings.Contains(string(trail), `"actor":"cli"`) {
		t.Errorf("audit trail after reset-mfa: %v\n%s", err, trail)
	}
}

func hasReason(in inspection, code string) bool {
	for _, r := range in.Reasons {
		if r.Code == code {
			return true
		}
	}
	return false
}
