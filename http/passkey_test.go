package http_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	softkey "github.com/latch-dev/latch/internal/testkit/authenticator"
)

// browserKey is a platform authenticator in a browser on the test
// server's relying party.
func (ts *testServer) browserKey() *softkey.Authenticator {
	return softkey.New(ts.PasskeyOrigin)
}

// options reads a begin answer: 200, not stored, {"publicKey": {...}}.
func options(t testing.TB, r *response) []byte {
	t.Helper()
	r.want(t, 200, "")
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("options answered with Cache-Control %q", cc)
	}
	var o struct {
		PublicKey map[string]any `json:"publicKey"`
	}
	if err := json.Unmarshal(r.Body, &o); err != nil || o.PublicKey["challenge"] == nil {
		t.Fatalf("not WebAuthn options: %s", r.Body)
	}
	return r.Body
}

// addPasskey registers a passkey of a over the API, as the account page's
// script would, and returns the answer's credential.
func (ts *testServer) addPasskey(t testing.TB, s *session, a *softkey.Authenticator, name string) map[string]any {
	t.Helper()
	opts := options(t, ts.do(t, "POST", "/v1/webauthn/register/begin", nil, as(s)))
	cred, err := a.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"credential": json.RawMessage(cred)}
	if name != "" {
		body["name"] = name
	}
	r := ts.do(t, "POST", "/v1/webauthn/register/finish", body, as(s))
	r.want(t, 201, "")
	return r.json(t)["credential"].(map[string]any)
}

// passkeyLogin runs both steps of a passwordless login; extra fields
// (mode, refresh_delivery) go with the finish.
func (ts *testServer) passkeyLogin(t testing.TB, a *softkey.Authenticator, extra map[string]string, opts ...reqOpt) *response {
	t.Helper()
	o := options(t, ts.do(t, "POST", "/v1/login/passkey/begin", nil, opts...))
	cred, err := a.Get(o)
	if err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"credential": json.RawMessage(cred)}
	for k, v := range extra {
		body[k] = v
	}
	return ts.do(t, "POST", "/v1/login/passkey/finish", body, opts...)
}

// amrOf is whoami's auth.amr for a session.
func (ts *testServer) amrOf(t testing.TB, s *session) []any {
	t.Helper()
	who := ts.do(t, "GET", "/v1/whoami", nil, as(s))
	who.want(t, 200, "")
	return who.json(t)["auth"].(map[string]any)["amr"].([]any)
}

