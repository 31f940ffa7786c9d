package http_test

import (
	"fmt"
	"net/url"
	"testing"
)

// crossOriginHeaders are what a browser sends on a request another site makes.
func crossOriginHeaders(self string) map[string][]reqOpt {
	return map[string][]reqOpt{
		"Sec-Fetch-Site cross-site":              {header("Sec-Fetch-Site", "cross-site")},
		"Sec-Fetch-Site same-site":               {header("Sec-Fetch-Site", "same-site")},
		"Sec-Fetch-Site cross-site, Origin ours": {header("Sec-Fetch-Site", "cross-site"), header("Origin", self)},
		"Origin of another site":                 {header("Origin", "https://evil.example")},
		"Origin of a sibling port":               {header("Origin", "http://127.0.0.1:1")},
		"Origin null":                            {header("Origin", "null")},
		"Origin null, Sec-Fetch-Site same-site":  {header("Origin", "null"), header("Sec-Fetch-Site", "same-site")},
		"Origin null, Sec-Fetch-Site none":       {header("Origin", "null"), header("Sec-Fetch-Site", "none")},
	}
}

// SECURITY.md 9
func TestCrossOrigin_StateChangesRefused(t *testing.T) {
	const adminKey = "admin-key-for-tests-0123456789"
	ts := newTestServer(t, withAdminKey(adminKey))
	addr, pw := ts.newUser(t)

	for name, hdrs := range crossOriginHeaders(ts.URL) {
		t.Run(name, func(t *testing.T) {
			// Every request below carries valid credentials and tokens: only
			// the cross-origin check stands between it and a state change.
			s := ts.MustLogin(t, addr, pw)
			other := ts.MustLogin(t, addr, pw)
			fam := ts.MustTokenLogin(t, addr, pw)
			cookieFam := ts.do(t, "POST", "/v1/login", map[string]string{"email": addr, "password": pw, "mode": "token"}).cookie(refreshCookie)
			newAddr := fmt.Sprintf("cross-%d@example.com", ts.seq.Add(1))

			for _, rq := range []struct {
				name, method, path string
				body               any
				opts               []reqOpt
			}{
				{"logout", "POST", "/v1/logout", nil, []reqOpt{as(s)}},
				{"logout-all", "POST", "/v1/logout-all", nil, []reqOpt{as(s)}},
				{"delete session", "DELETE", "/v1/sessions/" + other.ID, nil, []reqOpt{as(s)}},
				{"password", "POST", "/v1/password", map[string]string{"current_password": pw, "new_password": pw + "-x"}, []reqOpt{as(s)}},
				{"exchange", "POST", "/v1/token/exchange", nil, []reqOpt{as(s)}},
				{"bearer logout", "POST", "/v1/logout", nil, []reqOpt{bearer(fam.Access)}},
				{"cookie refresh", "POST", "/v1/token/refresh", nil, []reqOpt{withCookie(refreshCookie, cookieFam.Value)}},
				{"body refresh", "POST", "/v1/token/refresh", map[string]string{"refresh_token": fam.Refresh}, nil},
				{"signup", "POST", "/v1/signup", map[string]string{"email": newAddr, "password": "cross-origin-pw-1"}, nil},
				{"login", "POST", "/v1/login", map[string]string{"email": addr, "password": pw}, nil},
				{"revoke", "POST", "/oauth2/revoke", "token=" + fam.Access, []reqOpt{ctype("application/x-www-form-urlencoded")}},
				{"admin disable", "POST", "/v1/admin/users/" + s.UserID + "/disable", nil, []reqOpt{bearer(adminKey)}},
				{"PUT", "PUT", "/v1/whoami", nil, []reqOpt{as(s)}},
			} {
				r := ts.do(t, rq.method, rq.path, rq.body, append(rq.opts, hdrs...)...)
				if r.Status != 403 || r.code() != "csrf_failed" {
					t.Errorf("%s: %d %s, want 403 csrf_failed", rq.name, r.Status, r.code())
				}
				if len(r.setCookies()) != 0 {
					t.Errorf("%s: a refused request set cookies %q", rq.name, r.setCookies())
				}
			}
			// Nothing changed.
			ts.wantAlive(t, "session", cookieOnly(s))
			ts.wantAlive(t, "other session", cookieOnly(other))
			ts.wantAlive(t, "access token", bearer(fam.Access))
			ts.MustRefresh(t, fam.Refresh)
			ts.do(t, "POST", "/v1/token/refresh", nil, withCookie(refreshCookie, cookieFam.Value)).want(t, 200, "")
			ts.MustSignup(t, newAddr, "cross-origin-pw-1") // it did not exist yet
			ts.MustLogin(t, addr, pw)                      // the password is unchanged, the account enabled
		})
	}

	t.Run("same origin allowed", func(t *testing.T) {
		for name, hdrs := range map[string][]reqOpt{
			"no browser headers":         nil,
			"Sec-Fetch-Site same-origin": {header("Sec-Fetch-Site", "same-origin")},
			"Sec-Fetch-Site none":        {header("Sec-Fetch-Site", "none")},
			"Origin ours":                {header("Origin", ts.URL)},
		} {
			s := ts.MustLogin(t, addr, pw, hdrs...)
			ts.do(t, "POST", "/v1/logout", nil, append(hdrs, as(s))...).want(t, 204, "")
			ts.wantDead(t, name+": logged-out session", cookieOnly(s))
		}
	})
}

