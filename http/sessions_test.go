package http_test

import (
	"encoding/base64"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latch-dev/latch"
)

// setCookie is a raw Set-Cookie line taken apart: attribute names lower-cased,
// flags with an empty value.
type setCookie struct {
	name, value string
	attrs       map[string]string
}

func parseSetCookie(t testing.TB, line string) setCookie {
	t.Helper()
	parts := strings.Split(line, ";")
	name, value, ok := strings.Cut(strings.TrimSpace(parts[0]), "=")
	if !ok {
		t.Fatalf("malformed Set-Cookie %q", line)
	}
	c := setCookie{name: name, value: value, attrs: map[string]string{}}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		k = strings.ToLower(k)
		if _, dup := c.attrs[k]; dup {
			t.Fatalf("attribute %s twice in %q", k, line)
		}
		c.attrs[k] = v
	}
	return c
}

// setCookieMap parses every Set-Cookie line, failing on a name set twice.
func setCookieMap(t testing.TB, r *response) map[string]setCookie {
	t.Helper()
	m := map[string]setCookie{}
	for _, line := range r.setCookies() {
		c := parseSetCookie(t, line)
		if _, dup := m[c.name]; dup {
			t.Fatalf("cookie %s set twice: %q", c.name, r.setCookies())
		}
		m[c.name] = c
	}
	return m
}

// wantAttrs checks a cookie's attributes exactly: the same names, and the
// values given (a value of "*" is not compared).
func wantAttrs(t testing.TB, c setCookie, want map[string]string) {
	t.Helper()
	if got, exp := slices.Sorted(maps.Keys(c.attrs)), slices.Sorted(maps.Keys(want)); !slices.Equal(got, exp) {
		t.Fatalf("cookie %s has attributes %v, want exactly %v", c.name, got, exp)
	}
	for k, v := range want {
		if v != "*" && c.attrs[k] != v {
			t.Fatalf("cookie %s: %s=%q, want %q", c.name, k, c.attrs[k], v)
		}
	}
}

func maxAgeOf(t testing.TB, c setCookie) int {
	t.Helper()
	n, err := strconv.Atoi(c.attrs["max-age"])
	if err != nil {
		t.Fatalf("cookie %s: Max-Age %q: %v", c.name, c.attrs["max-age"], err)
	}
	return n
}

// SECURITY.md 1
func TestLogin_SessionCookieAttributes(t *testing.T) {
	const absolute = 2 * time.Hour
	for _, tc := range []struct {
		name          string
		opts          []option
		session, csrf string
		secure        bool
	}{
		{"default", nil, "__Host-latch_session", "__Host-latch_csrf", true},
		{"insecure cookies", []option{withInsecureCookies()}, "latch_session", "latch_csrf", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, append(tc.opts, withAbsoluteTimeout(absolute))...)
			addr, pw := ts.newUser(t)
			r := ts.do(t, "POST", "/v1/login", map[string]string{"email": addr, "password": pw})
			r.want(t, 200, "")
			got := setCookieMap(t, r)
			if len(got) != 2 {
				t.Fatalf("login set %d cookies, want the session and CSRF cookies: %q", len(got), r.setCookies())
			}
			sess, ok := got[tc.session]
			if !ok {
				t.Fatalf("no %s cookie in %q", tc.session, r.setCookies())
			}
			csrf, ok := got[tc.csrf]
			if !ok {
				t.Fatalf("no %s cookie in %q", tc.csrf, r.setCookies())
			}
			wantSess := map[string]string{"path": "/", "max-age": "*", "httponly": "", "samesite": "Lax"}
			wantCSRF := map[string]string{"path": "/", "max-age": "*", "samesite": "Lax"} // readable by scripts on purpose
			if tc.secure {
				wantSess["secure"], wantCSRF["secure"] = "", ""
			}
			wantAttrs(t, sess, wantSess) // no Domain, no Expires
			wantAttrs(t, csrf, wantCSRF)
			for _, c := range []setCookie{sess, csrf} {
				if age := maxAgeOf(t, c); age <= 0 || age > int(absolute/time.Second) {
					t.Errorf("cookie %s: Max-Age=%d, want within (0, %d]", c.name, age, int(absolute/time.Second))
				}
			}
			if csrf.value != r.str(t, "csrf_token") {
				t.Errorf("CSRF cookie %q differs from the body's csrf_token", csrf.value)
			}

			// The secret: 256 bits, and never in a body.
			secret := sess.value
			if raw, err := base64.RawURLEncoding.DecodeString(secret); err != nil || len(raw) < 16 {
				t.Fatalf("session secret %q is not >= 128 bits of base64url", secret)
			}
			s := &session{ID: r.str(t, "session.id"), Secret: secret, CSRF: csrf.value, cookieName: tc.session}
			if s.ID == secret || s.CSRF == secret {
				t.Fatal("the session handle or CSRF token is the cookie secret")
			}
			bodies := map[string][]byte{"login": r.Body}
			for _, path := range []string{"/v1/whoami", "/v1/sessions"} {
				b := ts.do(t, "GET", path, nil, as(s))
				b.want(t, 200, "")
				bodies[path] = b.Body
			}
			ex := ts.do(t, "POST", "/v1/token/exchange", nil, as(s))
			ex.want(t, 200, "")
			bodies["exchange"] = ex.Body
			for name, b := range bodies {
				if strings.Contains(string(b), secret) {
					t.Errorf("%s body contains the session secret", name)
				}
			}
		})
	}
}