func TestPasskey_registerListRename(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	s := ts.MustLogin(t, addr, pw)
	key := ts.browserKey()

	opts := options(t, ts.do(t, "POST", "/v1/webauthn/register/begin", "{}", as(s)))
	var o struct {
		PublicKey struct {
			RP                     struct{ ID string }
			User                   struct{ ID, Name string }
			ExcludeCredentials     []any          `json:"excludeCredentials"`
			AuthenticatorSelection map[string]any `json:"authenticatorSelection"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(opts, &o); err != nil {
		t.Fatal(err)
	}
	if o.PublicKey.RP.ID != "localhost" || o.PublicKey.User.Name != addr || strings.Contains(string(opts), `"id":"`+addr) ||
		o.PublicKey.AuthenticatorSelection["residentKey"] != "required" || o.PublicKey.AuthenticatorSelection["userVerification"] != "preferred" {
		t.Fatalf("creation options %s", opts)
	}
	cred, err := key.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	r := ts.do(t, "POST", "/v1/webauthn/register/finish", map[string]any{"credential": json.RawMessage(cred)}, as(s))
	r.want(t, 201, "")
	first := r.json(t)["credential"].(map[string]any)
	if first["name"] != "Passkey 1" || first["id"] != key.Credentials()[0].IDString() || first["created_at"] == nil || first["last_used_at"] != nil {
		t.Fatalf("registered %v", first)
	}
	ts.do(t, "POST", "/v1/webauthn/register/finish", map[string]any{"credential": json.RawMessage(cred)}, as(s)).want(t, 400, "invalid_token")

	// The same authenticator is excluded; another one, named.
	opts = options(t, ts.do(t, "POST", "/v1/webauthn/register/begin", nil, as(s)))
	if _, err := key.Create(opts); !errors.Is(err, softkey.ErrExcluded) {
		t.Fatalf("a second credential on one authenticator: %v", err)
	}
	ts.Clock.Advance(time.Second)
	second := ts.addPasskey(t, s, ts.browserKey(), "Work laptop")

	r = ts.do(t, "GET", "/v1/webauthn/credentials", nil, as(s))
	r.want(t, 200, "")
	list := r.json(t)["credentials"].([]any)
	if len(list) != 2 || list[0].(map[string]any)["id"] != first["id"] || list[1].(map[string]any)["name"] != "Work laptop" {
		t.Fatalf("credentials %s", r.Body)
	}

	r = ts.do(t, "PATCH", "/v1/webauthn/credentials/"+second["id"].(string), map[string]string{"name": "Desk"}, as(s))
	r.want(t, 200, "")
	if got := r.json(t)["credential"].(map[string]any); got["name"] != "Desk" || got["id"] != second["id"] {
		t.Fatalf("renamed %v", got)
	}
	for _, c := range []struct {
		id, name string
		status   int
		code     string
	}{
		{second["id"].(string), "", 400, "invalid_request"},
		{second["id"].(string), strings.Repeat("n", 65), 400, "invalid_request"},
		{"AAAA", "x", 404, "not_found"},
		{"not base64!", "x", 404, "not_found"},
	} {
		ts.do(t, "PATCH", "/v1/webauthn/credentials/"+c.id, map[string]string{"name": c.name}, as(s)).want(t, c.status, c.code)
	}

	// Another account sees none of them and can touch none of them.
	oa, opw := ts.newUser(t)
	other := ts.MustLogin(t, oa, opw)
	r = ts.do(t, "GET", "/v1/webauthn/credentials", nil, as(other))
	r.want(t, 200, "")
	if string(r.Body) != "{\"credentials\":[]}\n" {
		t.Fatalf("another account's list: %s", r.Body)
	}
	ts.do(t, "PATCH", "/v1/webauthn/credentials/"+second["id"].(string), map[string]string{"name": "Mine"}, as(other)).want(t, 404, "not_found")
	ts.do(t, "DELETE", "/v1/webauthn/credentials/"+second["id"].(string), nil, as(other)).want(t, 404, "not_found")

	// The account now needs a second factor at login: the passkey.
	r = ts.do(t, "POST", "/v1/login", map[string]string{"email": addr, "password": pw})
	r.want(t, 200, "")
	if m := r.json(t); m["mfa_required"] != true || !slices.Equal(m["methods"].([]any), []any{"webauthn"}) {
		t.Fatalf("password login of an account with passkeys: %s", r.Body)
	}
}

func TestPasskey_CSRFAndAuth(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	s := ts.MustLogin(t, addr, pw)
	pk := ts.addPasskey(t, s, ts.browserKey(), "")
	id := pk["id"].(string)
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/webauthn/register/begin", nil},
		{"POST", "/v1/webauthn/register/finish", map[string]any{"credential": map[string]string{}}},
		{"PATCH", "/v1/webauthn/credentials/" + id, map[string]string{"name": "x"}},
		{"DELETE", "/v1/webauthn/credentials/" + id, nil},
	} {
		ts.do(t, c.method, c.path, c.body, cookieOnly(s)).want(t, 403, "csrf_failed")
		ts.do(t, c.method, c.path, c.body, as(s), header("Sec-Fetch-Site", "cross-site")).want(t, 403, "csrf_failed")
		ts.do(t, c.method, c.path, c.body).want(t, 401, "unauthenticated")
	}
	ts.do(t, "GET", "/v1/webauthn/credentials", nil).want(t, 401, "unauthenticated")
	for _, path := range []string{"/v1/login/passkey/begin", "/v1/login/passkey/finish", "/v1/login/mfa/webauthn/begin", "/v1/login/mfa/webauthn/finish"} {
		ts.do(t, "POST", path, "{}", header("Origin", "https://evil.example")).want(t, 403, "csrf_failed")
	}
	// A bearer token needs no CSRF token.
	ta, tpw := ts.newUser(t)
	tk := ts.MustTokenLogin(t, ta, tpw)
	options(t, ts.do(t, "POST", "/v1/webauthn/register/begin", nil, bearer(tk.Access)))
}

func TestPasskey_passwordlessLogin(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	key := ts.browserKey()
	ts.addPasskey(t, ts.MustLogin(t, addr, pw), key, "")

	t.Run("options", func(t *testing.T) {
		o := options(t, ts.do(t, "POST", "/v1/login/passkey/begin", nil))
		var got struct {
			PublicKey struct {
				RPID             string `json:"rpId"`
				AllowCredentials []any  `json:"allowCredentials"`
				UserVerification string `json:"userVerification"`
			} `json:"publicKey"`
		}
		if err := json.Unmarshal(o, &got); err != nil || got.PublicKey.RPID != "localhost" ||
			got.PublicKey.AllowCredentials == nil || len(got.PublicKey.AllowCredentials) != 0 || got.PublicKey.UserVerification != "preferred" {
			t.Fatalf("request options %s", o)
		}
		ts.do(t, "POST", "/v1/login/passkey/begin", `{"email": "x"}`).want(t, 400, "invalid_request")
	})
	t.Run("session", func(t *testing.T) {
		pa, ppw := ts.newUser(t)
		planted := ts.MustLogin(t, pa, ppw)
		r := ts.passkeyLogin(t, key, nil, withCookie(sessionCookie, planted.Secret))
		r.want(t, 200, "")
		s := ts.sessionFrom(t, r, sessionCookie)
		if r.str(t, "user.email") != addr || r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("login answer %s", r.Body)
		}
		if amr := ts.amrOf(t, s); !slices.Equal(amr, []any{"hwk", "mfa"}) {
			t.Fatalf("amr %v", amr)
		}
		ts.do(t, "GET", "/v1/whoami", nil, as(planted)).want(t, 401, "unauthenticated")
	})
	t.Run("token, refresh token in the body", func(t *testing.T) {
		r := ts.passkeyLogin(t, key, map[string]string{"mode": "token", "refresh_delivery": "body"})
		r.want(t, 200, "")
		if r.str(t, "refresh_token") == "" || r.cookie(refreshCookie) != nil {
			t.Fatalf("token login %s", r.Body)
		}
		if c := claimsOf(t, r.str(t, "access_token")); !slices.Equal(c["amr"].([]any), []any{"hwk", "mfa"}) || c["auth_time"] == nil {
			t.Fatalf("claims %v", c)
		}
	})
	t.Run("token, refresh token in a cookie; presence only", func(t *testing.T) {
		key.NoUserVerification = true
		defer func() { key.NoUserVerification = false }()
		r := ts.passkeyLogin(t, key, map[string]string{"mode": "token"})
		r.want(t, 200, "")
		if r.cookie(refreshCookie) == nil {
			t.Fatal("no refresh cookie")
		}
		if c := claimsOf(t, r.str(t, "access_token")); !slices.Equal(c["amr"].([]any), []any{"hwk"}) {
			t.Fatalf("amr without user verification %v", c["amr"])
		}
	})
	t.Run("refusals", func(t *testing.T) {
		o := options(t, ts.do(t, "POST", "/v1/login/passkey/begin", nil))
		cred, _ := key.Get(o)
		finish := func(body any) *response { return ts.do(t, "POST", "/v1/login/passkey/finish", body) }
		finish(map[string]any{"credential": json.RawMessage(cred), "mode": "bearer"}).want(t, 400, "invalid_request")
		finish(map[string]any{"credential": json.RawMessage(cred)}).want(t, 200, "")
		finish(map[string]any{"credential": json.RawMessage(cred)}).want(t, 400, "invalid_token") // replay
		finish(map[string]any{}).want(t, 400, "invalid_request")
		finish(map[string]any{"credential": "not an object"}).want(t, 400, "invalid_request")

		key.Origin = "https://evil.example"
		ts.passkeyLogin(t, key, nil).want(t, 401, "invalid_credentials")
		key.Origin = ts.PasskeyOrigin
		key.RPID = "evil.example"
		ts.passkeyLogin(t, key, nil).want(t, 401, "invalid_credentials")
		key.RPID = ""
		stranger := newTestServer(t)
		sa, spw := stranger.newUser(t)
		strangerKey := stranger.browserKey()
		stranger.addPasskey(t, stranger.MustLogin(t, sa, spw), strangerKey, "")
		strangerKey.Origin = ts.PasskeyOrigin // an origin latch accepts, a credential it never saw
		r := ts.passkeyLogin(t, strangerKey, nil)
		r.want(t, 401, "invalid_credentials")
		if r.str(t, "title") != "The passkey was not accepted." {
			t.Fatalf("title %q", r.str(t, "title"))
		}
	})
}