// SECURITY.md 10
func TestCSRFToken_BoundToSession(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	otherAddr, otherPW := ts.newUser(t)

	for _, tc := range []struct {
		name  string
		token func(s, mine2, theirs *session) []reqOpt
	}{
		{"missing", func(s, _, _ *session) []reqOpt { return nil }},
		{"empty", func(s, _, _ *session) []reqOpt { return []reqOpt{header("X-CSRF-Token", "")} }},
		{"wrong", func(s, _, _ *session) []reqOpt { return []reqOpt{header("X-CSRF-Token", s.CSRF+"x")} }},
		{"the cookie secret", func(s, _, _ *session) []reqOpt { return []reqOpt{header("X-CSRF-Token", s.Secret)} }},
		{"another session of the same user", func(_, mine2, _ *session) []reqOpt {
			return []reqOpt{header("X-CSRF-Token", mine2.CSRF)}
		}},
		{"another user's session", func(_, _, theirs *session) []reqOpt {
			return []reqOpt{header("X-CSRF-Token", theirs.CSRF)}
		}},
		{"planted double-submit cookie", func(_, _, _ *session) []reqOpt {
			return []reqOpt{withCookie(csrfCookie, "forged-by-attacker"), header("X-CSRF-Token", "forged-by-attacker")}
		}},
		{"token in the query", func(s, _, _ *session) []reqOpt { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, mine2, theirs := ts.MustLogin(t, addr, pw), ts.MustLogin(t, addr, pw), ts.MustLogin(t, otherAddr, otherPW)
			query := ""
			if tc.name == "token in the query" {
				query = "?csrf_token=" + url.QueryEscape(s.CSRF) + "&X-CSRF-Token=" + url.QueryEscape(s.CSRF)
			}
			for _, rq := range []struct {
				name, method, path string
				body               any
			}{
				{"logout", "POST", "/v1/logout", nil},
				{"logout-all", "POST", "/v1/logout-all", nil},
				{"delete session", "DELETE", "/v1/sessions/" + mine2.ID, nil},
				{"password", "POST", "/v1/password", map[string]string{"current_password": pw, "new_password": pw + "-x"}},
				{"exchange", "POST", "/v1/token/exchange", nil},
			} {
				opts := append([]reqOpt{cookieOnly(s)}, tc.token(s, mine2, theirs)...)
				r := ts.do(t, rq.method, rq.path+query, rq.body, opts...)
				if r.Status != 403 || r.code() != "csrf_failed" {
					t.Errorf("%s: %d %s, want 403 csrf_failed", rq.name, r.Status, r.code())
				}
			}
			ts.wantAlive(t, "session", cookieOnly(s))
			ts.wantAlive(t, "second session", cookieOnly(mine2))
			ts.MustLogin(t, addr, pw) // password unchanged
		})
	}

	t.Run("the session's own token", func(t *testing.T) {
		s, mine2 := ts.MustLogin(t, addr, pw), ts.MustLogin(t, addr, pw)
		ts.do(t, "DELETE", "/v1/sessions/"+mine2.ID, nil, as(s)).want(t, 204, "")
		ts.wantDead(t, "deleted session", cookieOnly(mine2))
		ts.do(t, "POST", "/v1/token/exchange", nil, as(s)).want(t, 200, "")
		ts.do(t, "POST", "/v1/logout", nil, as(s)).want(t, 204, "")
	})
}

