package http_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// formBody is an urlencoded form body of key, value pairs.
func formBody(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v.Encode()
}

// postForm posts an urlencoded form, as a browser's same-origin form would.
func (ts *testServer) postForm(t *testing.T, path string, body string, opts ...reqOpt) *response {
	t.Helper()
	opts = append([]reqOpt{ctype("application/x-www-form-urlencoded"), header("Sec-Fetch-Site", "same-origin"),
		header("Origin", ts.URL)}, opts...)
	return ts.do(t, "POST", path, body, opts...)
}

// formLogin signs in through the login form and returns the session as
// its cookies hold it.
func (ts *testServer) formLogin(t *testing.T, addr, pw string) *session {
	t.Helper()
	r := ts.postForm(t, "/login", formBody("email", addr, "password", pw))
	if r.Status != 303 {
		t.Fatalf("form login: status %d, want 303; body %s", r.Status, r.Body)
	}
	c, x := r.cookie(sessionCookie), r.cookie(csrfCookie)
	if c == nil || x == nil {
		t.Fatalf("form login set %q, want the session and CSRF cookies", r.setCookies())
	}
	return &session{Secret: c.Value, CSRF: x.Value, cookieName: sessionCookie}
}

// withSession sends the session and CSRF cookies, as the browser does.
func withSession(s *session) reqOpt {
	return func(r *http.Request) {
		withCookie(s.cookieName, s.Secret)(r)
		withCookie(csrfCookie, s.CSRF)(r)
	}
}

func TestPages_SecurityHeaders(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	s := ts.formLogin(t, addr, pw)
	for _, tc := range []struct {
		path    string
		opts    []reqOpt
		noStore bool
		ctype   string
	}{
		{path: "/", ctype: "text/html"},
		{path: "/signup", ctype: "text/html", noStore: true},
		{path: "/login", ctype: "text/html", noStore: true},
		{path: "/account", opts: []reqOpt{withSession(s)}, ctype: "text/html", noStore: true},
		{path: "/demo/spa", ctype: "text/html"},
		{path: "/demo/storage", ctype: "text/html"},
		{path: "/forgot", ctype: "text/html", noStore: true},
		{path: "/reset?token=abc", ctype: "text/html", noStore: true},
		{path: "/verify-email?token=abc", ctype: "text/html", noStore: true},
		{path: "/static/style.css", ctype: "text/css"},
		{path: "/static/latch-client.js", ctype: "text/javascript"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			r := ts.do(t, "GET", tc.path, nil, tc.opts...)
			r.want(t, 200, "")
			csp := r.Header.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'self'", "script-src 'self';", "style-src 'self'",
				"frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-") {
				t.Errorf("CSP %q allows unsafe-*", csp)
			}
			if got := r.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			if got := r.Header.Get("Referrer-Policy"); got == "" {
				t.Error("no Referrer-Policy")
			}
			if got := r.Header.Get("Content-Type"); !strings.HasPrefix(got, tc.ctype) {
				t.Errorf("Content-Type %q, want %s", got, tc.ctype)
			}
			if cc := r.Header.Get("Cache-Control"); tc.noStore != (cc == "no-store") {
				t.Errorf("Cache-Control %q, want no-store: %v", cc, tc.noStore)
			}
			if strings.Contains(string(r.Body), "<script>") || strings.Contains(string(r.Body), " style=") {
				t.Error("inline script or style in the page")
			}
		})
	}
}

func TestPages_StaticNotModifiedAndUnknown(t *testing.T) {
	ts := newTestServer(t)
	r := ts.do(t, "GET", "/static/style.css", nil)
	r.want(t, 200, "")
	etag := r.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	ts.do(t, "GET", "/static/style.css", nil, header("If-None-Match", etag)).want(t, 304, "")
	ts.do(t, "GET", "/static/nope.js", nil).want(t, 404, "not_found")
	ts.do(t, "GET", "/static/", nil).want(t, 404, "not_found")
}