func TestPasskey_secondFactorLogin(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	key := ts.browserKey()
	ts.addPasskey(t, ts.MustLogin(t, addr, pw), key, "")
	mfaToken := func(body map[string]string) string {
		r := ts.do(t, "POST", "/v1/login", body)
		r.want(t, 200, "")
		return r.str(t, "mfa_token")
	}
	step := func(tok string, bend func([]byte) []byte) *response {
		o := options(t, ts.do(t, "POST", "/v1/login/mfa/webauthn/begin", map[string]string{"mfa_token": tok}))
		if !strings.Contains(string(o), key.Credentials()[0].IDString()) {
			t.Fatalf("the options do not allow the account's passkey: %s", o)
		}
		cred, err := key.Get(o)
		if err != nil {
			t.Fatal(err)
		}
		if bend != nil {
			cred = bend(cred)
		}
		return ts.do(t, "POST", "/v1/login/mfa/webauthn/finish", map[string]any{"mfa_token": tok, "credential": json.RawMessage(cred)})
	}

	r := step(mfaToken(map[string]string{"email": addr, "password": pw}), nil)
	r.want(t, 200, "")
	if amr := ts.amrOf(t, ts.sessionFrom(t, r, sessionCookie)); !slices.Equal(amr, []any{"pwd", "hwk", "mfa"}) {
		t.Fatalf("amr %v", amr)
	}
	r = step(mfaToken(map[string]string{"email": addr, "password": pw, "mode": "token", "refresh_delivery": "body"}), nil)
	r.want(t, 200, "")
	if r.str(t, "refresh_token") == "" || !slices.Equal(claimsOf(t, r.str(t, "access_token"))["amr"].([]any), []any{"pwd", "hwk", "mfa"}) {
		t.Fatalf("token login %s", r.Body)
	}

	tok := mfaToken(map[string]string{"email": addr, "password": pw})
	step(tok, func(c []byte) []byte {
		return []byte(strings.Replace(string(c), `"signature":"`, `"signature":"AAAA`, 1))
	}).want(t, 401, "invalid_credentials")
	ts.do(t, "POST", "/v1/login/mfa/webauthn/begin", map[string]string{"mfa_token": "unknown"}).want(t, 400, "invalid_token")
	ts.do(t, "POST", "/v1/login/mfa/webauthn/begin", map[string]string{}).want(t, 400, "invalid_request")
	ts.do(t, "POST", "/v1/login/mfa/webauthn/finish", map[string]any{"mfa_token": tok}).want(t, 400, "invalid_request")
	// The assertion of a passwordless ceremony is not this step's.
	o := options(t, ts.do(t, "POST", "/v1/login/passkey/begin", nil))
	cred, _ := key.Get(o)
	ts.do(t, "POST", "/v1/login/mfa/webauthn/finish", map[string]any{"mfa_token": tok, "credential": json.RawMessage(cred)}).want(t, 400, "invalid_token")
	step(tok, nil).want(t, 200, "") // one failed assertion left the mfa_token alive
}