// SECURITY.md 1 (API.md §3: the store keeps only a hash of the cookie secret)
func TestLogin_SessionSecretStoredHashedOnly(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	s := ts.MustLogin(t, addr, pw)
	if ts.Sessions.holds(s.Secret) || ts.Sessions.holds(s.CSRF) {
		t.Fatal("the session store was given the cookie secret or the CSRF token")
	}
	if !ts.Sessions.wrote(latch.HashSecret(s.Secret)) {
		t.Fatal("the session store was not given the SHA-256 of the cookie secret")
	}
}

// SECURITY.md 3
func TestLogin_Fixation(t *testing.T) {
	ts := newTestServer(t)

	t.Run("planted unknown cookie", func(t *testing.T) {
		addr, pw := ts.newUser(t)
		planted := "attacker-chosen-cookie-value-0123456789abcdef"
		s := ts.MustLogin(t, addr, pw, withCookie(sessionCookie, planted))
		if s.Secret == planted {
			t.Fatal("login kept the planted cookie value")
		}
		ts.wantDead(t, "planted cookie", withCookie(sessionCookie, planted))
		ts.wantAlive(t, "new cookie", cookieOnly(s))
	})

	t.Run("planted live cookie of the attacker's account", func(t *testing.T) {
		attacker, apw := ts.newUser(t)
		victim, vpw := ts.newUser(t)
		planted := ts.MustLogin(t, attacker, apw)
		s := ts.MustLogin(t, victim, vpw, cookieOnly(planted))
		if s.Secret == planted.Secret || s.ID == planted.ID {
			t.Fatal("login reused the planted session")
		}
		ts.wantDead(t, "planted session", cookieOnly(planted))
		r := ts.do(t, "GET", "/v1/whoami", nil, cookieOnly(s))
		r.want(t, 200, "")
		if got := r.str(t, "user.email"); got != victim {
			t.Fatalf("new session is %s's, want %s's", got, victim)
		}
	})

	t.Run("re-authentication", func(t *testing.T) {
		addr, pw := ts.newUser(t)
		s1 := ts.MustLogin(t, addr, pw)
		s2 := ts.MustLogin(t, addr, pw, cookieOnly(s1))
		if s2.Secret == s1.Secret || s2.CSRF == s1.CSRF {
			t.Fatal("re-authentication kept the secret or CSRF token")
		}
		ts.wantDead(t, "pre-login cookie", cookieOnly(s1))
		ts.wantAlive(t, "post-login cookie", cookieOnly(s2))
	})

	for name, ts := range map[string]*testServer{"cached sessions": ts, "store only": newTestServer(t, withoutSessionCache())} {
		t.Run("password change, "+name, func(t *testing.T) {
			addr, pw := ts.newUser(t)
			s := ts.MustLogin(t, addr, pw)
			r := ts.do(t, "POST", "/v1/password", map[string]string{"current_password": pw, "new_password": pw + "-new"}, as(s))
			r.want(t, 204, "")
			fresh := ts.sessionCookies(t, r, s)
			if fresh.Secret == s.Secret || fresh.CSRF == s.CSRF {
				t.Fatal("password change kept the cookie secret or CSRF token")
			}
			ts.wantDead(t, "cookie from before the change", cookieOnly(s))
			w := ts.do(t, "GET", "/v1/whoami", nil, cookieOnly(fresh))
			w.want(t, 200, "")
			if got := w.str(t, "auth.session_id"); got != s.ID {
				t.Fatalf("session handle changed from %s to %s", s.ID, got)
			}
			// The old CSRF token died with the old secret.
			old := *fresh
			old.CSRF = s.CSRF
			ts.do(t, "POST", "/v1/logout", nil, as(&old)).want(t, 403, "csrf_failed")
		})
	}
}

