package http_test

import (
	"encoding/base32"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/latch-dev/latch/totp"
)

// authenticator is the test's copy of an account's TOTP app.
type authenticator struct {
	ts       *testServer
	secret   []byte
	recovery []string
}

// code is the app's code now, moved by steps.
func (a *authenticator) code(t testing.TB, steps int) string {
	t.Helper()
	c, err := totp.Codes{}.Code(a.secret, a.ts.Clock.Now().Add(time.Duration(steps)*30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// addTOTP sets up and confirms TOTP over the API, as a client would, and
// moves the clock past the confirming code's step.
func (ts *testServer) addTOTP(t testing.TB, s *session, pw string) *authenticator {
	t.Helper()
	r := ts.do(t, "POST", "/v1/mfa/totp", map[string]string{"current_password": pw}, as(s))
	r.want(t, 200, "")
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("TOTP setup answered with Cache-Control %q", r.Header.Get("Cache-Control"))
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(r.str(t, "secret"))
	if err != nil {
		t.Fatal(err)
	}
	a := &authenticator{ts: ts, secret: secret}
	r = ts.do(t, "POST", "/v1/mfa/totp/confirm", map[string]string{"code": a.code(t, 0)}, as(s))
	r.want(t, 200, "")
	for _, c := range r.json(t)["recovery_codes"].([]any) {
		a.recovery = append(a.recovery, c.(string))
	}
	if len(a.recovery) != 10 {
		t.Fatalf("%d recovery codes", len(a.recovery))
	}
	ts.Clock.Advance(30 * time.Second)
	return a
}

// mfaToken logs in with the password and returns the second step's token;
// the login must offer methods (default: TOTP and a recovery code).
func (ts *testServer) mfaToken(t testing.TB, body map[string]string, methods ...string) string {
	t.Helper()
	r := ts.do(t, "POST", "/v1/login", body)
	r.want(t, 200, "")
	m := r.json(t)
	if m["mfa_required"] != true || len(r.setCookies()) != 0 || m["user"] != nil || m["access_token"] != nil {
		t.Fatalf("login of an account with TOTP: %v, cookies %q", m, r.setCookies())
	}
	if len(methods) == 0 {
		methods = []string{"totp", "recovery_code"}
	}
	if got := fmt.Sprint(m["methods"]); got != fmt.Sprint(methods) {
		t.Fatalf("methods = %v, want %v", got, methods)
	}
	return r.str(t, "mfa_token")
}

func TestMFA_loginWithTOTP(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	app := ts.addTOTP(t, ts.MustLogin(t, addr, pw), pw)

	t.Run("session", func(t *testing.T) {
		tok := ts.mfaToken(t, map[string]string{"email": addr, "password": pw})
		r := ts.do(t, "POST", "/v1/login/mfa", map[string]string{"mfa_token": tok, "totp": app.code(t, 0)})
		r.want(t, 200, "")
		s := ts.sessionFrom(t, r, sessionCookie)
		who := ts.do(t, "GET", "/v1/whoami", nil, as(s))
		who.want(t, 200, "")
		if amr := who.json(t)["auth"].(map[string]any)["amr"]; !slices.Equal(amr.([]any), []any{"pwd", "otp", "mfa"}) {
			t.Fatalf("whoami auth.amr = %v", amr)
		}
		if who.str(t, "auth.auth_time") == "" {
			t.Fatal("whoami has no auth.auth_time")
		}
		ts.do(t, "POST", "/v1/login/mfa", map[string]string{"mfa_token": tok, "totp": app.code(t, 1)}).want(t, 400, "invalid_token")
	})
	ts.Clock.Advance(30 * time.Second)

	t.Run("token, refresh token in the body", func(t *testing.T) {
		tok := ts.mfaToken(t, map[string]string{"email": addr, "password": pw, "mode": "token", "refresh_delivery": "body"})
		r := ts.do(t, "POST", "/v1/login/mfa", map[string]string{"mfa_token": tok, "totp": app.code(t, 0)})
		r.want(t, 200, "")
		c := claimsOf(t, r.str(t, "access_token"))
		if !slices.Equal(c["amr"].([]any), []any{"pwd", "otp", "mfa"}) || c["auth_time"] == nil {
			t.Fatalf("access token claims %v", c)
		}
		if r.str(t, "refresh_token") == "" || r.cookie(refreshCookie) != nil {
			t.Fatal("the refresh token was not delivered in the body as the first step asked")
		}
		// A refreshed token keeps the login's amr and auth_time.
		ref := ts.do(t, "POST", "/v1/token/refresh", map[string]string{"refresh_token": r.str(t, "refresh_token")})
		ref.want(t, 200, "")
		if rc := claimsOf(t, ref.str(t, "access_token")); !slices.Equal(rc["amr"].([]any), c["amr"].([]any)) || rc["auth_time"] != c["auth_time"] {
			t.Fatalf("after refresh: amr %v auth_time %v, was %v %v", rc["amr"], rc["auth_time"], c["amr"], c["auth_time"])
		}
	})

	t.Run("a password login says amr pwd", func(t *testing.T) {
		other, opw := ts.newUser(t)
		tk := ts.MustTokenLogin(t, other, opw)
		if c := claimsOf(t, tk.Access); !slices.Equal(c["amr"].([]any), []any{"pwd"}) {
			t.Fatalf("amr = %v", c["amr"])
		}
	})
}

func TestMFA_secondStepRefusals(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	app := ts.addTOTP(t, ts.MustLogin(t, addr, pw), pw)
	login := map[string]string{"email": addr, "password": pw}
	mfa := func(tok, code string) *response {
		return ts.do(t, "POST", "/v1/login/mfa", map[string]string{"mfa_token": tok, "totp": code})
	}

	code := app.code(t, 0)
	mfa(ts.mfaToken(t, login), code).want(t, 200, "")
	tok := ts.mfaToken(t, login)
	mfa(tok, code).want(t, 401, "invalid_credentials") // replay within the step
	for _, c := range []map[string]string{
		{"mfa_token": tok},
		{"mfa_token": tok, "totp": code, "recovery_code": app.recovery[0]},
	} {
		ts.do(t, "POST", "/v1/login/mfa", c).want(t, 400, "invalid_request")
	}
	ts.do(t, "POST", "/v1/login/mfa", map[string]string{"totp": code}).want(t, 400, "invalid_request")
	mfa("not-a-token", code).want(t, 400, "invalid_token")

	// Four more wrong codes: five in all kill the token, and lock the account.
	for range 4 {
		mfa(tok, "000000").want(t, 401, "invalid_credentials")
	}
	ts.Clock.Advance(30 * time.Second)
	r := ts.do(t, "POST", "/v1/login", login)
	r.want(t, 429, "rate_limited")
	ts.Clock.Advance(15 * time.Minute)
	mfa(tok, app.code(t, 0)).want(t, 400, "invalid_token")

	// A recovery code works once.
	tok = ts.mfaToken(t, login)
	rec := map[string]string{"mfa_token": tok, "recovery_code": app.recovery[2]}
	ts.do(t, "POST", "/v1/login/mfa", rec).want(t, 200, "")
	rec["mfa_token"] = ts.mfaToken(t, login)
	ts.do(t, "POST", "/v1/login/mfa", rec).want(t, 401, "invalid_credentials")
}

func TestMFA_changesNeedRecentLoginPasswordAndCSRF(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	s := ts.MustLogin(t, addr, pw)
	ts.do(t, "POST", "/v1/mfa/totp", map[string]string{"current_password": "not it at all"}, as(s)).want(t, 403, "wrong_password")
	ts.do(t, "POST", "/v1/mfa/totp", map[string]string{"current_password": pw}, cookieOnly(s)).want(t, 403, "csrf_failed")
	ts.do(t, "POST", "/v1/mfa/totp", map[string]string{"current_password": pw}).want(t, 401, "unauthenticated")
	ts.do(t, "POST", "/v1/mfa/totp/confirm", map[string]string{"code": "123456"}, as(s)).want(t, 400, "invalid_request")

	ts.Clock.Advance(10*time.Minute + time.Second) // past --reauth-window
	for _, c := range []struct {
		method, path string
		body         map[string]string
	}{
		{"POST", "/v1/mfa/totp", map[string]string{"current_password": pw}},
		{"POST", "/v1/mfa/recovery-codes", map[string]string{"current_password": pw}},
		{"DELETE", "/v1/mfa/totp", map[string]string{"current_password": pw, "code": "123456"}},
		{"POST", "/v1/password", map[string]string{"current_password": pw, "new_password": "another-long-passphrase"}},
		{"POST", "/v1/email/change", map[string]string{"current_password": pw, "new_email": "new@example.com"}},
	} {
		ts.do(t, c.method, c.path, c.body, as(s)).want(t, 403, "reauth_required")
	}
	fresh := ts.MustLogin(t, addr, pw)
	ts.do(t, "POST", "/v1/mfa/totp", map[string]string{"current_password": pw}, as(fresh)).want(t, 200, "")
}

func TestMFA_removeAndRegenerate(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	s := ts.MustLogin(t, addr, pw)
	app := ts.addTOTP(t, s, pw)
	ts.do(t, "POST", "/v1/mfa/totp", map[string]string{"current_password": pw}, as(s)).want(t, 400, "invalid_request")

	r := ts.do(t, "POST", "/v1/mfa/recovery-codes", map[string]string{"current_password": pw}, as(s))
	r.want(t, 200, "")
	if n := len(r.json(t)["recovery_codes"].([]any)); n != 10 {
		t.Fatalf("%d new codes", n)
	}
	tok := ts.mfaToken(t, map[string]string{"email": addr, "password": pw})
	ts.do(t, "POST", "/v1/login/mfa", map[string]string{"mfa_token": tok, "recovery_code": app.recovery[0]}).want(t, 401, "invalid_credentials")

	ts.do(t, "DELETE", "/v1/mfa/totp", map[string]string{"current_password": pw, "code": "000000"}, as(s)).want(t, 401, "invalid_credentials")
	ts.do(t, "DELETE", "/v1/mfa/totp", map[string]string{"current_password": pw, "code": app.code(t, 0)}, as(s)).want(t, 204, "")
	r = ts.do(t, "POST", "/v1/login", map[string]string{"email": addr, "password": pw})
	r.want(t, 200, "")
	if r.json(t)["mfa_required"] != nil || r.cookie(sessionCookie) == nil {
		t.Fatal("login still asks for a second factor after TOTP was removed")
	}
}