// SECURITY.md 11 (GET never changes state)
func TestStateChangingRoutes_RefuseGET(t *testing.T) {
	const adminKey = "admin-key-for-tests-0123456789"
	ts := newTestServer(t, withAdminKey(adminKey), withClient("rs", "rs-secret"))
	addr, pw := ts.newUser(t)
	s := ts.MustLogin(t, addr, pw)
	fam := ts.MustTokenLogin(t, addr, pw)
	q := url.Values{"email": {"get-signup@example.com"}, "password": {"get-signup-pw-1"}}.Encode()

	for _, method := range []string{"GET", "HEAD"} {
		for _, rq := range []struct {
			path string
			opts []reqOpt
		}{
			{"/v1/signup?" + q, nil},
			{"/v1/login?" + url.Values{"email": {addr}, "password": {pw}}.Encode(), nil},
			{"/v1/logout", []reqOpt{as(s)}},
			{"/v1/logout", []reqOpt{bearer(fam.Access)}},
			{"/v1/logout-all", []reqOpt{as(s)}},
			{"/v1/sessions/" + s.ID, []reqOpt{as(s)}},
			{"/v1/password?" + url.Values{"current_password": {pw}, "new_password": {pw + "-x"}}.Encode(), []reqOpt{as(s)}},
			{"/v1/token/refresh?refresh_token=" + fam.Refresh, nil},
			{"/v1/token/exchange", []reqOpt{as(s)}},
			{"/oauth2/revoke?token=" + fam.Access, nil},
			{"/oauth2/introspect?token=" + fam.Access, nil},
			{"/v1/admin/users/" + s.UserID + "/disable", []reqOpt{bearer(adminKey)}},
			{"/v1/admin/users/" + s.UserID + "/revoke", []reqOpt{bearer(adminKey)}},
		} {
			r := ts.do(t, method, rq.path, nil, rq.opts...)
			if r.Status != 405 || r.Header.Get("Allow") == "" {
				t.Errorf("%s %s: %d (Allow %q), want 405 with Allow", method, rq.path, r.Status, r.Header.Get("Allow"))
			}
			if len(r.setCookies()) != 0 {
				t.Errorf("%s %s set cookies %q", method, rq.path, r.setCookies())
			}
		}
	}
	ts.wantAlive(t, "session", cookieOnly(s))
	ts.wantAlive(t, "access token", bearer(fam.Access))
	ts.MustRefresh(t, fam.Refresh)
	ts.MustLogin(t, addr, pw)
	ts.MustSignup(t, "get-signup@example.com", "get-signup-pw-1")
}