// A counter that goes backwards refuses the login and lands in the audit
// trail as passkey_clone_suspected.
func TestPasskey_clonedAuthenticator(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	key := ts.browserKey()
	ts.addPasskey(t, ts.MustLogin(t, addr, pw), key, "Phone")
	for range 2 {
		ts.passkeyLogin(t, key, nil).want(t, 200, "")
	}
	key.Credentials()[0].Counter = 0
	ts.passkeyLogin(t, key, nil).want(t, 401, "invalid_credentials")
	trail := ts.Audit.String()
	if !strings.Contains(trail, `"event":"passkey_clone_suspected"`) || !strings.Contains(trail, `"detail":"Phone"`) {
		t.Fatalf("no clone event in the audit trail:\n%s", trail)
	}
	for _, event := range []string{"passkey_added"} {
		if !strings.Contains(trail, `"event":"`+event+`"`) {
			t.Errorf("no %s in the audit trail", event)
		}
	}
}

func TestPasskey_remove(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	key := ts.browserKey()
	s := ts.MustLogin(t, addr, pw)
	first := ts.addPasskey(t, s, key, "")
	spare := ts.addPasskey(t, s, ts.browserKey(), "Spare")
	path := func(pk map[string]any) string { return "/v1/webauthn/credentials/" + pk["id"].(string) }

	ts.do(t, "DELETE", path(spare), nil, as(s)).want(t, 204, "")
	ts.do(t, "DELETE", path(spare), nil, as(s)).want(t, 404, "not_found")
	// The last factor, from the password-only session that added it.
	ts.do(t, "DELETE", path(first), map[string]string{"current_password": pw}, as(s)).want(t, 403, "reauth_required")
	r := ts.passkeyLogin(t, key, nil)
	r.want(t, 200, "")
	ps := ts.sessionFrom(t, r, sessionCookie)
	ts.do(t, "DELETE", path(first), nil, as(ps)).want(t, 400, "invalid_request")
	ts.do(t, "DELETE", path(first), map[string]string{"current_password": "not it"}, as(ps)).want(t, 403, "wrong_password")
	ts.do(t, "DELETE", path(first), `{"current_password": "`+pw+`"}`, as(ps)).want(t, 204, "")
	r = ts.do(t, "POST", "/v1/login", map[string]string{"email": addr, "password": pw})
	r.want(t, 200, "")
	if r.json(t)["mfa_required"] != nil {
		t.Fatal("the account still asks for a second factor")
	}
	if !strings.Contains(ts.Audit.String(), `"event":"passkey_removed"`) {
		t.Fatal("no passkey_removed in the audit trail")
	}
}

