package webauthn_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/internal/testkit/authenticator"
	"github.com/latch-dev/latch/webauthn"
)

const origin = "https://login.example.com"

func newRP(t *testing.T) *webauthn.RelyingParty {
	t.Helper()
	rp, err := webauthn.New(webauthn.Config{RPID: "example.com", Origins: []string{origin}})
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

func TestNew(t *testing.T) {
	for _, c := range []struct {
		name    string
		rpID    string
		origins []string
		err     string // "" when valid
	}{
		{"origin on the rp ID", "example.com", []string{"https://example.com"}, ""},
		{"origin on a subdomain, with a port", "example.com", []string{"https://login.example.com:8443", "https://example.com/"}, ""},
		{"localhost over http", "localhost", []string{"http://localhost:8080"}, ""},
		{"no rp ID", "", []string{"https://example.com"}, "RPID is required"},
		{"an IP address", "127.0.0.1", []string{"https://127.0.0.1"}, "RPID"},
		{"a scheme", "https://example.com", []string{"https://example.com"}, "RPID"},
		{"a port", "example.com:443", []string{"https://example.com"}, "RPID"},
		{"no origin", "example.com", nil, "Origins"},
		{"plain http off localhost", "example.com", []string{"http://example.com"}, "plain http only on localhost"},
		{"another site", "example.com", []string{"https://example.org"}, "is not on the relying party"},
		{"a suffix that is no subdomain", "example.com", []string{"https://badexample.com"}, "is not on the relying party"},
		{"a path", "example.com", []string{"https://example.com/login"}, "scheme://host"},
		{"no scheme", "example.com", []string{"example.com"}, "Origins"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rp, err := webauthn.New(webauthn.Config{RPID: c.rpID, Origins: c.origins})
			switch {
			case c.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.err == "" && rp.RPID() != c.rpID:
				t.Fatalf("RPID() = %q", rp.RPID())
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("err = %v, want one saying %q", err, c.err)
			}
		})
	}
}

// register adds a passkey for u through the adapter, as the Service does.
func register(t *testing.T, rp *webauthn.RelyingParty, a *authenticator.Authenticator, u *latch.User, exclude ...*latch.Passkey) *latch.Passkey {
	t.Helper()
	c, err := rp.BeginRegistration(u, exclude)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Create(c.Options)
	if err != nil {
		t.Fatal(err)
	}
	r, err := rp.ReadResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	if r.Challenge != c.Challenge {
		t.Fatalf("the response carries challenge %q, the ceremony %q", r.Challenge, c.Challenge)
	}
	pk, err := rp.FinishRegistration(c.State, u, r)
	if err != nil {
		t.Fatal(err)
	}
	pk.UserID = u.ID
	return pk
}

// assert runs an assertion ceremony with allow and returns the outcome.
func assert(t *testing.T, rp *webauthn.RelyingParty, a *authenticator.Authenticator, pk *latch.Passkey, allow ...*latch.Passkey) (*latch.PasskeyUse, error) {
	t.Helper()
	c, err := rp.BeginLogin(allow)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Get(c.Options)
	if err != nil {
		t.Fatal(err)
	}
	r, err := rp.ReadResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	return rp.FinishLogin(c.State, r, pk)
}