func TestPages_SignupAndLoginPostRedirectGet(t *testing.T) {
	ts := newTestServer(t)
	r := ts.postForm(t, "/signup", formBody("email", "pat@example.com", "password", "horse-battery-staple"))
	if r.Status != 303 || r.Header.Get("Location") != "/login?notice=signed-up" {
		t.Fatalf("signup: %d to %q, want 303 to the login page", r.Status, r.Header.Get("Location"))
	}
	r = ts.do(t, "GET", "/login?notice=signed-up", nil)
	if !strings.Contains(string(r.Body), `data-testid="notice"`) {
		t.Error("the login page shows no notice after signup")
	}

	for _, tc := range []struct {
		name, email, pw string
		status          int
		words           string
	}{
		{"taken", "pat@example.com", "horse-battery-staple", 409, "already has an account"},
		{"weak", "sam@example.com", "password", 400, "stronger password"},
		{"bad email", "not-an-email", "horse-battery-staple", 400, "email address such as"},
	} {
		t.Run("signup refused: "+tc.name, func(t *testing.T) {
			r := ts.postForm(t, "/signup", formBody("email", tc.email, "password", tc.pw))
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d", r.Status, tc.status)
			}
			body := string(r.Body)
			if !strings.Contains(body, `data-testid="error" role="alert"`) || !strings.Contains(body, tc.words) {
				t.Fatalf("no error in words %q in the page", tc.words)
			}
			if strings.Contains(body, "email_taken") || strings.Contains(body, "weak_password") {
				t.Error("the page shows a raw error code")
			}
			if r.cookie(sessionCookie) != nil {
				t.Error("a refused signup set a session cookie")
			}
		})
	}

	r = ts.postForm(t, "/login", formBody("email", "pat@example.com", "password", "wrong-password-1"))
	if r.Status != 401 || !strings.Contains(string(r.Body), "do not match an account") || r.cookie(sessionCookie) != nil {
		t.Fatalf("wrong password: %d, cookies %q", r.Status, r.setCookies())
	}
	if !strings.Contains(string(r.Body), `value="pat@example.com"`) {
		t.Error("the refused login form forgot the email")
	}
	if strings.Contains(string(r.Body), "wrong-password-1") {
		t.Error("the refused login form echoes the password")
	}
	s := ts.formLogin(t, "pat@example.com", "horse-battery-staple")
	r = ts.do(t, "GET", "/account", nil, withSession(s))
	r.want(t, 200, "")
	body := string(r.Body)
	for _, want := range []string{`data-testid="user-email">pat@example.com<`, `data-current="true"`,
		`name="csrf" value="` + s.CSRF + `"`} {
		if !strings.Contains(body, want) {
			t.Errorf("account page lacks %q", want)
		}
	}
}

func TestPages_LoginIsFixationSafe(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	planted := ts.MustLogin(t, addr, pw)
	r := ts.postForm(t, "/login", formBody("email", addr, "password", pw), withCookie(sessionCookie, planted.Secret))
	if r.Status != 303 {
		t.Fatalf("status %d", r.Status)
	}
	fresh := r.cookie(sessionCookie)
	if fresh == nil || fresh.Value == planted.Secret {
		t.Fatal("login kept the planted session secret")
	}
	ts.do(t, "GET", "/v1/whoami", nil, cookieOnly(planted)).want(t, 401, "unauthenticated")
}

func TestPages_AccountRedirectsToLogin(t *testing.T) {
	ts := newTestServer(t)
	for _, tc := range []struct {
		name string
		opts []reqOpt
	}{
		{"no cookie", nil},
		{"unknown cookie", []reqOpt{withCookie(sessionCookie, "not-a-session")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do(t, "GET", "/account", nil, tc.opts...)
			if r.Status != 303 || r.Header.Get("Location") != "/login?next=/account" {
				t.Fatalf("%d to %q, want 303 to /login?next=/account", r.Status, r.Header.Get("Location"))
			}
		})
	}
}

func TestPages_NextOnlySameOrigin(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	for _, tc := range []struct {
		next, want string
	}{
		{"", "/account"},
		{"/demo/spa", "/demo/spa"},
		{"/account?tab=devices#x", "/account?tab=devices#x"},
		{"//evil.example/", "/account"},
		{"/\\evil.example", "/account"},
		{"/a\\b", "/account"},
		{"https://evil.example/", "/account"},
		{"http:/evil.example", "/account"},
		{"javascript:alert(1)", "/account"},
		{"evil.example", "/account"},
		{"/%2F%2Fevil.example", "/account"},
		{"/ok\r\nSet-Cookie: x=y", "/account"},
		{"/\tevil", "/account"},
		{" /account", "/account"},
	} {
		t.Run(tc.next, func(t *testing.T) {
			r := ts.postForm(t, "/login", formBody("email", addr, "password", pw, "next", tc.next))
			if r.Status != 303 || r.Header.Get("Location") != tc.want {
				t.Fatalf("next %q: %d to %q, want 303 to %q", tc.next, r.Status, r.Header.Get("Location"), tc.want)
			}
			page := ts.do(t, "GET", "/login?next="+url.QueryEscape(tc.next), nil)
			hidden := `name="next" value="`
			if tc.want == "/account" && tc.next != "" && strings.Contains(string(page.Body), hidden) {
				t.Errorf("the login page carries the refused next %q", tc.next)
			}
		})
	}
}