func TestPasskey_stepUp(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	s := ts.MustLogin(t, addr, pw)
	pk := ts.addPasskey(t, s, ts.browserKey(), "")
	opts := options(t, ts.do(t, "POST", "/v1/webauthn/register/begin", nil, as(s)))
	cred, err := ts.browserKey().Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts.Clock.Advance(10*time.Minute + time.Second) // past --reauth-window
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/webauthn/register/begin", nil},
		{"POST", "/v1/webauthn/register/finish", map[string]any{"credential": json.RawMessage(cred)}},
		{"PATCH", "/v1/webauthn/credentials/" + pk["id"].(string), map[string]string{"name": "x"}},
		{"DELETE", "/v1/webauthn/credentials/" + pk["id"].(string), map[string]string{"current_password": pw}},
	} {
		ts.do(t, c.method, c.path, c.body, as(s)).want(t, 403, "reauth_required")
	}
	ts.do(t, "GET", "/v1/webauthn/credentials", nil, as(s)).want(t, 200, "")
}

func TestPasskey_loginRoutesLimitedPerIP(t *testing.T) {
	ts := newTestServer(t, withIPRate(1))
	for range 3 { // the burst
		ts.do(t, "POST", "/v1/login/passkey/begin", nil).want(t, 200, "")
	}
	for _, path := range []string{"/v1/login/passkey/begin", "/v1/login/passkey/finish", "/v1/login/mfa/webauthn/begin", "/v1/login/mfa/webauthn/finish"} {
		r := ts.do(t, "POST", path, "{}")
		r.want(t, 429, "rate_limited")
		if r.Header.Get("Retry-After") == "" {
			t.Fatalf("%s: no Retry-After", path)
		}
	}
}