func TestRelyingParty_registration(t *testing.T) {
	rp := newRP(t)
	a := authenticator.New(origin)
	u := &latch.User{ID: "user-id-1", Email: "ada@example.com"}
	c, err := rp.BeginRegistration(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	var opts struct {
		PublicKey struct {
			RP   struct{ ID, Name string }
			User struct {
				ID, Name, DisplayName string
			}
			AuthenticatorSelection struct {
				ResidentKey        string `json:"residentKey"`
				RequireResidentKey bool   `json:"requireResidentKey"`
				UserVerification   string `json:"userVerification"`
			} `json:"authenticatorSelection"`
			Attestation string `json:"attestation"`
			Timeout     int    `json:"timeout"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(c.Options, &opts); err != nil {
		t.Fatal(err)
	}
	o := opts.PublicKey
	if o.RP.ID != "example.com" || o.User.ID != "dXNlci1pZC0x" || o.User.Name != u.Email ||
		o.AuthenticatorSelection.ResidentKey != "required" || !o.AuthenticatorSelection.RequireResidentKey ||
		o.AuthenticatorSelection.UserVerification != "preferred" || o.Attestation != "none" || o.Timeout != 300000 {
		t.Fatalf("creation options %s", c.Options)
	}
	pk := register(t, rp, a, u)
	if len(pk.CredentialID) != 16 || pk.SignCount != 0 || len(pk.Data) == 0 {
		t.Fatalf("passkey %+v", pk)
	}
	if strings.Contains(string(pk.Data), u.Email) {
		t.Fatal("the stored record holds the address")
	}

	// Registering again from the same authenticator: it is excluded.
	c, err = rp.BeginRegistration(u, []*latch.Passkey{pk})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(c.Options), `"excludeCredentials":[{"type":"public-key","id":"`) {
		t.Fatalf("no excludeCredentials in %s", c.Options)
	}
	if _, err := a.Create(c.Options); !errors.Is(err, authenticator.ErrExcluded) {
		t.Fatalf("the authenticator made a second credential: %v", err)
	}
}

func TestRelyingParty_registrationRefused(t *testing.T) {
	u := &latch.User{ID: "user-id-1", Email: "ada@example.com"}
	for _, c := range []struct {
		name string
		bend func(a *authenticator.Authenticator)
	}{
		{"another origin", func(a *authenticator.Authenticator) { a.Origin = "https://login.example.org" }},
		{"another rp ID", func(a *authenticator.Authenticator) { a.RPID = "example.org" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			rp := newRP(t)
			a := authenticator.New(origin)
			c.bend(a)
			cer, err := rp.BeginRegistration(u, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := a.Create(cer.Options)
			if err != nil {
				t.Fatal(err)
			}
			r, err := rp.ReadResponse(resp)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rp.FinishRegistration(cer.State, u, r); !errors.Is(err, latch.ErrInvalidPasskey) {
				t.Fatalf("err = %v, want ErrInvalidPasskey", err)
			}
		})
	}
}

func TestRelyingParty_login(t *testing.T) {
	u := &latch.User{ID: "user-id-1", Email: "ada@example.com"}
	t.Run("discoverable", func(t *testing.T) {
		rp := newRP(t)
		a := authenticator.New(origin)
		pk := register(t, rp, a, u)
		c, err := rp.BeginLogin(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(c.Options), `"allowCredentials":[]`) || !strings.Contains(string(c.Options), `"rpId":"example.com"`) {
			t.Fatalf("request options %s", c.Options)
		}
		use, err := assert(t, rp, a, pk)
		if err != nil {
			t.Fatal(err)
		}
		if !use.UserVerified || use.CloneWarning || use.Passkey.SignCount != 1 {
			t.Fatalf("use %+v, passkey %+v", use, use.Passkey)
		}
		a.NoUserVerification = true
		use, err = assert(t, rp, a, use.Passkey)
		if err != nil || use.UserVerified || use.Passkey.SignCount != 2 {
			t.Fatalf("presence only: %+v, %v", use, err)
		}
	})
	t.Run("second step, allowCredentials", func(t *testing.T) {
		rp := newRP(t)
		a := authenticator.New(origin)
		other := authenticator.New(origin)
		pk := register(t, rp, a, u)
		pk2 := register(t, rp, other, u)
		c, err := rp.BeginLogin([]*latch.Passkey{pk, pk2})
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(c.Options), `"type":"public-key"`); n != 2 {
			t.Fatalf("%d allowed credentials in %s", n, c.Options)
		}
		a.OmitUserHandle = true
		if _, err := assert(t, rp, a, pk, pk, pk2); err != nil {
			t.Fatalf("the first of two passkeys, no user handle: %v", err)
		}
		// A passkey of the account that the ceremony did not allow.
		c, err = rp.BeginLogin([]*latch.Passkey{pk})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.Get(c.Options); !errors.Is(err, authenticator.ErrNoCredential) {
			t.Fatalf("the other authenticator answered options that do not allow its passkey: %v", err)
		}
		resp, err := other.GetWith(c.Options, other.Credentials()[0])
		if err != nil {
			t.Fatal(err)
		}
		r, err := rp.ReadResponse(resp)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rp.FinishLogin(c.State, r, pk2); !errors.Is(err, latch.ErrInvalidPasskey) {
			t.Fatalf("a passkey the ceremony did not allow: %v", err)
		}
	})
}

func TestRelyingParty_loginRefused(t *testing.T) {
	u := &latch.User{ID: "user-id-1", Email: "ada@example.com"}
	for _, c := range []struct {
		name  string
		bend  func(a *authenticator.Authenticator, pk *latch.Passkey)
		clone bool
	}{
		{"another origin", func(a *authenticator.Authenticator, _ *latch.Passkey) { a.Origin = "https://example.org" }, false},
		{"another rp ID", func(a *authenticator.Authenticator, _ *latch.Passkey) { a.RPID = "example.org" }, false},
		{"another account's user handle", func(a *authenticator.Authenticator, _ *latch.Passkey) {
			a.Credentials()[0].UserHandle = []byte("someone-else")
		}, false},
		{"another key", func(a *authenticator.Authenticator, _ *latch.Passkey) {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			a.Credentials()[0].Key = k
		}, false},
		{"a counter that went backwards", func(a *authenticator.Authenticator, pk *latch.Passkey) {
			pk.SignCount = 7
			a.Credentials()[0].Counter = 3
		}, true},
		{"a counter that stood still", func(a *authenticator.Authenticator, pk *latch.Passkey) {
			pk.SignCount = 4
			a.Credentials()[0].Counter = 3
		}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			rp := newRP(t)
			a := authenticator.New(origin)
			pk := register(t, rp, a, u)
			c.bend(a, pk)
			use, err := assert(t, rp, a, pk)
			if c.clone {
				if err != nil || !use.CloneWarning || use.Passkey.SignCount != pk.SignCount {
					t.Fatalf("use %+v, %v: want a clone warning and the counter kept", use, err)
				}
				return
			}
			if !errors.Is(err, latch.ErrInvalidPasskey) {
				t.Fatalf("err = %v, want ErrInvalidPasskey", err)
			}
		})
	}
}

// Outputs of extensions latch never asked for, which some clients add,
// fail neither ceremony.
func TestRelyingParty_unsolicitedExtensionOutputs(t *testing.T) {
	rp := newRP(t)
	a := authenticator.New(origin)
	a.ExtensionResults = map[string]any{"credProps": map[string]any{"rk": true}}
	u := &latch.User{ID: "user-id-1", Email: "ada@example.com"}
	pk := register(t, rp, a, u)
	if _, err := assert(t, rp, a, pk); err != nil {
		t.Fatalf("an assertion with an unsolicited credProps output: %v", err)
	}
}

func TestRelyingParty_readResponse(t *testing.T) {
	rp := newRP(t)
	for _, body := range []string{``, `{}`, `[]`, `{"rawId": "AAAA"}`, `{"rawId": "AAAA", "response": {"clientDataJSON": "e30"}}`, `{"rawId": 1}`} {
		if _, err := rp.ReadResponse([]byte(body)); !errors.Is(err, latch.ErrInvalidRequest) {
			t.Errorf("%q: %v, want ErrInvalidRequest", body, err)
		}
	}
}