func TestPages_AccountFormsNeedTheHiddenToken(t *testing.T) {
	forms := []struct {
		path string
		body []string
	}{
		{"/account/logout", nil},
		{"/account/logout-all", nil},
		{"/account/password", []string{"current_password", "", "new_password", "another-good-passphrase"}},
		{"/account/revoke", []string{"id", ""}},
	}
	for _, f := range forms {
		for _, tc := range []struct {
			name string
			csrf func(s *session) string
		}{
			{"missing", func(*session) string { return "" }},
			{"wrong", func(*session) string { return "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }},
		} {
			t.Run(f.path+" "+tc.name, func(t *testing.T) {
				ts := newTestServer(t)
				addr, pw := ts.newUser(t)
				s := ts.formLogin(t, addr, pw)
				other := ts.MustLogin(t, addr, pw)
				body := f.body
				if f.path == "/account/password" {
					body = []string{"current_password", pw, "new_password", "another-good-passphrase"}
				}
				if f.path == "/account/revoke" {
					body = []string{"id", other.ID}
				}
				r := ts.postForm(t, f.path, formBody(append(body, "csrf", tc.csrf(s))...), withSession(s))
				if r.Status != 403 || !strings.Contains(string(r.Body), "This form has expired") {
					t.Fatalf("status %d, want 403 with the words; body %.300s", r.Status, r.Body)
				}
				// Nothing changed: both sessions live, the password is the old one.
				ts.do(t, "GET", "/v1/whoami", nil, cookieOnly(other)).want(t, 200, "")
				ts.do(t, "GET", "/account", nil, withSession(s)).want(t, 200, "")
				ts.MustLogin(t, addr, pw)
			})
		}
	}
}

func TestPages_AccountFormsWork(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)

	t.Run("revoke another device", func(t *testing.T) {
		s := ts.formLogin(t, addr, pw)
		other := ts.MustLogin(t, addr, pw)
		r := ts.postForm(t, "/account/revoke", formBody("csrf", s.CSRF, "id", other.ID), withSession(s))
		if r.Status != 303 || r.Header.Get("Location") != "/account?notice=revoked" {
			t.Fatalf("%d to %q", r.Status, r.Header.Get("Location"))
		}
		ts.do(t, "GET", "/v1/whoami", nil, cookieOnly(other)).want(t, 401, "unauthenticated")
		r = ts.postForm(t, "/account/revoke", formBody("csrf", s.CSRF, "id", other.ID), withSession(s))
		if r.Status != 404 || !strings.Contains(string(r.Body), "already signed out") {
			t.Fatalf("revoking it again: %d", r.Status)
		}
	})

	t.Run("change password", func(t *testing.T) {
		s := ts.formLogin(t, addr, pw)
		other := ts.MustLogin(t, addr, pw)
		r := ts.postForm(t, "/account/password", formBody("csrf", s.CSRF, "current_password", "not-the-password",
			"new_password", "a-new-passphrase-9"), withSession(s))
		if r.Status != 403 || !strings.Contains(string(r.Body), "current password is not right") {
			t.Fatalf("wrong current password: %d", r.Status)
		}
		r = ts.postForm(t, "/account/password", formBody("csrf", s.CSRF, "current_password", pw,
			"new_password", "a-new-passphrase-9"), withSession(s))
		if r.Status != 303 || r.Header.Get("Location") != "/account?notice=password-changed" {
			t.Fatalf("%d to %q", r.Status, r.Header.Get("Location"))
		}
		fresh, csrf := r.cookie(sessionCookie), r.cookie(csrfCookie)
		if fresh == nil || fresh.Value == s.Secret || csrf == nil {
			t.Fatal("no fresh session cookie after the password change")
		}
		ts.do(t, "GET", "/v1/whoami", nil, cookieOnly(s)).want(t, 401, "unauthenticated")
		ts.do(t, "GET", "/v1/whoami", nil, cookieOnly(other)).want(t, 401, "unauthenticated")
		ts.do(t, "GET", "/account", nil, withSession(&session{Secret: fresh.Value, CSRF: csrf.Value, cookieName: sessionCookie})).want(t, 200, "")
		pw = "a-new-passphrase-9"
	})

	for _, tc := range []struct {
		path, location string
	}{
		{"/account/logout", "/login?notice=signed-out"},
		{"/account/logout-all", "/login?notice=signed-out-all"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			s := ts.formLogin(t, addr, pw)
			other := ts.MustLogin(t, addr, pw)
			r := ts.postForm(t, tc.path, formBody("csrf", s.CSRF), withSession(s))
			if r.Status != 303 || r.Header.Get("Location") != tc.location {
				t.Fatalf("%d to %q", r.Status, r.Header.Get("Location"))
			}
			if c := r.cookie(sessionCookie); c == nil || c.MaxAge >= 0 {
				t.Error("the session cookie is not cleared")
			}
			ts.do(t, "GET", "/v1/whoami", nil, cookieOnly(s)).want(t, 401, "unauthenticated")
			wantOther := 200
			if tc.path == "/account/logout-all" {
				wantOther = 401
			}
			ts.do(t, "GET", "/v1/whoami", nil, cookieOnly(other)).want(t, wantOther, "")
			// The next action of a stale tab lands on the login page.
			r = ts.postForm(t, "/account/password", formBody("csrf", s.CSRF, "current_password", pw,
				"new_password", "whatever-passphrase-1"), withSession(s))
			if r.Status != 303 || r.Header.Get("Location") != "/login?next=/account" {
				t.Fatalf("stale tab: %d to %q", r.Status, r.Header.Get("Location"))
			}
		})
	}
}