// sessionCookies reads the new session and CSRF cookies a password change sets.
func (ts *testServer) sessionCookies(t testing.TB, r *response, s *session) *session {
	t.Helper()
	sc, cc := r.cookie(sessionCookie), r.cookie(csrfCookie)
	if sc == nil || cc == nil {
		t.Fatalf("no new session and CSRF cookies: %q", r.setCookies())
	}
	return &session{ID: s.ID, Secret: sc.Value, CSRF: cc.Value, UserID: s.UserID, cookieName: sessionCookie}
}

// SECURITY.md 4
func TestSession_UnknownSecretNeverAdopted(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	unknown := base64.RawURLEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")) // well-formed, never issued

	for _, tc := range []struct {
		name, method, path string
		body               any
		opts               []reqOpt
		status             int
	}{
		{"whoami", "GET", "/v1/whoami", nil, nil, 401},
		{"sessions", "GET", "/v1/sessions", nil, nil, 401},
		{"logout", "POST", "/v1/logout", nil, []reqOpt{header("X-CSRF-Token", "x")}, 401},
		{"exchange", "POST", "/v1/token/exchange", nil, []reqOpt{header("X-CSRF-Token", "x")}, 401},
		{"login", "POST", "/v1/login", map[string]string{"email": addr, "password": pw}, nil, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do(t, tc.method, tc.path, tc.body, append(tc.opts, withCookie(sessionCookie, unknown))...)
			r.want(t, tc.status, "")
			if strings.Contains(string(r.Body), unknown) {
				t.Fatal("the unknown secret is echoed in the body")
			}
			for _, line := range r.setCookies() {
				if strings.Contains(line, unknown) {
					t.Fatalf("the unknown secret is set back as a cookie: %q", line)
				}
			}
			if tc.status != 200 && len(r.setCookies()) > 0 {
				t.Fatalf("a refused request set cookies: %q", r.setCookies())
			}
			ts.wantDead(t, "unknown secret", withCookie(sessionCookie, unknown))
		})
	}
	if ts.Sessions.wrote(latch.HashSecret(unknown)) {
		t.Fatal("a session was stored under the unknown secret")
	}
}

// SECURITY.md 5
func TestSession_OnlyFromCookieAndHeader(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	s := ts.MustLogin(t, addr, pw)
	tok := ts.MustTokenLogin(t, addr, pw)

	// The credentials work where they belong.
	ts.wantAlive(t, "cookie", cookieOnly(s))
	ts.wantAlive(t, "bearer", bearer(tok.Access))

	for _, tc := range []struct {
		name, path string
		opts       []reqOpt
	}{
		{"session secret in ?session=", "/v1/whoami?session=" + s.Secret, nil},
		{"session secret in ?" + sessionCookie + "=", "/v1/whoami?" + sessionCookie + "=" + s.Secret, nil},
		{"access token in ?access_token=", "/v1/whoami?access_token=" + tok.Access, nil},
		{"access token in ?token=", "/v1/whoami?token=" + tok.Access, nil},
		{"access token in the session cookie", "/v1/whoami", []reqOpt{withCookie(sessionCookie, tok.Access)}},
		{"access token in an access_token cookie", "/v1/whoami", []reqOpt{withCookie("access_token", tok.Access)}},
		{"refresh token in the session cookie", "/v1/whoami", []reqOpt{withCookie(sessionCookie, tok.Refresh)}},
		{"session secret as a bearer token", "/v1/whoami", []reqOpt{bearer(s.Secret)}},
		{"invalid bearer beside a valid cookie", "/v1/whoami", []reqOpt{bearer("not-a-token"), cookieOnly(s)}},
		{"empty Authorization beside a valid cookie", "/v1/whoami", []reqOpt{header("Authorization", ""), cookieOnly(s)}},
		{"access token in X-Access-Token", "/v1/whoami", []reqOpt{header("X-Access-Token", tok.Access)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do(t, "GET", tc.path, nil, tc.opts...)
			r.want(t, 401, "unauthenticated")
		})
	}

	t.Run("logout with the token in the query", func(t *testing.T) {
		ts.do(t, "POST", "/v1/logout?access_token="+tok.Access, nil).want(t, 401, "unauthenticated")
		ts.wantAlive(t, "token after a query-string logout", bearer(tok.Access))
	})
}

