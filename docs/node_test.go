package docs_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latch-dev/latch/internal/proctest"
	"github.com/latch-dev/latch/internal/testenv"
)

// TestNodeResourceServer runs examples/node-resource-server (the code of
// guide-node-service.md) against a real latch: installed from its lockfile
// with `npm ci` in a temporary copy, it must accept latch's token, refuse a
// tampered one and an unsigned one, refuse latch's token when configured
// for another audience or another algorithm, refuse a
// revoked one within a second (it follows /v1/revocations), and fail
// closed with 503 once latch is gone longer than its staleness bound.
func TestNodeResourceServer(t *testing.T) {
	node, errNode := exec.LookPath("node")
	npm, errNpm := exec.LookPath("npm")
	if errNode != nil || errNpm != nil {
		testenv.Unavailable(t, "node and npm", "the Node example needs node (v20.19+) and npm: %v %v", errNode, errNpm)
	}

	dir := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json", "server.js"} {
		b, err := os.ReadFile(filepath.Join("..", "examples", "node-resource-server", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	install.Dir = dir
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v\n%s", err, out)
	}

	const client = "node-api:node-api-secret-0123456789"
	lp := proctest.MustStart(t, "latch", latchBin, "serve", "--addr", "127.0.0.1:0",
		"--db", "sqlite:"+filepath.Join(t.TempDir(), "latch.db"), "--client", client)
	issuer := "http://" + lp.Addr
	waitReady(t, issuer)

	// The example reads its configuration from the environment; latch,
	// started above, has read its own already.
	t.Setenv("LATCH_ISSUER", issuer)
	t.Setenv("LATCH_CLIENT", client)
	t.Setenv("LATCH_AUDIENCE", "")
	t.Setenv("LATCH_ALG", "")
	t.Setenv("LATCH_NO_REVOCATION", "")
	t.Setenv("STALENESS_MS", "2000")
	t.Setenv("ADDR", "127.0.0.1:0")
	np := proctest.MustStart(t, "node-resource-server", node, filepath.Join(dir, "server.js"))
	api := "http://" + np.Addr
	waitStatus(t, api+"/readyz", "", http.StatusOK, 10*time.Second)

	signup(t, issuer, "grace@example.com", "correct horse battery")
	token := tokenLogin(t, issuer, "grace@example.com", "correct horse battery")

	t.Run("accepts latch's token", func(t *testing.T) {
		status, body := get(t, api+"/api/hello", token)
		if status != http.StatusOK || !strings.Contains(body, `"role":"user"`) {
			t.Fatalf("GET /api/hello: %d %s", status, body)
		}
	})

	header, claims, sig := splitJWT(t, token)
	for _, tc := range []struct{ name, token string }{
		{"tampered claims", header + "." + reencode(t, claims, func(c map[string]any) { c["role"] = "admin" }) + "." + sig},
		{"alg none", reencode(t, header, func(h map[string]any) { h["alg"] = "none" }) + "." + claims + "."},
		{"signature of another token", header + "." + claims + "." + sig[:len(sig)-8] + "AAAAAAAA"},
		{"not a JWT", "not-a-jwt"},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			status, body := get(t, api+"/api/hello", tc.token)
			if status != http.StatusUnauthorized {
				t.Fatalf("GET /api/hello: %d %s, want 401", status, body)
			}
		})
	}

	// A valid token is refused by a service that expects another audience,
	// or allows only another algorithm: the checks are really made.
	for _, tc := range []struct{ name, env, value string }{
		{"another audience", "LATCH_AUDIENCE", "https://billing.example"},
		{"another algorithm", "LATCH_ALG", "ES256"},
	} {
		t.Run("with "+tc.name+" refuses latch's token", func(t *testing.T) {
			t.Setenv("LATCH_NO_REVOCATION", "1")
			t.Setenv(tc.env, tc.value)
			p := proctest.MustStart(t, "node-resource-server", node, filepath.Join(dir, "server.js"))
			waitStatus(t, "http://"+p.Addr+"/readyz", "", http.StatusOK, 10*time.Second)
			if status, body := get(t, "http://"+p.Addr+"/api/hello", token); status != http.StatusUnauthorized {
				t.Fatalf("GET /api/hello: %d %s, want 401", status, body)
			}
		})
	}

	t.Run("refuses a revoked token within a second", func(t *testing.T) {
		tok := tokenLogin(t, issuer, "grace@example.com", "correct horse battery")
		if status, body := get(t, api+"/api/hello", tok); status != http.StatusOK {
			t.Fatalf("before logout: %d %s", status, body)
		}
		req, _ := http.NewRequest(http.MethodPost, issuer+"/v1/logout", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("logout: %d", resp.StatusCode)
		}
		waitStatus(t, api+"/api/hello", tok, http.StatusUnauthorized, time.Second)
		// The first token, of another family, is still good.
		if status, body := get(t, api+"/api/hello", token); status != http.StatusOK {
			t.Fatalf("the other login's token: %d %s", status, body)
		}
	})

	t.Run("fails closed when latch is gone", func(t *testing.T) {
		lp.Kill()
		// STALENESS_MS=2000: within a few seconds every token gets 503.
		waitStatus(t, api+"/api/hello", token, http.StatusServiceUnavailable, 10*time.Second)
		if status, _ := get(t, api+"/readyz", ""); status != http.StatusServiceUnavailable {
			t.Fatalf("/readyz: %d, want 503", status)
		}
	})
}

// get makes a GET with an optional bearer token and returns status and body.
func get(t *testing.T, url, bearer string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitStatus polls url until it answers want, or fails after d.
func waitStatus(t *testing.T, url, bearer string, want int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		status, body := get(t, url, bearer)
		if status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: still %d %s after %s, want %d", url, status, body, d, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// post sends JSON and decodes the JSON answer into out (when not nil).
func post(t *testing.T, url string, in, out any, want int) {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("POST %s: %d %s, want %d", url, resp.StatusCode, body, want)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatal(err)
		}
	}
}

func signup(t *testing.T, base, addr, pw string) {
	t.Helper()
	post(t, base+"/v1/signup", map[string]string{"email": addr, "password": pw}, nil, http.StatusCreated)
}

// tokenLogin returns an access token of a new token login.
func tokenLogin(t *testing.T, base, addr, pw string) string {
	t.Helper()
	var res struct {
		AccessToken string `json:"access_token"`
	}
	post(t, base+"/v1/login", map[string]string{"email": addr, "password": pw, "mode": "token", "refresh_delivery": "body"},
		&res, http.StatusOK)
	if res.AccessToken == "" {
		t.Fatal("no access token")
	}
	return res.AccessToken
}

func splitJWT(t *testing.T, tok string) (string, string, string) {
	t.Helper()
	p := strings.Split(tok, ".")
	if len(p) != 3 {
		t.Fatalf("not a JWS: %q", tok)
	}
	return p[0], p[1], p[2]
}

// reencode decodes a JWT segment, lets change alter it, and encodes it again.
func reencode(t *testing.T, seg string, change func(map[string]any)) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	change(m)
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
