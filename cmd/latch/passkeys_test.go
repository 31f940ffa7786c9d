package main

import (
	"strings"
	"testing"
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
