package http_test

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/latch-dev/latch/docs"
	softkey "github.com/latch-dev/latch/internal/testkit/authenticator"
)

// docs/openapi.yaml against the real router, in both directions: every
// route registered is documented and every documented route is served
// with exactly its methods; every response a request below gets is
// documented (status, and problem code in x-problem-codes); and every
// status and problem code the document lists is produced by some request.

// spec parses the embedded document into libopenapi's 3.1 model.
func spec(t *testing.T) (libopenapi.Document, *v3.Document) {
	t.Helper()
	doc, err := libopenapi.NewDocument(docs.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	m, err := doc.BuildV3Model()
	if err != nil {
		t.Fatalf("building the model: %v", err)
	}
	return doc, &m.Model
}

// The document is valid OpenAPI 3.1, by libopenapi-validator (its JSON
// Schema of the 3.1 specification).
func TestOpenAPI_valid(t *testing.T) {
	doc, m := spec(t)
	if m.Version != "3.1.0" {
		t.Fatalf("openapi %q, want 3.1.0", m.Version)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("%s: %s", e.Message, e.Reason)
		}
	}
}

// docPath is the OpenAPI path of a ServeMux pattern.
func docPath(pattern string) string {
	switch pattern {
	case "/{$}":
		return "/"
	case "/static/":
		return "/static/{file}"
	}
	return pattern
}

// operations lists the document's operations as "METHOD path".
func operations(m *v3.Document) map[string]*v3.Operation {
	ops := map[string]*v3.Operation{}
	for path, item := range m.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			ops[strings.ToUpper(method)+" "+path] = op
		}
	}
	return ops
}

func TestOpenAPI_routes(t *testing.T) {
	_, m := spec(t)
	ts := newTestServer(t, withAdminKey("admin-key"))
	documented := operations(m)
	served := map[string]bool{}
	for pattern, methods := range ts.Server.Routes() {
		for _, method := range methods {
			op := method + " " + docPath(pattern)
			served[op] = true
			if documented[op] == nil {
				t.Errorf("%s is served but not documented", op)
			}
		}
	}
	for op := range documented {
		if !served[op] {
			t.Errorf("%s is documented but not served", op)
		}
	}
	// Served means routed: a method the path does not serve gets 405 with
	// an Allow header listing exactly the documented methods (GET brings
	// HEAD); the catch-all would answer 404.
	for path, item := range m.Paths.PathItems.FromOldest() {
		var want []string
		for method := range item.GetOperations().FromOldest() {
			want = append(want, strings.ToUpper(method))
		}
		slices.Sort(want)
		real := strings.ReplaceAll(strings.ReplaceAll(path, "{id}", "x"), "{file}", "style.css")
		r := ts.do(t, "PUT", real, nil, header("Authorization", "Bearer admin-key"))
		if r.Status != 405 {
			t.Errorf("PUT %s: %d, want 405 (is the path routed?)", path, r.Status)
			continue
		}
		if got := r.Header.Get("Allow"); got != strings.Join(want, ", ") {
			t.Errorf("%s: Allow %q, documented %v", path, got, want)
		}
	}
}

// outcome is one answer: an operation, a status and a problem code ("" when
// the answer is not a problem document).
type outcome struct {
	op     string
	status int
	code   string
}

// documentedOutcomes lists what the document says each operation answers,
// the default response aside.
func documentedOutcomes(t *testing.T, m *v3.Document) map[outcome]bool {
	t.Helper()
	out := map[outcome]bool{}
	for op, o := range operations(m) {
		for code, resp := range o.Responses.Codes.FromOldest() {
			var status int
			if _, err := fmt.Sscan(code, &status); err != nil {
				t.Fatalf("%s: response %q", op, code)
			}
			codes := problemCodes(t, resp)
			if len(codes) == 0 || hasNonProblem(resp) {
				out[outcome{op, status, ""}] = true
			}
			for _, c := range codes {
				out[outcome{op, status, c}] = true
			}
		}
	}
	return out
}

func problemCodes(t *testing.T, r *v3.Response) []string {
	t.Helper()
	if r.Extensions == nil {
		return nil
	}
	n, ok := r.Extensions.Get("x-problem-codes")
	if !ok {
		return nil
	}
	var codes []string
	if err := n.Decode(&codes); err != nil {
		t.Fatal(err)
	}
	return codes
}

// hasNonProblem reports whether a response may come as something other
// than a problem document (an HTML page, no body at all).
func hasNonProblem(r *v3.Response) bool {
	if r.Content == nil || r.Content.Len() == 0 {
		return true
	}
	for ct := range r.Content.KeysFromOldest() {
		if ct != "application/problem+json" {
			return true
		}
	}
	return false
}

// probe is one request of the response test.
type probe struct {
	op     string // "METHOD /documented/path"
	path   string // the real path, when it differs
	body   any
	opts   []reqOpt
	server *testServer // nil: the shared one
	before func(t *testing.T)
	after  func()
	stream bool // read only the head (the revocation stream)
}

