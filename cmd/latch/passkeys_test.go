package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latch-dev/latch/internal/testkit"
	"github.com/latch-dev/latch/internal/testkit/authenticator"
)

// The relying party from the flags, or derived from --public-url or the
// issuer; derived values that cannot work turn passkeys off (with the
// reason), explicit ones are an error.
func TestRelyingParty(t *testing.T) {
	for _, c := range []struct {
		name          string
		cfg           Config
		issuer        string
		rpID, origins string // want, when on
		off, err      string // want, when not
	}{
		{"from --public-url", Config{PublicURL: "https://auth.example.com/base"}, "http://127.0.0.1:8080", "auth.example.com", "https://auth.example.com", "", ""},
		{"from the issuer", Config{}, "https://login.example.com:8443", "login.example.com", "https://login.example.com:8443", "", ""},
		{"localhost over http", Config{}, "http://localhost:8080", "localhost", "http://localhost:8080", "", ""},
		{"a parent domain for several origins", Config{WebAuthnRPID: "example.com", WebAuthnOrigins: "https://a.example.com, https://b.example.com"},
			"http://127.0.0.1:8080", "example.com", "https://a.example.com,https://b.example.com", "", ""},
		{"the rp ID from the first origin", Config{WebAuthnOrigins: "https://id.example.com"}, "http://127.0.0.1:8080", "id.example.com", "https://id.example.com", "", ""},
		{"the default issuer: an IP address", Config{}, "http://127.0.0.1:8080", "", "", "IP address", ""},
		{"a public URL over plain http", Config{PublicURL: "http://auth.example.com"}, "", "", "", "plain http", ""},
		{"an explicit IP address", Config{WebAuthnRPID: "10.0.0.1"}, "https://auth.example.com", "", "", "", "--webauthn-rp-id"},
		{"an explicit origin another site's", Config{WebAuthnRPID: "example.com", WebAuthnOrigins: "https://auth.example.org"}, "", "", "", "", "is not on the relying party"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rp, off, err := relyingParty(&c.cfg, c.issuer)
			switch {
			case c.err != "":
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want one saying %q", err, c.err)
				}
			case err != nil:
				t.Fatalf("err = %v", err)
			case c.off != "":
				if rp != nil || !strings.Contains(off, c.off) {
					t.Fatalf("rp %v, off %q: want off because of %q", rp, off, c.off)
				}
			case c.rpID != "":
				if rp == nil || rp.RPID() != c.rpID || strings.Join(rp.Origins(), ",") != c.origins {
					t.Fatalf("rp %v (off %q), want %s on %s", rp, off, c.rpID, c.origins)
				}
			}
		})
	}
}

// latch serve on the embedded default, with the relying party from the
// flags: a passkey registered over HTTP (the software authenticator as the
// browser) logs in without a password, through the SQLite stores.
func TestServe_Passkeys(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const origin = "http://localhost:8443" // what the browser reports; latch need not listen there
	var stderr testkit.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--db", "sqlite:" + filepath.Join(t.TempDir(), "latch.db"),
			"--webauthn-origins", origin, "--login-ip-rate", "0"},
			strings.NewReader(""), &bytes.Buffer{}, &stderr, env{"LATCH_WEBAUTHN_RP_ID": "localhost"}.get)
	}()
	base := "http://" + listening(t, &stderr, done)
	if !strings.Contains(stderr.String(), `msg="passkeys on" rp_id=localhost origins=http://localhost:8443`) {
		t.Errorf("no passkeys line in the log: %s", stderr.String())
	}
	post := func(path string, body any, header ...string) map[string]any {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", base+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		var doc map[string]any
		_ = json.Unmarshal(raw, &doc)
		if res.StatusCode >= 300 {
			t.Fatalf("POST %s: %d %s", path, res.StatusCode, raw)
		}
		return doc
	}
	post("/v1/signup", map[string]string{"email": "keys@example.com", "password": "a-fine-long-passphrase"})
	tok := post("/v1/login", map[string]string{"email": "keys@example.com", "password": "a-fine-long-passphrase", "mode": "token"})
	auth := []string{"Authorization", "Bearer " + tok["access_token"].(string)}
	key := authenticator.New(origin)
	opts, _ := json.Marshal(post("/v1/webauthn/register/begin", map[string]string{}, auth...))
	cred, err := key.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	added := post("/v1/webauthn/register/finish", map[string]any{"credential": json.RawMessage(cred), "name": "Laptop"}, auth...)
	if added["credential"].(map[string]any)["name"] != "Laptop" {
		t.Fatalf("registered %v", added)
	}
	opts, _ = json.Marshal(post("/v1/login/passkey/begin", map[string]string{}))
	assertion, err := key.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	login := post("/v1/login/passkey/finish", map[string]any{"credential": json.RawMessage(assertion), "mode": "token"})
	if login["user"].(map[string]any)["email"] != "keys@example.com" || login["access_token"] == nil {
		t.Fatalf("passkey login %v", login)
	}
	cancel()
	<-done
}