// SECURITY.md 6
func TestSession_Timeouts(t *testing.T) {
	const idle, absolute = 30 * time.Minute, 2 * time.Hour
	forSessionModes(t, func(t *testing.T, opts []option) {
		ts := newTestServer(t, append(opts, withIdleTimeout(idle), withAbsoluteTimeout(absolute))...)
		addr, pw := ts.newUser(t)
		expiresAt := func(s *session) time.Time {
			t.Helper()
			r := ts.do(t, "GET", "/v1/whoami", nil, cookieOnly(s))
			r.want(t, 200, "")
			at, err := time.Parse(time.RFC3339, r.str(t, "auth.expires_at"))
			if err != nil {
				t.Fatal(err)
			}
			return at
		}

		t.Run("idle", func(t *testing.T) {
			s := ts.MustLogin(t, addr, pw)
			for range 3 { // each use slides the deadline
				ts.Clock.Advance(idle - time.Second)
				if got, want := expiresAt(s), ts.Clock.Now().Add(idle); got.Sub(want).Abs() > time.Second {
					t.Fatalf("expires_at %v, want %v (now + idle)", got, want)
				}
			}
			ts.Clock.Advance(idle + time.Second)
			ts.wantDead(t, "session idle longer than the timeout", cookieOnly(s))
		})

		t.Run("absolute", func(t *testing.T) {
			s := ts.MustLogin(t, addr, pw)
			deadline := ts.Clock.Now().Add(absolute)
			for ts.Clock.Now().Add(20 * time.Minute).Before(deadline) {
				ts.Clock.Advance(20 * time.Minute)
				if got := expiresAt(s); got.After(deadline) {
					t.Fatalf("expires_at %v slid past the absolute deadline %v", got, deadline)
				}
			}
			ts.Clock.Advance(deadline.Sub(ts.Clock.Now()) - time.Second)
			if got := expiresAt(s); !got.Equal(deadline) {
				t.Fatalf("a second before the absolute deadline expires_at is %v, want %v", got, deadline)
			}
			ts.Clock.Advance(time.Second)
			ts.wantDead(t, "session at its absolute deadline, though in use", cookieOnly(s))
		})
	})
}

// SECURITY.md 7
func TestCredentialResponses_NoStore(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	for _, tc := range []struct {
		name string
		do   func(t *testing.T) *response
	}{
		{"session login", func(t *testing.T) *response {
			return ts.do(t, "POST", "/v1/login", map[string]string{"email": addr, "password": pw})
		}},
		{"token login, refresh in the body", func(t *testing.T) *response {
			return ts.do(t, "POST", "/v1/login", map[string]string{"email": addr, "password": pw, "mode": "token", "refresh_delivery": "body"})
		}},
		{"token login, refresh cookie", func(t *testing.T) *response {
			return ts.do(t, "POST", "/v1/login", map[string]string{"email": addr, "password": pw, "mode": "token"})
		}},
		{"refresh, body", func(t *testing.T) *response {
			tok := ts.MustTokenLogin(t, addr, pw)
			return ts.do(t, "POST", "/v1/token/refresh", map[string]string{"refresh_token": tok.Refresh})
		}},
		{"refresh, cookie", func(t *testing.T) *response {
			r := ts.do(t, "POST", "/v1/login", map[string]string{"email": addr, "password": pw, "mode": "token"})
			c := r.cookie(refreshCookie)
			if c == nil {
				t.Fatal("no refresh cookie")
			}
			return ts.do(t, "POST", "/v1/token/refresh", nil, withCookie(refreshCookie, c.Value))
		}},
		{"exchange", func(t *testing.T) *response {
			return ts.do(t, "POST", "/v1/token/exchange", nil, as(ts.MustLogin(t, addr, pw)))
		}},
		{"password change (new session cookie)", func(t *testing.T) *response {
			s := ts.MustLogin(t, addr, pw)
			r := ts.do(t, "POST", "/v1/password", map[string]string{"current_password": pw, "new_password": pw + "-2"}, as(s))
			r.want(t, 204, "")
			// Change it back for the next cases.
			ts.do(t, "POST", "/v1/password", map[string]string{"current_password": pw + "-2", "new_password": pw},
				as(ts.sessionCookies(t, r, s))).want(t, 204, "")
			return r
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.do(t)
			if r.Status/100 != 2 {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
				t.Fatalf("Cache-Control %q, want no-store", cc)
			}
		})
	}
}