func TestOpenAPI_responses(t *testing.T) {
	_, m := spec(t)
	documented := documentedOutcomes(t, m)
	ts := newTestServer(t, withAdminKey("admin-key"), withClient("api", "api-secret"), withLockout(3, time.Hour))
	limited := newTestServer(t, withIPRate(0.001)) // one login or signup per IP, then 429
	limited.do(t, "POST", "/v1/login", loginBody("first@example.com", "x"))
	addr, pw := ts.newUser(t)
	s := ts.MustLogin(t, addr, pw)
	other := ts.MustLogin(t, addr, pw)
	tok := ts.MustTokenLogin(t, addr, pw)
	spent := ts.MustTokenLogin(t, addr, pw)
	ts.MustRefresh(t, spent.Refresh)
	disabledAddr, disabledPW := ts.newUser(t)
	disabled := ts.MustLogin(t, disabledAddr, disabledPW)
	ts.do(t, "POST", "/v1/admin/users/"+disabled.UserID+"/disable", nil, bearer("admin-key")).want(t, 204, "")
	lockedAddr := "locked@example.com"
	for range 3 {
		ts.do(t, "POST", "/v1/login", loginBody(lockedAddr, "wrong password")).want(t, 401, "invalid_credentials")
	}
	etag := ts.do(t, "GET", "/static/style.css", nil).Header.Get("ETag")

	admin := bearer("admin-key")
	client := func(r *http.Request) { r.SetBasicAuth("api", "api-secret") }
	form := ctype("application/x-www-form-urlencoded")
	crossSite := header("Sec-Fetch-Site", "cross-site")
	outage := func(*testing.T) { ts.Faults.all(true) }
	restore := func() { ts.Faults.all(false) }
	big := `{"email":"` + strings.Repeat("a", 70<<10) + `"}`
	huge := header("X-Huge", strings.Repeat("h", 65<<10))
	pageForm := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	fresh := func() string { a, _ := ts.newUser(t); return a }
	uid := s.UserID
	// The probes that end sessions or change a password do it to users of
	// their own, so that s, other and tok stay alive.
	victimAddr, victimPW := ts.newUser(t)
	var ended *session
	logoutProbe := func(op string) probe {
		return probe{op: op, before: func(*testing.T) { ended = ts.MustLogin(t, victimAddr, victimPW) }, opts: []reqOpt{func(r *http.Request) { as(ended)(r) }}}
	}
	pwAddr, pwPW := ts.newUser(t)
	pwTok := ts.MustTokenLogin(t, pwAddr, pwPW)
	pagePWAddr, pagePWPW := ts.newUser(t)
	pagePW := ts.MustLogin(t, pagePWAddr, pagePWPW)

	// The account lifecycle (API.md §8). Each link is first tried during an
	// outage (503, not spent), then spent.
	resetLink := func() string {
		a, _ := ts.newUser(t)
		ts.do(t, "POST", "/v1/password/forgot", map[string]string{"email": a}).want(t, 202, "")
		return ts.linkToken(t, a, 1, ts.Issuer, "/reset")
	}
	verifyLink := func() string {
		a, p := ts.newUser(t)
		ts.do(t, "POST", "/v1/email/verification", nil, as(ts.MustLogin(t, a, p))).want(t, 202, "")
		return ts.linkToken(t, a, 1, ts.Issuer, "/verify-email")
	}
	apiReset, pageReset, apiVerify, pageVerify := resetLink(), resetLink(), verifyLink(), verifyLink()
	chAddr, chPW := ts.newUser(t)
	ch := ts.MustLogin(t, chAddr, chPW)
	chTok := ts.MustTokenLogin(t, chAddr, chPW)
	change := func(to, pw string) map[string]string {
		return map[string]string{"new_email": to, "current_password": pw}
	}
	mailLimited := newTestServer(t, withMailRate(1.0/3600)) // one mail an hour per account
	mlAddr, mlPW := mailLimited.newUser(t)
	ml := mailLimited.MustLogin(t, mlAddr, mlPW)
	unverified := newTestServer(t, withRequireVerifiedEmail())
	uvAddr, uvPW := unverified.newUser(t)
	// The limited server's per-IP bucket of the recovery routes, apart from
	// the login one: spent once, it refuses every recovery route after.
	spendRecovery := func(t *testing.T) {
		for range 3 {
			limited.do(t, "POST", "/v1/password/forgot", map[string]string{"email": "x@example.com"})
		}
	}

	// Second factors (API.md §8): an account with TOTP; one whose TOTP
	// waits for confirmation; one locked by wrong passwords given to a
	// second-factor change; and a server whose clock has left every login
	// older than --reauth-window.
	mfaAddr, mfaPW := ts.newUser(t)
	mfaS := ts.MustLogin(t, mfaAddr, mfaPW)
	app := ts.addTOTP(t, mfaS, mfaPW)
	cfAddr, cfPW := ts.newUser(t)
	cf := ts.MustLogin(t, cfAddr, cfPW)
	setup := ts.do(t, "POST", "/v1/mfa/totp", map[string]string{"current_password": cfPW}, as(cf))
	setup.want(t, 200, "")
	cfSecret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(setup.str(t, "secret"))
	if err != nil {
		t.Fatal(err)
	}
	cfCode := (&authenticator{ts: ts, secret: cfSecret}).code(t, 0)
	lkAddr, lkPW := ts.newUser(t)
	lk := ts.MustLogin(t, lkAddr, lkPW)
	for range 3 {
		ts.do(t, "POST", "/v1/mfa/totp", map[string]string{"current_password": "not it"}, as(lk)).want(t, 403, "wrong_password")
	}
	stale := newTestServer(t)
	stAddr, stPW := stale.newUser(t)
	st := stale.MustLogin(t, stAddr, stPW)
	stale.Clock.Advance(10*time.Minute + time.Second)
	withPW := func(pw string) map[string]string { return map[string]string{"current_password": pw} }
	// The security page's forms: an account with TOTP, one setting it up.
	pgAddr, pgPW := ts.newUser(t)
	pgS := ts.MustLogin(t, pgAddr, pgPW)
	pgApp := ts.addTOTP(t, pgS, pgPW)
	pcAddr, pcPW := ts.newUser(t)
	pc := ts.MustLogin(t, pcAddr, pcPW)
	pcSetup := ts.do(t, "POST", "/v1/mfa/totp", withPW(pcPW), as(pc))
	pcSetup.want(t, 200, "")
	pcSecret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(pcSetup.str(t, "secret"))
	if err != nil {
		t.Fatal(err)
	}
	pcCode := (&authenticator{ts: ts, secret: pcSecret}).code(t, 0)
	secForm := func(sess *session) []reqOpt {
		return []reqOpt{form, cookieOnly(sess)}
	}
	unknownCookie := withCookie(sessionCookie, "an-unknown-session-secret-of-some-length")

	probes := []probe{
		{op: "GET /healthz"}, {op: "GET /readyz"}, {op: "GET /readyz", before: outage, after: restore},
		{op: "GET /metrics"}, {op: "GET /openapi.yaml"},

		{op: "POST /v1/signup", body: map[string]string{"email": "new-" + fmt.Sprint(time.Now().UnixNano()) + "@example.com", "password": "a long enough passphrase"}},
		{op: "POST /v1/signup", body: map[string]string{"email": "not an address", "password": "a long enough passphrase"}},
		{op: "POST /v1/signup", body: map[string]string{"email": "weak@example.com", "password": "password"}},
		{op: "POST /v1/signup", body: map[string]string{"email": addr, "password": "a long enough passphrase"}},
		{op: "POST /v1/signup", body: loginBody("x@example.com", "a long enough passphrase"), server: limited},
		{op: "POST /v1/signup", body: map[string]string{"email": "down@example.com", "password": "a long enough passphrase"}, before: outage, after: restore},

		{op: "POST /v1/login", body: loginBody(addr, pw)},
		{op: "POST /v1/login", body: map[string]string{"email": addr, "password": pw, "mode": "token"}},
		{op: "POST /v1/login", body: loginBody(addr, "wrong password")},
		{op: "POST /v1/login", body: loginBody(disabledAddr, disabledPW)},
		{op: "POST /v1/login", body: loginBody(lockedAddr, "wrong password")},
		{op: "POST /v1/login", body: loginBody(addr, pw), server: limited},
		{op: "POST /v1/login", body: loginBody(addr, pw), before: outage, after: restore},

		{op: "GET /v1/whoami", opts: []reqOpt{as(s)}}, {op: "GET /v1/whoami"},
		{op: "GET /v1/whoami", opts: []reqOpt{withCookie(sessionCookie, "an-unknown-session-secret-of-some-length")}, before: outage, after: restore},
		logoutProbe("POST /v1/logout"), {op: "POST /v1/logout"},
		logoutProbe("POST /v1/logout-all"), {op: "POST /v1/logout-all"},
		{op: "GET /v1/sessions", opts: []reqOpt{as(s)}}, {op: "GET /v1/sessions"},
		{op: "DELETE /v1/sessions/{id}", path: "/v1/sessions/" + other.ID, opts: []reqOpt{as(s)}},
		{op: "DELETE /v1/sessions/{id}", path: "/v1/sessions/unknown", opts: []reqOpt{as(s)}},
		{op: "DELETE /v1/sessions/{id}", path: "/v1/sessions/unknown"},
		{op: "DELETE /v1/sessions/{id}", path: "/v1/sessions/unknown", opts: []reqOpt{cookieOnly(s)}},
		{op: "POST /v1/password", body: map[string]string{"current_password": pw, "new_password": "password"}, opts: []reqOpt{bearer(tok.Access)}},
		{op: "POST /v1/password", body: map[string]string{"current_password": pwPW, "new_password": "another long passphrase"}, opts: []reqOpt{bearer(pwTok.Access)}},
		{op: "POST /v1/password", body: map[string]string{"current_password": "not it", "new_password": "another long passphrase"}, opts: []reqOpt{bearer(tok.Access)}},
		{op: "POST /v1/password", body: map[string]string{"current_password": "not it", "new_password": "another long passphrase"}},

		{op: "POST /v1/password/forgot", body: map[string]string{"email": addr}},
		{op: "POST /v1/password/forgot", body: map[string]string{"email": "not an address"}},
		{op: "POST /v1/password/forgot", body: map[string]string{"email": addr}, server: limited, before: spendRecovery},
		{op: "POST /v1/password/reset", body: map[string]string{"token": apiReset, "new_password": "reset passphrase one"}, before: outage, after: restore},
		{op: "POST /v1/password/reset", body: map[string]string{"token": apiReset, "new_password": "password"}},
		{op: "POST /v1/password/reset", body: map[string]string{"token": apiReset, "new_password": "reset passphrase one"}},
		{op: "POST /v1/password/reset", body: map[string]string{"token": apiReset, "new_password": "reset passphrase two"}},
		{op: "POST /v1/password/reset", body: map[string]string{"token": "x", "new_password": "reset passphrase two"}, server: limited},
		{op: "POST /v1/email/verification", opts: []reqOpt{as(s)}},
		{op: "POST /v1/email/verification"},
		{op: "POST /v1/email/verification", opts: []reqOpt{bearer(tok.Access)}, before: outage, after: restore},
		{op: "POST /v1/email/verification", opts: []reqOpt{as(ml)}, server: mailLimited, before: func(t *testing.T) {
			mailLimited.do(t, "POST", "/v1/email/verification", nil, as(ml))
		}},
		{op: "POST /v1/email/verify", body: map[string]string{"token": apiVerify}, before: outage, after: restore},
		{op: "POST /v1/email/verify", body: map[string]string{"token": apiVerify}},
		{op: "POST /v1/email/verify", body: map[string]string{"token": apiVerify}},
		{op: "POST /v1/email/verify", body: map[string]string{"token": "x"}, server: limited},
		{op: "POST /v1/email/change", body: change("changed@example.com", chPW), opts: []reqOpt{as(ch)}},
		{op: "POST /v1/email/change", body: change("not an address", chPW), opts: []reqOpt{as(ch)}},
		{op: "POST /v1/email/change", body: change("changed@example.com", chPW)},
		{op: "POST /v1/email/change", body: change("changed@example.com", "not it"), opts: []reqOpt{as(ch)}},
		{op: "POST /v1/email/change", body: change("changed@example.com", chPW), opts: []reqOpt{bearer(chTok.Access)}, before: outage, after: restore},
		{op: "POST /v1/email/change", body: change("other@example.com", mlPW), opts: []reqOpt{as(ml)}, server: mailLimited, before: func(t *testing.T) {
			mailLimited.do(t, "POST", "/v1/email/change", change("first@example.com", mlPW), as(ml))
		}},
		{op: "POST /v1/login", body: loginBody(uvAddr, uvPW), server: unverified},
		{op: "POST /v1/password", body: map[string]string{"current_password": stPW, "new_password": "another long passphrase"}, opts: []reqOpt{as(st)}, server: stale},
		{op: "POST /v1/email/change", body: change("stale@example.com", stPW), opts: []reqOpt{as(st)}, server: stale},

		{op: "POST /v1/login/mfa", body: map[string]string{"mfa_token": ts.mfaToken(t, loginBody(mfaAddr, mfaPW)), "totp": "000000"}},
		{op: "POST /v1/login/mfa", body: map[string]string{"mfa_token": ts.mfaToken(t, loginBody(mfaAddr, mfaPW)), "totp": app.code(t, 0)}},
		{op: "POST /v1/login/mfa", body: map[string]string{"mfa_token": "unknown", "totp": "000000"}},
		{op: "POST /v1/login/mfa", body: map[string]string{"mfa_token": "x", "totp": "000000"}, server: limited},
		{op: "POST /v1/login/mfa", body: map[string]string{"mfa_token": ts.mfaToken(t, loginBody(mfaAddr, mfaPW)), "totp": "000000"}, before: outage, after: restore},
		{op: "POST /v1/mfa/totp", body: withPW(pw), opts: []reqOpt{as(s)}},
		{op: "POST /v1/mfa/totp", body: withPW(mfaPW), opts: []reqOpt{as(mfaS)}},
		{op: "POST /v1/mfa/totp", body: withPW(pw)},
		{op: "POST /v1/mfa/totp", body: withPW("not it"), opts: []reqOpt{as(s)}},
		{op: "POST /v1/mfa/totp", body: withPW(stPW), opts: []reqOpt{as(st)}, server: stale},
		{op: "POST /v1/mfa/totp", body: withPW(lkPW), opts: []reqOpt{as(lk)}},
		{op: "POST /v1/mfa/totp", body: withPW(pw), opts: []reqOpt{as(s)}, before: outage, after: restore},
		{op: "POST /v1/mfa/totp/confirm", body: map[string]string{"code": "000000"}, opts: []reqOpt{as(cf)}},
		{op: "POST /v1/mfa/totp/confirm", body: map[string]string{"code": cfCode}, opts: []reqOpt{as(cf)}},
		{op: "POST /v1/mfa/totp/confirm", body: map[string]string{"code": cfCode}},
		{op: "POST /v1/mfa/totp/confirm", body: map[string]string{"code": "000000"}, opts: []reqOpt{as(st)}, server: stale},
		{op: "POST /v1/mfa/totp/confirm", body: map[string]string{"code": "000000"}, opts: []reqOpt{unknownCookie}, before: outage, after: restore},
		{op: "POST /v1/mfa/recovery-codes", body: withPW(mfaPW), opts: []reqOpt{as(mfaS)}},
		{op: "POST /v1/mfa/recovery-codes", body: withPW(pw), opts: []reqOpt{as(s)}},
		{op: "POST /v1/mfa/recovery-codes", body: withPW(pw)},
		{op: "POST /v1/mfa/recovery-codes", body: withPW("not it"), opts: []reqOpt{as(mfaS)}},
		{op: "POST /v1/mfa/recovery-codes", body: withPW(stPW), opts: []reqOpt{as(st)}, server: stale},
		{op: "POST /v1/mfa/recovery-codes", body: withPW(lkPW), opts: []reqOpt{as(lk)}},
		{op: "POST /v1/mfa/recovery-codes", body: withPW(mfaPW), opts: []reqOpt{as(mfaS)}, before: outage, after: restore},
		{op: "DELETE /v1/mfa/totp", body: map[string]string{"current_password": mfaPW, "code": "000000"}, opts: []reqOpt{as(mfaS)}},
		{op: "DELETE /v1/mfa/totp", body: map[string]string{"current_password": mfaPW, "code": app.code(t, 1)}, opts: []reqOpt{as(mfaS)}},
		{op: "DELETE /v1/mfa/totp", body: map[string]string{"current_password": mfaPW, "code": app.code(t, 1)}, opts: []reqOpt{as(mfaS)}},
		{op: "DELETE /v1/mfa/totp", body: map[string]string{"current_password": pw, "code": "000000"}},
		{op: "DELETE /v1/mfa/totp", body: map[string]string{"current_password": "not it", "code": "000000"}, opts: []reqOpt{as(s)}},
		{op: "DELETE /v1/mfa/totp", body: map[string]string{"current_password": stPW, "code": "000000"}, opts: []reqOpt{as(st)}, server: stale},
		{op: "DELETE /v1/mfa/totp", body: map[string]string{"current_password": lkPW, "code": "000000"}, opts: []reqOpt{as(lk)}},
		{op: "DELETE /v1/mfa/totp", body: map[string]string{"current_password": pw, "code": "000000"}, opts: []reqOpt{as(s)}, before: outage, after: restore},
		{op: "POST /v1/token/refresh", body: map[string]string{"refresh_token": ts.MustTokenLogin(t, addr, pw).Refresh}},
		{op: "POST /v1/token/refresh", body: map[string]string{"refresh_token": "unknown"}},
		{op: "POST /v1/token/refresh", body: map[string]string{"refresh_token": spent.Refresh}},
		{op: "POST /v1/token/exchange", opts: []reqOpt{as(s)}}, {op: "POST /v1/token/exchange"},
		{op: "GET /v1/revocations", opts: []reqOpt{client}, stream: true}, {op: "GET /v1/revocations"},

		{op: "GET /.well-known/jwks.json"}, {op: "GET /.well-known/oauth-authorization-server"},
		{op: "POST /oauth2/introspect", body: "token=" + tok.Access, opts: []reqOpt{client, form}},
		{op: "POST /oauth2/introspect", body: "token=" + tok.Access, opts: []reqOpt{form}},
		{op: "POST /oauth2/revoke", body: "token=unknown", opts: []reqOpt{form}},

		{op: "GET /v1/admin/users/{id}/sessions", path: "/v1/admin/users/" + uid + "/sessions", opts: []reqOpt{admin}},
		{op: "POST /v1/admin/users/{id}/role", path: "/v1/admin/users/" + uid + "/role", body: map[string]string{"role": "user"}, opts: []reqOpt{admin}},
		{op: "POST /v1/admin/users/{id}/revoke", path: "/v1/admin/users/" + disabled.UserID + "/revoke", opts: []reqOpt{admin}},
		{op: "POST /v1/admin/users/{id}/disable", path: "/v1/admin/users/" + disabled.UserID + "/disable", opts: []reqOpt{admin}},
		{op: "POST /v1/admin/users/{id}/enable", path: "/v1/admin/users/" + disabled.UserID + "/enable", opts: []reqOpt{admin}},

		{op: "GET /"}, {op: "GET /signup"}, {op: "GET /login"}, {op: "GET /demo/spa"}, {op: "GET /demo/storage"},
		{op: "GET /account"}, {op: "GET /account", opts: []reqOpt{cookieOnly(s)}},
		{op: "POST /signup", body: pageForm("email", fresh()+".x", "password", "a long enough passphrase"), opts: []reqOpt{form}},
		{op: "POST /signup", body: pageForm("email", "not an address", "password", "a long enough passphrase"), opts: []reqOpt{form}},
		{op: "POST /signup", body: pageForm("email", addr, "password", "a long enough passphrase"), opts: []reqOpt{form}},
		{op: "POST /signup", body: pageForm("email", "y@example.com", "password", "a long enough passphrase"), opts: []reqOpt{form}, server: limited},
		{op: "POST /signup", body: pageForm("email", "z@example.com", "password", "a long enough passphrase"), opts: []reqOpt{form}, before: outage, after: restore},
		{op: "POST /login", body: pageForm("email", addr, "password", pw), opts: []reqOpt{form}},
		{op: "POST /login", body: "email=%zz", opts: []reqOpt{form}},
		{op: "POST /login", body: pageForm("email", addr, "password", "wrong"), opts: []reqOpt{form}},
		{op: "POST /login", body: pageForm("email", disabledAddr, "password", disabledPW), opts: []reqOpt{form}, before: func(t *testing.T) {
			ts.do(t, "POST", "/v1/admin/users/"+disabled.UserID+"/disable", nil, admin).want(t, 204, "")
		}},
		{op: "POST /login", body: pageForm("email", lockedAddr, "password", "wrong"), opts: []reqOpt{form}},
		{op: "POST /login", body: pageForm("email", addr, "password", pw), opts: []reqOpt{form}, server: limited},
		{op: "POST /login", body: pageForm("email", addr, "password", pw), opts: []reqOpt{form}, before: outage, after: restore},

		{op: "POST /login", body: pageForm("email", pgAddr, "password", pgPW), opts: []reqOpt{form}},
		{op: "POST /login", body: pageForm("mfa_token", "x", "totp", "123456"), opts: []reqOpt{form}},
		{op: "GET /account/security", opts: []reqOpt{cookieOnly(s)}}, {op: "GET /account/security"},
		{op: "POST /account/email", body: pageForm("csrf", ch.CSRF, "new_email", "page-change@example.com", "current_password", chPW), opts: secForm(ch)},
		{op: "POST /account/email", body: pageForm("csrf", ch.CSRF, "new_email", "not an address", "current_password", chPW), opts: secForm(ch)},
		{op: "POST /account/email", body: pageForm("csrf", ch.CSRF, "new_email", "page-change@example.com", "current_password", "not it"), opts: secForm(ch)},
		{op: "POST /account/email", body: pageForm("csrf", "x", "new_email", "page-change@example.com", "current_password", chPW), opts: []reqOpt{form}},
		{op: "POST /account/email", body: pageForm("csrf", ch.CSRF, "new_email", "page-change@example.com", "current_password", chPW), opts: secForm(ch), before: outage, after: restore},
		{op: "POST /account/email", body: pageForm("csrf", ml.CSRF, "new_email", "page-other@example.com", "current_password", mlPW), opts: secForm(ml), server: mailLimited},
		{op: "POST /account/email/verification", body: pageForm("csrf", s.CSRF), opts: secForm(s)},
		{op: "POST /account/email/verification", body: pageForm("csrf", "wrong"), opts: secForm(s)},
		{op: "POST /account/email/verification", body: pageForm("csrf", s.CSRF), opts: secForm(s), before: outage, after: restore},
		{op: "POST /account/email/verification", body: pageForm("csrf", ml.CSRF), opts: secForm(ml), server: mailLimited},
		{op: "POST /account/security/totp", body: pageForm("csrf", s.CSRF, "current_password", pw), opts: secForm(s)},
		{op: "POST /account/security/totp", body: pageForm("csrf", pgS.CSRF, "current_password", pgPW), opts: secForm(pgS)},
		{op: "POST /account/security/totp", body: pageForm("csrf", s.CSRF, "current_password", "not it"), opts: secForm(s)},
		{op: "POST /account/security/totp", body: pageForm("csrf", "wrong", "current_password", pw), opts: secForm(s)},
		{op: "POST /account/security/totp", body: pageForm("csrf", "x", "current_password", pw), opts: []reqOpt{form}},
		{op: "POST /account/security/totp", body: pageForm("csrf", lk.CSRF, "current_password", lkPW), opts: secForm(lk)},
		{op: "POST /account/security/totp", body: pageForm("csrf", s.CSRF, "current_password", pw), opts: secForm(s), before: outage, after: restore},
		{op: "POST /account/security/totp/confirm", body: pageForm("csrf", pc.CSRF, "code", "000000"), opts: secForm(pc)},
		{op: "POST /account/security/totp/confirm", body: pageForm("csrf", pc.CSRF, "code", pcCode), opts: secForm(pc)},
		{op: "POST /account/security/totp/confirm", body: pageForm("csrf", "wrong", "code", pcCode), opts: secForm(pc)},
		{op: "POST /account/security/totp/confirm", body: pageForm("csrf", "x", "code", pcCode), opts: []reqOpt{form}},
		{op: "POST /account/security/recovery-codes", body: pageForm("csrf", pgS.CSRF, "current_password", pgPW), opts: secForm(pgS)},
		{op: "POST /account/security/recovery-codes", body: pageForm("csrf", s.CSRF, "current_password", pw), opts: secForm(s)},
		{op: "POST /account/security/recovery-codes", body: pageForm("csrf", pgS.CSRF, "current_password", "not it"), opts: secForm(pgS)},
		{op: "POST /account/security/recovery-codes", body: pageForm("csrf", lk.CSRF, "current_password", lkPW), opts: secForm(lk)},
		{op: "POST /account/security/recovery-codes", body: pageForm("csrf", "x", "current_password", pw), opts: []reqOpt{form}},
		{op: "POST /account/security/totp/disable", body: pageForm("csrf", pgS.CSRF, "current_password", pgPW, "code", "000000"), opts: secForm(pgS)},
		{op: "POST /account/security/totp/disable", body: pageForm("csrf", pgS.CSRF, "current_password", pgPW, "code", pgApp.code(t, 0)), opts: secForm(pgS)},
		{op: "POST /account/security/totp/disable", body: pageForm("csrf", s.CSRF, "current_password", pw, "code", "000000"), opts: secForm(s)},
		{op: "POST /account/security/totp/disable", body: pageForm("csrf", s.CSRF, "current_password", "not it", "code", "000000"), opts: secForm(s)},
		{op: "POST /account/security/totp/disable", body: pageForm("csrf", lk.CSRF, "current_password", lkPW, "code", "000000"), opts: secForm(lk)},
		{op: "POST /account/security/totp/disable", body: pageForm("csrf", "x", "current_password", pw, "code", "000000"), opts: []reqOpt{form}},

		{op: "GET /forgot"}, {op: "GET /reset", path: "/reset?token=" + pageReset}, {op: "GET /reset"},
		{op: "GET /verify-email", path: "/verify-email?token=" + pageVerify}, {op: "GET /verify-email"},
		{op: "POST /forgot", body: pageForm("email", addr), opts: []reqOpt{form}},
		{op: "POST /forgot", body: pageForm("email", "not an address"), opts: []reqOpt{form}},
		{op: "POST /forgot", body: pageForm("email", addr), opts: []reqOpt{form}, server: limited},
		{op: "POST /reset", body: pageForm("token", pageReset, "new_password", "reset passphrase three"), opts: []reqOpt{form}, before: outage, after: restore},
		{op: "POST /reset", body: pageForm("token", pageReset, "new_password", "password"), opts: []reqOpt{form}},
		{op: "POST /reset", body: pageForm("token", pageReset, "new_password", "reset passphrase three"), opts: []reqOpt{form}},
		{op: "POST /reset", body: pageForm("token", pageReset, "new_password", "reset passphrase four"), opts: []reqOpt{form}},
		{op: "POST /reset", body: pageForm("token", "x", "new_password", "reset passphrase four"), opts: []reqOpt{form}, server: limited},
		{op: "POST /verify-email", body: pageForm("token", pageVerify), opts: []reqOpt{form}, before: outage, after: restore},
		{op: "POST /verify-email", body: pageForm("token", pageVerify), opts: []reqOpt{form}},
		{op: "POST /verify-email", body: pageForm("token", pageVerify), opts: []reqOpt{form}},
		{op: "POST /verify-email", body: pageForm("token", "x"), opts: []reqOpt{form}, server: limited},
	}
	// Passkeys (API.md §8): an account with two passkeys and its
	// password-only session; one with a single passkey and a passwordless
	// session; the locked account with two; a disabled account with one; an
	// account of the server that requires verified addresses whose passkey
	// record was put in its store by hand (no unverified account can log
	// in to add one); and a server without a relying party.
	ctx := context.Background()
	pkAddr, pkPW := ts.newUser(t)
	pkS := ts.MustLogin(t, pkAddr, pkPW)
	pkKey := ts.browserKey()
	pkFirst := ts.addPasskey(t, pkS, pkKey, "")["id"].(string)
	pkSpare := ts.addPasskey(t, pkS, ts.browserKey(), "Spare")["id"].(string)
	lastAddr, lastPW := ts.newUser(t)
	lastKey := ts.browserKey()
	lastID := ts.addPasskey(t, ts.MustLogin(t, lastAddr, lastPW), lastKey, "")["id"].(string)
	lastS := ts.sessionFrom(t, ts.passkeyLogin(t, lastKey, nil), sessionCookie)
	lkSpare := ts.addPasskey(t, lk, ts.browserKey(), "")["id"].(string)
	ts.addPasskey(t, lk, ts.browserKey(), "")
	dkAddr, dkPW := ts.newUser(t)
	dk := ts.MustLogin(t, dkAddr, dkPW)
	dkKey := ts.browserKey()
	ts.addPasskey(t, dk, dkKey, "")
	uvKey := ts.browserKey()
	uvOwner, uvOwnerPW := ts.newUser(t)
	ts.addPasskey(t, ts.MustLogin(t, uvOwner, uvOwnerPW), uvKey, "")
	uvRec, err := ts.Factors.PasskeyByCredentialID(ctx, uvKey.Credentials()[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	uvRec.UserID = unverified.MustSignup(t, "passkey-unverified@example.com", "a long enough passphrase")
	if err := unverified.Factors.CreatePasskey(ctx, uvRec); err != nil {
		t.Fatal(err)
	}
	uvKey.Credentials()[0].UserHandle, uvKey.Origin = []byte(uvRec.UserID), unverified.PasskeyOrigin
	noPasskeys := newTestServer(t, withoutPasskeys())
	npAddr, npPW := noPasskeys.newUser(t)
	np := noPasskeys.MustLogin(t, npAddr, npPW)

	// Bodies made now, spent when their probe runs (the clock stands still).
	newCredential := func(s *session, create func([]byte) ([]byte, error)) map[string]any {
		cred, err := create(options(t, ts.do(t, "POST", "/v1/webauthn/register/begin", nil, as(s))))
		if err != nil {
			t.Fatal(err)
		}
		return map[string]any{"credential": json.RawMessage(cred)}
	}
	registration := newCredential(pkS, ts.browserKey().Create)
	badName := newCredential(pkS, ts.browserKey().Create)
	badName["name"] = strings.Repeat("n", 65)
	again := newCredential(pkS, func(o []byte) ([]byte, error) { return pkKey.CreateFor(o, pkKey.Credentials()[0]) })
	assertion := func(srv *testServer, key *softkey.Authenticator, path string, body map[string]any, bend func([]byte) []byte) map[string]any {
		var req any // none for a passwordless login
		if body != nil {
			req = body
		}
		cred, err := key.Get(options(t, srv.do(t, "POST", path, req)))
		if err != nil {
			t.Fatal(err)
		}
		if bend != nil {
			cred = bend(cred)
		}
		out := map[string]any{"credential": json.RawMessage(cred)}
		for k, v := range body {
			out[k] = v
		}
		return out
	}
	badSignature := func(c []byte) []byte {
		return []byte(strings.Replace(string(c), `"signature":"`, `"signature":"AAAA`, 1))
	}
	passkeyLogin := func(key *softkey.Authenticator, bend func([]byte) []byte) map[string]any {
		return assertion(ts, key, "/v1/login/passkey/begin", nil, bend)
	}
	spentLogin := passkeyLogin(pkKey, nil)
	mfaStep := func(bend func([]byte) []byte) map[string]any {
		tok := ts.mfaToken(t, loginBody(pkAddr, pkPW), "webauthn")
		return assertion(ts, pkKey, "/v1/login/mfa/webauthn/begin", map[string]any{"mfa_token": tok}, bend)
	}
	spentStep := mfaStep(nil)
	pkPath := func(id string) string { return "/v1/webauthn/credentials/" + id }
	notAResponse := map[string]any{"credential": map[string]string{"id": "x"}}
	probes = append(probes,
		probe{op: "POST /v1/webauthn/register/begin", opts: []reqOpt{as(pkS)}},
		probe{op: "POST /v1/webauthn/register/begin"},
		probe{op: "POST /v1/webauthn/register/begin", opts: []reqOpt{as(st)}, server: stale},
		probe{op: "POST /v1/webauthn/register/begin", opts: []reqOpt{as(np)}, server: noPasskeys},
		probe{op: "POST /v1/webauthn/register/finish", body: registration, opts: []reqOpt{as(pkS)}},
		probe{op: "POST /v1/webauthn/register/finish", body: registration, opts: []reqOpt{as(pkS)}},
		probe{op: "POST /v1/webauthn/register/finish", body: badName, opts: []reqOpt{as(pkS)}},
		probe{op: "POST /v1/webauthn/register/finish", body: again, opts: []reqOpt{as(pkS)}},
		probe{op: "POST /v1/webauthn/register/finish", body: notAResponse},
		probe{op: "POST /v1/webauthn/register/finish", body: notAResponse, opts: []reqOpt{as(st)}, server: stale},
		probe{op: "POST /v1/webauthn/register/finish", body: notAResponse, opts: []reqOpt{unknownCookie}, before: outage, after: restore},
		probe{op: "GET /v1/webauthn/credentials", opts: []reqOpt{as(pkS)}},
		probe{op: "GET /v1/webauthn/credentials"},
		probe{op: "GET /v1/webauthn/credentials", opts: []reqOpt{unknownCookie}, before: outage, after: restore},
		probe{op: "PATCH /v1/webauthn/credentials/{id}", path: pkPath(pkFirst), body: map[string]string{"name": "Phone"}, opts: []reqOpt{as(pkS)}},
		probe{op: "PATCH /v1/webauthn/credentials/{id}", path: pkPath(pkFirst), body: map[string]string{"name": " "}, opts: []reqOpt{as(pkS)}},
		probe{op: "PATCH /v1/webauthn/credentials/{id}", path: pkPath(pkFirst), body: map[string]string{"name": "x"}},
		probe{op: "PATCH /v1/webauthn/credentials/{id}", path: pkPath(lastID), body: map[string]string{"name": "x"}, opts: []reqOpt{as(pkS)}},
		probe{op: "PATCH /v1/webauthn/credentials/{id}", path: pkPath("AAAA"), body: map[string]string{"name": "x"}, opts: []reqOpt{as(st)}, server: stale},
		probe{op: "PATCH /v1/webauthn/credentials/{id}", path: pkPath("x"), body: map[string]string{"name": "x"}, opts: []reqOpt{unknownCookie}, before: outage, after: restore},
		probe{op: "DELETE /v1/webauthn/credentials/{id}", path: pkPath(pkSpare), opts: []reqOpt{as(pkS)}},
		probe{op: "DELETE /v1/webauthn/credentials/{id}", path: pkPath(pkSpare), opts: []reqOpt{as(pkS)}},
		probe{op: "DELETE /v1/webauthn/credentials/{id}", path: pkPath(lastID)},
		probe{op: "DELETE /v1/webauthn/credentials/{id}", path: pkPath(lastID), opts: []reqOpt{as(lastS)}},
		probe{op: "DELETE /v1/webauthn/credentials/{id}", path: pkPath(lastID), body: withPW("not it"), opts: []reqOpt{as(lastS)}},
		probe{op: "DELETE /v1/webauthn/credentials/{id}", path: pkPath("AAAA"), opts: []reqOpt{as(st)}, server: stale},
		probe{op: "DELETE /v1/webauthn/credentials/{id}", path: pkPath(lkSpare), body: withPW(lkPW), opts: []reqOpt{as(lk)}},
		probe{op: "DELETE /v1/webauthn/credentials/{id}", path: pkPath("x"), opts: []reqOpt{unknownCookie}, before: outage, after: restore},

		probe{op: "POST /v1/login/passkey/begin"},
		probe{op: "POST /v1/login/passkey/begin", server: limited},
		probe{op: "POST /v1/login/passkey/begin", server: noPasskeys},
		probe{op: "POST /v1/login/passkey/finish", body: spentLogin},
		probe{op: "POST /v1/login/passkey/finish", body: spentLogin},
		probe{op: "POST /v1/login/passkey/finish", body: notAResponse},
		probe{op: "POST /v1/login/passkey/finish", body: passkeyLogin(pkKey, badSignature)},
		probe{op: "POST /v1/login/passkey/finish", body: passkeyLogin(dkKey, nil), before: func(t *testing.T) {
			ts.do(t, "POST", "/v1/admin/users/"+dk.UserID+"/disable", nil, admin).want(t, 204, "")
		}},
		probe{op: "POST /v1/login/passkey/finish", body: assertion(unverified, uvKey, "/v1/login/passkey/begin", nil, nil), server: unverified},
		probe{op: "POST /v1/login/passkey/finish", body: notAResponse, server: limited},
		probe{op: "POST /v1/login/passkey/finish", body: passkeyLogin(pkKey, nil), before: outage, after: restore},
		probe{op: "POST /v1/login/mfa/webauthn/begin", body: map[string]string{"mfa_token": ts.mfaToken(t, loginBody(pkAddr, pkPW), "webauthn")}},
		probe{op: "POST /v1/login/mfa/webauthn/begin", body: map[string]string{"mfa_token": ts.mfaToken(t, loginBody(mfaAddr, mfaPW))}},
		probe{op: "POST /v1/login/mfa/webauthn/begin", body: map[string]string{"mfa_token": "unknown"}},
		probe{op: "POST /v1/login/mfa/webauthn/begin", body: map[string]string{"mfa_token": "x"}, server: limited},
		probe{op: "POST /v1/login/mfa/webauthn/begin", body: map[string]string{"mfa_token": "x"}, server: noPasskeys},
		probe{op: "POST /v1/login/mfa/webauthn/finish", body: spentStep},
		probe{op: "POST /v1/login/mfa/webauthn/finish", body: spentStep},
		probe{op: "POST /v1/login/mfa/webauthn/finish", body: map[string]any{"mfa_token": "x", "credential": map[string]string{}}},
		probe{op: "POST /v1/login/mfa/webauthn/finish", body: mfaStep(badSignature)},
		probe{op: "POST /v1/login/mfa/webauthn/finish", body: map[string]any{"mfa_token": "x", "credential": map[string]string{}}, server: limited},
		probe{op: "POST /v1/login/mfa/webauthn/finish", body: mfaStep(nil), before: outage, after: restore},
	)
	for _, op := range []string{"/account/logout", "/account/logout-all"} {
		probes = append(probes,
			probe{op: "POST " + op, before: func(*testing.T) { ended = ts.MustLogin(t, victimAddr, victimPW) }, opts: []reqOpt{form, func(r *http.Request) {
				cookieOnly(ended)(r)
				r.Body = io.NopCloser(strings.NewReader(pageForm("csrf", ended.CSRF)))
			}}, body: ""},
			probe{op: "POST " + op, body: pageForm("csrf", "wrong"), opts: []reqOpt{form, cookieOnly(s)}})
	}
	probes = append(probes,
		probe{op: "POST /account/revoke", body: pageForm("csrf", s.CSRF, "id", ts.MustLogin(t, addr, pw).ID), opts: []reqOpt{form, cookieOnly(s)}},
		probe{op: "POST /account/revoke", body: pageForm("csrf", s.CSRF, "id", "unknown"), opts: []reqOpt{form, cookieOnly(s)}},
		probe{op: "POST /account/revoke", body: pageForm("csrf", "wrong", "id", "unknown"), opts: []reqOpt{form, cookieOnly(s)}},
		probe{op: "POST /account/password", body: pageForm("csrf", s.CSRF, "current_password", pw, "new_password", "password"), opts: []reqOpt{form, cookieOnly(s)}},
		probe{op: "POST /account/password", body: pageForm("csrf", pagePW.CSRF, "current_password", pagePWPW, "new_password", "another long passphrase"), opts: []reqOpt{form, cookieOnly(pagePW)}},
		probe{op: "POST /account/password", body: pageForm("csrf", s.CSRF, "current_password", "wrong", "new_password", "another long passphrase"), opts: []reqOpt{form, cookieOnly(s)}},
		probe{op: "GET /static/{file}", path: "/static/style.css"},
		probe{op: "GET /static/{file}", path: "/static/style.css", opts: []reqOpt{header("If-None-Match", etag)}},
		probe{op: "GET /static/{file}", path: "/static/nothing.js"},
		probe{op: "POST /account/security/passkeys/remove", body: pageForm("csrf", pkS.CSRF, "id", pkFirst, "current_password", pkPW), opts: secForm(pkS)},
		probe{op: "POST /account/security/passkeys/remove", body: pageForm("csrf", pkS.CSRF, "id", "AAAA"), opts: secForm(pkS)},
		probe{op: "POST /account/security/passkeys/remove", body: pageForm("csrf", "wrong", "id", "AAAA"), opts: secForm(pkS)},
		probe{op: "POST /account/security/passkeys/remove", body: pageForm("csrf", lk.CSRF, "id", lkSpare, "current_password", lkPW), opts: secForm(lk)},
		probe{op: "POST /account/security/passkeys/remove", body: pageForm("csrf", "x", "id", "AAAA"), opts: []reqOpt{form}},
	)
	// Answers every operation can give, by what the operation takes.
	for op, o := range operations(m) {
		method, path, _ := strings.Cut(op, " ")
		real := strings.ReplaceAll(strings.ReplaceAll(path, "{id}", uid), "{file}", "style.css")
		auth := authFor(o, s, admin, client)
		probes = append(probes, probe{op: op, path: real, opts: []reqOpt{huge}})
		if method == "GET" {
			continue
		}
		probes = append(probes, probe{op: op, path: real, body: "{}", opts: []reqOpt{crossSite}})
		if o.RequestBody == nil || strings.HasPrefix(path, "/account") || path == "/signup" || path == "/login" {
			continue
		}
		if _, isForm := o.RequestBody.Content.Get("application/x-www-form-urlencoded"); isForm {
			probes = append(probes,
				probe{op: op, path: real, body: "nothing=here", opts: append([]reqOpt{form}, auth...)},
				probe{op: op, path: real, body: "token=" + strings.Repeat("t", 70<<10), opts: append([]reqOpt{form}, auth...)},
				probe{op: op, path: real, body: "token=x", opts: append([]reqOpt{ctype("text/plain")}, auth...)})
			continue
		}
		probes = append(probes,
			probe{op: op, path: real, body: `{"unknown": 1}`, opts: auth},
			probe{op: op, path: real, body: big, opts: auth},
			probe{op: op, path: real, body: "x", opts: append([]reqOpt{ctype("text/plain")}, auth...)})
		if strings.HasPrefix(path, "/v1/admin/") {
			var body any
			if strings.HasSuffix(path, "/role") {
				body = map[string]string{"role": "user"}
			}
			probes = append(probes,
				probe{op: op, path: strings.ReplaceAll(path, "{id}", "unknown"), body: body, opts: auth},
				probe{op: op, path: real, body: body})
		}
	}
	for _, p := range []string{"/v1/admin/users/unknown/sessions", "/v1/admin/users/x/sessions"} {
		probes = append(probes, probe{op: "GET /v1/admin/users/{id}/sessions", path: p, opts: []reqOpt{admin}}, probe{op: "GET /v1/admin/users/{id}/sessions", path: p})
	}

	seen := map[outcome]bool{}
	for _, p := range probes {
		method, path, _ := strings.Cut(p.op, " ")
		if p.path != "" {
			path = p.path
		}
		srv := ts
		if p.server != nil {
			srv = p.server
		}
		if p.before != nil {
			p.before(t)
		}
		got := send(t, srv, method, path, p)
		if p.after != nil {
			p.after()
		}
		seen[got] = true
		if !documented[got] {
			t.Errorf("%s (%s): answered %d %q, which the document does not list", p.op, path, got.status, got.code)
		}
	}
	for o := range documented {
		if !seen[o] {
			t.Errorf("%s: %d %q is documented, but no request produced it", o.op, o.status, o.code)
		}
	}
}

// authFor returns the credentials an operation takes.
func authFor(o *v3.Operation, s *session, admin, client reqOpt) []reqOpt {
	for _, req := range o.Security {
		for name := range req.Requirements.KeysFromOldest() {
			switch name {
			case "admin":
				return []reqOpt{admin}
			case "client":
				return []reqOpt{client}
			case "session", "bearer":
				return []reqOpt{as(s)}
			}
		}
	}
	return nil
}

// send makes the request of a probe and returns its outcome.
func send(t *testing.T, ts *testServer, method, path string, p probe) outcome {
	t.Helper()
	op := p.op
	req, err := ts.newRequest(method, path, p.body, p.opts...)
	if err != nil {
		t.Fatal(err)
	}
	if p.stream {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := http.DefaultClient.Do(req.WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return outcome{op, res.StatusCode, ""}
	}
	r, err := ts.sendRequest(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	code := ""
	if r.Header.Get("Content-Type") == "application/problem+json" {
		code = r.code()
		if code == "" {
			t.Errorf("%s %s: a problem document without a code: %s", method, path, r.Body)
		}
	}
	return outcome{op, r.Status, code}
}
