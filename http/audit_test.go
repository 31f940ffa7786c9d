package http_test

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"
)

// TestAudit_Trail runs every security event through the real server and
// reads the audit trail: one JSON line per event with its fields, and not
// one of the secrets the run used (passwords, cookies, CSRF, access and
// refresh tokens, the admin key) anywhere in it.
func TestAudit_Trail(t *testing.T) {
	const adminKey = "audit-admin-key-0123456789abcdef"
	ts := newTestServer(t, withAdminKey(adminKey))
	var secrets []string
	keep := func(s ...string) { secrets = append(secrets, s...) }
	keep(adminKey)

	addr, pw := "audited@example.com", "audit-passphrase-1"
	uid := ts.MustSignup(t, addr, pw)
	keep(pw)
	ts.do(t, "POST", "/v1/login", map[string]string{"email": addr, "password": "a-wrong-passphrase"}).want(t, 401, "invalid_credentials")
	keep("a-wrong-passphrase")
	ts.do(t, "POST", "/v1/login", map[string]string{"email": "nobody@example.com", "password": "another-wrong-pass"}).want(t, 401, "invalid_credentials")
	keep("another-wrong-pass")

	a := ts.MustLogin(t, addr, pw, header("User-Agent", "AuditTest/1.0"), header("X-Request-ID", "req-audit-1"))
	b := ts.MustLogin(t, addr, pw)
	keep(a.Secret, a.CSRF, b.Secret, b.CSRF)
	tok := ts.MustTokenLogin(t, addr, pw)
	keep(tok.Access, tok.Refresh)
	next := ts.MustRefresh(t, tok.Refresh)
	keep(next.Access, next.Refresh)
	if st, code := ts.refreshStatus(t, tok.Refresh); st != 401 || code != "refresh_reused" {
		t.Fatalf("replay: %d %s", st, code)
	}
	ts.do(t, "DELETE", "/v1/sessions/"+b.ID, nil, as(a)).want(t, 204, "")
	r := ts.do(t, "POST", "/v1/password", map[string]string{"current_password": pw, "new_password": "audit-passphrase-2"}, as(a))
	r.want(t, 204, "")
	keep("audit-passphrase-2")
	for _, c := range r.Header.Values("Set-Cookie") { // the session's fresh secret and CSRF token
		name, rest, _ := strings.Cut(c, "=")
		value, _, _ := strings.Cut(rest, ";")
		if name != "" {
			keep(value)
		}
	}
	c := ts.MustLogin(t, addr, "audit-passphrase-2")
	keep(c.Secret, c.CSRF)
	ts.do(t, "POST", "/v1/logout", nil, as(c)).want(t, 204, "")
	d := ts.MustLogin(t, addr, "audit-passphrase-2")
	keep(d.Secret, d.CSRF)
	ts.do(t, "POST", "/v1/logout-all", nil, as(d)).want(t, 204, "")
	admin := bearer(adminKey)
	ts.do(t, "POST", "/v1/admin/users/"+uid+"/role", map[string]string{"role": "editor"}, admin).want(t, 204, "")
	ts.do(t, "POST", "/v1/admin/users/"+uid+"/disable", nil, admin).want(t, 204, "")
	ts.do(t, "POST", "/v1/admin/users/"+uid+"/enable", nil, admin).want(t, 204, "")
	ts.do(t, "POST", "/v1/admin/users/"+uid+"/revoke", nil, bearer("not-the-admin-key")).want(t, 401, "unauthenticated")
	keep("not-the-admin-key")

	trail := ts.Audit.String()
	for _, s := range secrets {
		if s != "" && strings.Contains(trail, s) {
			t.Errorf("the audit trail holds a secret of the run (%d bytes)", len(s))
		}
	}

	type line struct {
		Time, Msg, Event, Outcome, Detail, IP   string
		UserID, SessionID, UserAgent, RequestID string
		Actor                                   string
	}
	var lines []line
	sc := bufio.NewScanner(strings.NewReader(trail))
	for sc.Scan() {
		var raw map[string]string
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			t.Fatalf("an audit line is not one JSON object of strings: %q: %v", sc.Text(), err)
		}
		lines = append(lines, line{Time: raw["time"], Msg: raw["msg"], Event: raw["event"], Outcome: raw["outcome"],
			Detail: raw["detail"], IP: raw["ip"], UserID: raw["user_id"], SessionID: raw["session_id"],
			UserAgent: raw["user_agent"], RequestID: raw["request_id"], Actor: raw["actor"]})
	}
	find := func(event, outcome string, more func(line) bool) line {
		t.Helper()
		for _, l := range lines {
			if l.Event == event && (outcome == "" || l.Outcome == outcome) && (more == nil || more(l)) {
				return l
			}
		}
		t.Fatalf("no %s/%s event in the audit trail:\n%s", event, outcome, trail)
		return line{}
	}
	for _, l := range lines {
		if l.Msg != "audit" || l.Time == "" || l.Event == "" {
			t.Fatalf("an audit line without msg, time or event: %+v", l)
		}
	}
	signup := find("signup", "", nil)
	if signup.UserID != uid || signup.IP != "127.0.0.1" || signup.RequestID == "" {
		t.Errorf("signup event %+v: want the user, the client IP and a request ID", signup)
	}
	if l := find("login", "invalid_credentials", func(l line) bool { return l.UserID == uid }); l.IP == "" {
		t.Errorf("failed login without IP: %+v", l)
	}
	find("login", "invalid_credentials", func(l line) bool { return l.UserID == "" }) // unknown address
	ok := find("login", "success", func(l line) bool { return l.SessionID == a.ID })
	if ok.UserAgent != "AuditTest/1.0" || ok.RequestID != "req-audit-1" {
		t.Errorf("login event %+v: want the user agent and the caller's request ID", ok)
	}
	find("refresh", "success", nil)
	find("refresh_reuse", "", func(l line) bool { return l.UserID == uid && l.SessionID != "" })
	find("session_revoke", "", func(l line) bool { return l.SessionID == b.ID })
	find("password_change", "", func(l line) bool { return l.UserID == uid })
	find("logout", "", func(l line) bool { return l.SessionID == c.ID })
	find("logout_all", "", func(l line) bool { return l.UserID == uid })
	find("role_change", "", func(l line) bool { return l.Detail == "editor" && l.Actor == "admin-api" })
	find("account_disable", "", func(l line) bool { return l.UserID == uid })
	find("account_enable", "", func(l line) bool { return l.UserID == uid })
	find("admin_api", "authorized", func(l line) bool { return strings.Contains(l.Detail, "/role") })
	find("admin_api", "refused", func(l line) bool { return strings.Contains(l.Detail, "/revoke") })
	for _, kind := range []string{"sid", "sub"} { // no single access token (jti) was revoked in this run
		find("revocation_added", "", func(l line) bool { return l.Detail == kind })
	}
}