func TestPages_CrossOriginFormPostsRefused(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	s := ts.formLogin(t, addr, pw)
	for _, tc := range []struct {
		path string
		body string
	}{
		{"/login", formBody("email", addr, "password", pw)},
		{"/signup", formBody("email", "new@example.com", "password", "horse-battery-staple")},
		{"/account/logout", formBody("csrf", s.CSRF)},
		{"/account/password", formBody("csrf", s.CSRF, "current_password", pw, "new_password", "x-new-passphrase-1")},
	} {
		t.Run(tc.path, func(t *testing.T) {
			// Even with the right hidden token and the cookies: a foreign page's post.
			r := ts.do(t, "POST", tc.path, tc.body, ctype("application/x-www-form-urlencoded"),
				header("Sec-Fetch-Site", "cross-site"), header("Origin", "http://127.0.0.2:1"), withSession(s))
			r.want(t, 403, "csrf_failed")
			if len(r.setCookies()) != 0 {
				t.Errorf("a refused cross-origin post set cookies %q", r.setCookies())
			}
		})
	}
	ts.do(t, "GET", "/account", nil, withSession(s)).want(t, 200, "")
	ts.MustLogin(t, addr, pw)
}

func TestDeviceNames(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	for _, tc := range []struct{ ua, want string }{
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36", "Chrome 156 on Linux"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0", "Edge 120 on Windows"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1", "Safari 17 on iPhone"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14.0; rv:121.0) Gecko/20100101 Firefox/121.0", "Firefox 121 on macOS"},
		{"curl/8.5.0", "curl 8.5"},
		{"", "Unknown device"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			s := ts.MustLogin(t, addr, pw, header("User-Agent", tc.ua))
			me := ts.formLogin(t, addr, pw)
			r := ts.do(t, "GET", "/account", nil, withSession(me))
			if !strings.Contains(string(r.Body), `<p class="device-name">`+tc.want+`</p>`) {
				t.Fatalf("no device %q on the account page", tc.want)
			}
			ts.do(t, "POST", "/v1/logout", nil, as(s), noContentType()).want(t, 204, "")
			ts.do(t, "POST", "/v1/logout", nil, as(me), noContentType()).want(t, 204, "")
		})
	}
}

// BenchmarkPages is GET /account and /login beside GET /v1/whoami on the
// same session, through the whole handler: what a page costs next to the
// API call it is built on (BENCHMARKS.md).
func BenchmarkPages(b *testing.B) {
	ts := newTestServer(b)
	addr, pw := ts.newUser(b)
	sess := ts.MustLogin(b, addr, pw)
	for _, path := range []string{"/v1/whoami", "/account", "/login"} {
		b.Run(strings.TrimPrefix(path, "/"), func(b *testing.B) {
			req := httptest.NewRequest("GET", path, nil)
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: sess.Secret})
			req.AddCookie(&http.Cookie{Name: csrfCookie, Value: sess.CSRF})
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				ts.Handler.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