// SECURITY.md 11 (no "simple request" bypass)
func TestJSONEndpoints_RefuseSimpleBodies(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	s := ts.MustLogin(t, addr, pw)
	fam := ts.MustTokenLogin(t, addr, pw)

	for _, ct := range []string{
		"text/plain",
		"text/plain; charset=utf-8",
		"application/x-www-form-urlencoded",
		"multipart/form-data; boundary=xyz",
		"application/jsonp",
		"text/json",
	} {
		t.Run(ct, func(t *testing.T) {
			for _, rq := range []struct {
				name, path string
				body       string
				opts       []reqOpt
			}{
				{"signup", "/v1/signup", `{"email":"simple@example.com","password":"simple-body-pw-1"}`, nil},
				{"login", "/v1/login", `{"email":"` + addr + `","password":"` + pw + `"}`, nil},
				{"logout (JSON body)", "/v1/logout", `{}`, []reqOpt{as(s)}},
				{"logout (empty body)", "/v1/logout", ``, []reqOpt{as(s)}},
				{"logout-all", "/v1/logout-all", `{}`, []reqOpt{as(s)}},
				{"password", "/v1/password", `{"current_password":"` + pw + `","new_password":"` + pw + `-x"}`, []reqOpt{as(s)}},
				{"exchange", "/v1/token/exchange", `{}`, []reqOpt{as(s)}},
				{"refresh", "/v1/token/refresh", `{"refresh_token":"` + fam.Refresh + `"}`, nil},
			} {
				r := ts.do(t, "POST", rq.path, rq.body, append(rq.opts, ctype(ct))...)
				if r.Status != 415 || r.code() != "unsupported_media_type" {
					t.Errorf("%s: %d %s, want 415 unsupported_media_type", rq.name, r.Status, r.code())
				}
				if len(r.setCookies()) != 0 {
					t.Errorf("%s set cookies %q", rq.name, r.setCookies())
				}
			}
			ts.wantAlive(t, "session", cookieOnly(s))
			ts.MustLogin(t, addr, pw)
		})
	}
	ts.MustRefresh(t, fam.Refresh)
	ts.MustSignup(t, "simple@example.com", "simple-body-pw-1")

	t.Run("application/json with a charset is accepted", func(t *testing.T) {
		r := ts.do(t, "POST", "/v1/login", `{"email":"`+addr+`","password":"`+pw+`"}`, ctype("application/json; charset=utf-8"))
		r.want(t, 200, "")
	})
	t.Run("a JSON body without a content type", func(t *testing.T) {
		r := ts.do(t, "POST", "/v1/login", `{"email":"`+addr+`","password":"`+pw+`"}`, noContentType())
		r.want(t, 415, "unsupported_media_type")
	})
}

// SECURITY.md 12
func TestLogin_CrossOriginRefusedWithoutCookie(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	for name, hdrs := range crossOriginHeaders(ts.URL) {
		for _, mode := range []map[string]string{
			{"email": addr, "password": pw},
			{"email": addr, "password": pw, "mode": "token"},
			{"email": addr, "password": pw, "mode": "token", "refresh_delivery": "body"},
		} {
			r := ts.do(t, "POST", "/v1/login", mode, hdrs...)
			r.want(t, 403, "csrf_failed")
			if len(r.setCookies()) != 0 {
				t.Fatalf("%s: a refused login set cookies %q", name, r.setCookies())
			}
			if m := r.json(t); m["access_token"] != nil || m["csrf_token"] != nil || m["refresh_token"] != nil {
				t.Fatalf("%s: a refused login returned credentials: %s", name, r.Body)
			}
		}
	}
	// No session or family was started, and no attempt was even checked.
	list, err := ts.Service.ListSessions(t.Context(), ts.do(t, "POST", "/v1/login",
		map[string]string{"email": addr, "password": pw}).str(t, "user.id"))
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("%d live sessions after cross-origin logins and one real login, want 1", len(list))
	}
	if n := ts.Hasher.compares.Load(); n != 1 {
		t.Fatalf("%d password comparisons, want 1 (the same-origin login)", n)
	}
}