// SECURITY.md 8
func TestPasswordChangeAndDisable_EndOtherSessions(t *testing.T) {
	const adminKey = "admin-key-for-tests-0123456789"
	ts := newTestServer(t, withAdminKey(adminKey))

	t.Run("password change from a cookie session", func(t *testing.T) {
		addr, pw := ts.newUser(t)
		a, b := ts.MustLogin(t, addr, pw), ts.MustLogin(t, addr, pw)
		exB := ts.MustExchange(t, b)
		fam := ts.MustTokenLogin(t, addr, pw)

		r := ts.do(t, "POST", "/v1/password", map[string]string{"current_password": pw, "new_password": pw + "-new"}, as(a))
		r.want(t, 204, "")
		ts.wantAlive(t, "the session that changed it (new cookie)", cookieOnly(ts.sessionCookies(t, r, a)))
		ts.wantDead(t, "other session", cookieOnly(b))
		ts.wantDead(t, "token exchanged from the other session", bearer(exB))
		ts.wantDead(t, "other family's access token", bearer(fam.Access))
		if st, code := ts.refreshStatus(t, fam.Refresh); st != 401 || code != "invalid_refresh_token" {
			t.Fatalf("other family's refresh: %d %s, want 401 invalid_refresh_token", st, code)
		}
		ts.do(t, "POST", "/v1/login", map[string]string{"email": addr, "password": pw}).want(t, 401, "invalid_credentials")
		ts.MustLogin(t, addr, pw+"-new")
	})

	t.Run("password change from a token family", func(t *testing.T) {
		addr, pw := ts.newUser(t)
		s := ts.MustLogin(t, addr, pw)
		fam := ts.MustTokenLogin(t, addr, pw)
		ts.do(t, "POST", "/v1/password", map[string]string{"current_password": pw, "new_password": pw + "-new"}, bearer(fam.Access)).want(t, 204, "")
		ts.wantDead(t, "cookie session", cookieOnly(s))
		ts.wantAlive(t, "the family that changed it", bearer(fam.Access))
		ts.MustRefresh(t, fam.Refresh)
	})

	t.Run("admin disable", func(t *testing.T) {
		addr, pw := ts.newUser(t)
		s := ts.MustLogin(t, addr, pw)
		ex := ts.MustExchange(t, s)
		fam := ts.MustTokenLogin(t, addr, pw)
		ts.do(t, "POST", "/v1/admin/users/"+s.UserID+"/disable", nil, bearer(adminKey)).want(t, 204, "")
		ts.wantDead(t, "cookie session", cookieOnly(s))
		ts.wantDead(t, "exchanged token", bearer(ex))
		ts.wantDead(t, "family access token", bearer(fam.Access))
		if st, _ := ts.refreshStatus(t, fam.Refresh); st != 401 {
			t.Fatalf("refresh of a disabled account: %d, want 401", st)
		}
		ts.do(t, "POST", "/v1/login", map[string]string{"email": addr, "password": pw}).want(t, 403, "account_disabled")
		ts.do(t, "POST", "/v1/admin/users/"+s.UserID+"/enable", nil, bearer(adminKey)).want(t, 204, "")
		ts.MustLogin(t, addr, pw)
	})
}

// API.md §1 --max-sessions-per-user: the oldest session or family goes.
func TestLogin_MaxSessionsPerUser(t *testing.T) {
	ts := newTestServer(t, withMaxSessions(2))
	addr, pw := ts.newUser(t)
	first := ts.MustTokenLogin(t, addr, pw)
	ts.Clock.Advance(time.Second)
	second := ts.MustLogin(t, addr, pw)
	ts.Clock.Advance(time.Second)
	third := ts.MustLogin(t, addr, pw)
	ts.wantDead(t, "oldest family's access token", bearer(first.Access))
	if st, _ := ts.refreshStatus(t, first.Refresh); st != 401 {
		t.Fatalf("oldest family's refresh: %d, want 401", st)
	}
	ts.wantAlive(t, "second session", cookieOnly(second))
	ts.wantAlive(t, "newest session", cookieOnly(third))
}
