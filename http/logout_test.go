package http_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/latch-dev/latch"
)

// SECURITY.md 30
func TestLogout_EndsServerState(t *testing.T) {
	ts := newTestServer(t, withClient("rs", "rs-secret"))
	addr, pw := ts.newUser(t)

	t.Run("cookie session and its exchanged token", func(t *testing.T) {
		s := ts.MustLogin(t, addr, pw)
		ex := ts.MustExchange(t, s)
		ts.do(t, "POST", "/v1/logout", nil, as(s)).want(t, 204, "")
		ts.wantDead(t, "cookie", cookieOnly(s))
		ts.wantDead(t, "token exchanged from the session", bearer(ex))
		ts.do(t, "POST", "/v1/logout", nil, as(s)).want(t, 401, "unauthenticated")
	})

	t.Run("bearer: access token and its family", func(t *testing.T) {
		tok := ts.MustTokenLogin(t, addr, pw)
		older := ts.MustRefresh(t, tok.Refresh) // the family has issued two access tokens
		cur := ts.MustRefresh(t, older.Refresh)
		ts.do(t, "POST", "/v1/logout", nil, bearer(cur.Access)).want(t, 204, "")
		ts.wantDead(t, "access token", bearer(cur.Access))
		ts.wantDead(t, "earlier access token of the family", bearer(older.Access))
		if st, code := ts.refreshStatus(t, cur.Refresh); st != 401 || code != "invalid_refresh_token" {
			t.Fatalf("refresh after logout: %d %s, want 401 invalid_refresh_token", st, code)
		}
		if in := ts.introspect(t, cur.Access); in["active"] != false {
			t.Fatalf("introspection after logout: %v", in)
		}
	})

	t.Run("bearer from an exchange ends the session", func(t *testing.T) {
		s := ts.MustLogin(t, addr, pw)
		ex := ts.MustExchange(t, s)
		ts.do(t, "POST", "/v1/logout", nil, bearer(ex)).want(t, 204, "")
		ts.wantDead(t, "the session behind the exchanged token", cookieOnly(s))
	})

	t.Run("refresh cookie", func(t *testing.T) {
		r := ts.do(t, "POST", "/v1/login", map[string]string{"email": addr, "password": pw, "mode": "token"})
		rc, at := r.cookie(refreshCookie).Value, r.str(t, "access_token")
		ts.do(t, "POST", "/v1/logout", nil, bearer(at)).want(t, 204, "")
		ts.do(t, "POST", "/v1/token/refresh", nil, withCookie(refreshCookie, rc)).want(t, 401, "invalid_refresh_token")
	})
}

// introspect calls RFC 7662 introspection as client rs.
func (ts *testServer) introspect(t testing.TB, tok string) map[string]any {
	t.Helper()
	r := ts.do(t, "POST", "/oauth2/introspect", "token="+url.QueryEscape(tok),
		ctype("application/x-www-form-urlencoded"), basic("rs", "rs-secret"))
	r.want(t, 200, "")
	return r.json(t)
}

func basic(id, secret string) reqOpt {
	return func(r *http.Request) { r.SetBasicAuth(id, secret) }
}

// SECURITY.md 31
func TestLogout_ClearsCookies(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		opts                   []option
		session, csrf, refresh string
	}{
		{"default", nil, "__Host-latch_session", "__Host-latch_csrf", "__Secure-latch_refresh"},
		{"insecure cookies", []option{withInsecureCookies()}, "latch_session", "latch_csrf", "latch_refresh"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, tc.opts...)
			addr, pw := ts.newUser(t)
			// cleared checks a Set-Cookie that deletes name at path, with the
			// attributes it was set with (a browser matches on name, path, domain).
			cleared := func(t *testing.T, r *response, want map[string]map[string]string) {
				t.Helper()
				got := setCookieMap(t, r)
				if len(got) != len(want) {
					t.Fatalf("cleared cookies %q, want exactly %d", r.setCookies(), len(want))
				}
				for name, attrs := range want {
					c, ok := got[name]
					if !ok {
						t.Fatalf("%s not cleared: %q", name, r.setCookies())
					}
					if c.value != "" {
						t.Fatalf("%s cleared with value %q", name, c.value)
					}
					wantAttrs(t, c, attrs)
				}
			}
			secure := func(m map[string]string) map[string]string {
				if !strings.HasPrefix(tc.session, "__") {
					return m
				}
				m["secure"] = ""
				return m
			}
			sessionCookies := func() map[string]map[string]string {
				return map[string]map[string]string{
					tc.session: secure(map[string]string{"path": "/", "max-age": "0", "httponly": "", "samesite": "Lax"}),
					tc.csrf:    secure(map[string]string{"path": "/", "max-age": "0", "samesite": "Lax"}),
				}
			}
			refreshCookies := func() map[string]map[string]string {
				return map[string]map[string]string{
					tc.refresh: secure(map[string]string{"path": "/v1/token", "max-age": "0", "httponly": "", "samesite": "Strict"}),
				}
			}
			login := func() *session {
				r := ts.do(t, "POST", "/v1/login", map[string]string{"email": addr, "password": pw})
				r.want(t, 200, "")
				return ts.sessionFrom(t, r, tc.session)
			}

			t.Run("session logout", func(t *testing.T) {
				r := ts.do(t, "POST", "/v1/logout", nil, as(login()))
				r.want(t, 204, "")
				cleared(t, r, sessionCookies())
			})
			t.Run("session logout-all", func(t *testing.T) {
				r := ts.do(t, "POST", "/v1/logout-all", nil, as(login()))
				r.want(t, 204, "")
				cleared(t, r, sessionCookies())
			})
			t.Run("delete own session", func(t *testing.T) {
				s := login()
				r := ts.do(t, "DELETE", "/v1/sessions/"+s.ID, nil, as(s))
				r.want(t, 204, "")
				cleared(t, r, sessionCookies())
			})
			t.Run("bearer logout", func(t *testing.T) {
				r := ts.do(t, "POST", "/v1/logout", nil, bearer(ts.MustTokenLogin(t, addr, pw).Access))
				r.want(t, 204, "")
				cleared(t, r, refreshCookies())
			})
		})
	}
}

// SECURITY.md 32
func TestRevocation_KeyedByClaims(t *testing.T) {
	ts := newTestServer(t, withClient("rs", "rs-secret"))
	addr, pw := ts.newUser(t)
	revoke := func(t *testing.T, tok string) {
		t.Helper()
		ts.do(t, "POST", "/oauth2/revoke", "token="+url.QueryEscape(tok), ctype("application/x-www-form-urlencoded")).want(t, 200, "")
	}

	t.Run("jti", func(t *testing.T) {
		tok := ts.MustTokenLogin(t, addr, pw)
		c := ts.claimsFor(t, tok.Access)
		ts.wantAlive(t, "token before revocation", bearer(tok.Access)) // now in the verified-token cache
		revoke(t, tok.Access)
		ts.wantDead(t, "revoked token", bearer(tok.Access))

		// The same jti in other bytes: a later iat, a shorter exp.
		v1, v2 := *c, *c
		v1.IssuedAt = c.IssuedAt.Add(-time.Second)
		v2.ExpiresAt = c.ExpiresAt.Add(-time.Minute)
		for i, v := range []*latch.AccessClaims{&v1, &v2} {
			variant := ts.mint(t, v)
			if variant == tok.Access {
				t.Fatal("the variant is the same token")
			}
			ts.wantDead(t, fmt.Sprintf("variant %d with the revoked jti", i), bearer(variant))
		}
		// Control: the same claims with another jti are live (only that jti was revoked).
		fresh := *c
		fresh.ID = "a-fresh-jti"
		ts.wantAlive(t, "same family, fresh jti", bearer(ts.mint(t, &fresh)))
	})

	t.Run("sid", func(t *testing.T) {
		tok := ts.MustTokenLogin(t, addr, pw)
		c := ts.claimsFor(t, tok.Access)
		ts.do(t, "POST", "/v1/logout", nil, bearer(tok.Access)).want(t, 204, "")
		other := *c
		other.ID, other.IssuedAt = "another-jti-of-the-family", c.IssuedAt.Add(time.Second)
		ts.wantDead(t, "another token of the logged-out sid", bearer(ts.mint(t, &other)))
		// Control: a token of another sid is live.
		other.SessionID = "some-other-sid"
		ts.wantAlive(t, "a token of another sid", bearer(ts.mint(t, &other)))
	})

	t.Run("sub", func(t *testing.T) {
		tok := ts.MustTokenLogin(t, addr, pw)
		c := ts.claimsFor(t, tok.Access)
		ts.Clock.Advance(2 * time.Second)
		ts.do(t, "POST", "/v1/logout-all", nil, bearer(tok.Access)).want(t, 204, "")
		older := *c
		older.ID, older.SessionID = "jti-never-seen", "sid-never-seen"
		ts.wantDead(t, "any token of the user issued before logout-all", bearer(ts.mint(t, &older)))
		newer := older
		newer.IssuedAt = ts.Clock.Now().Truncate(time.Second)
		newer.ExpiresAt = newer.IssuedAt.Add(time.Minute)
		ts.wantAlive(t, "a token issued after logout-all", bearer(ts.mint(t, &newer)))
	})

	t.Run("re-serialised spellings", func(t *testing.T) {
		tok := ts.MustTokenLogin(t, addr, pw).Access
		parts := strings.Split(tok, ".")
		for name, variant := range map[string]string{
			"padded payload":       parts[0] + "." + parts[1] + "==." + parts[2],
			"padded signature":     tok + "=",
			"standard alphabet":    strings.NewReplacer("-", "+", "_", "/").Replace(tok),
			"trailing dot":         tok + ".",
			"percent-encoded dots": strings.ReplaceAll(tok, ".", "%2E"),
		} {
			if variant == tok {
				continue // no - or _ to replace
			}
			ts.wantDead(t, name, bearer(variant))
		}
		revoke(t, tok)
		ts.wantDead(t, "revoked token with a trailing space", header("Authorization", "Bearer "+tok+" "))
		ts.wantDead(t, "revoked token, lower-case scheme", header("Authorization", "bearer "+tok))
	})
}

// SECURITY.md 33 (every device)
func TestLogoutAll_EveryDevice(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	otherAddr, otherPW := ts.newUser(t)

	for _, via := range []string{"cookie", "bearer"} {
		t.Run(via, func(t *testing.T) {
			s1, s2 := ts.MustLogin(t, addr, pw), ts.MustLogin(t, addr, pw)
			ex := ts.MustExchange(t, s2)
			fam := ts.MustTokenLogin(t, addr, pw)
			bystander := ts.MustLogin(t, otherAddr, otherPW)
			ts.Clock.Advance(time.Second)
			if via == "cookie" {
				ts.do(t, "POST", "/v1/logout-all", nil, as(s1)).want(t, 204, "")
			} else {
				ts.do(t, "POST", "/v1/logout-all", nil, bearer(fam.Access)).want(t, 204, "")
			}
			ts.wantDead(t, "session 1", cookieOnly(s1))
			ts.wantDead(t, "session 2", cookieOnly(s2))
			ts.wantDead(t, "exchanged token", bearer(ex))
			ts.wantDead(t, "family access token", bearer(fam.Access))
			if st, _ := ts.refreshStatus(t, fam.Refresh); st != 401 {
				t.Fatalf("family refresh after logout-all: %d, want 401", st)
			}
			ts.wantAlive(t, "another user's session", cookieOnly(bystander))
			ts.MustLogin(t, addr, pw) // a new login works at once
		})
	}
}

// SECURITY.md 33 (every instance)
func TestLogoutAll_EveryInstance(t *testing.T) {
	a := newTestServer(t, withoutSessionCache(), withFollow(50*time.Millisecond))
	b := newTestServer(t, withoutSessionCache(), withFollow(50*time.Millisecond), withSharedStores(a))
	addr, pw := a.newUser(t)
	sa := a.MustLogin(t, addr, pw)
	sb := b.MustLogin(t, addr, pw)
	tb := b.MustTokenLogin(t, addr, pw)
	b.wantAlive(t, "session on b", cookieOnly(sb))
	b.wantAlive(t, "token on b", bearer(tb.Access)) // verified and cached on b
	a.Clock.Advance(time.Second)

	a.do(t, "POST", "/v1/logout-all", nil, as(sa)).want(t, 204, "")
	b.wantDead(t, "session on the other instance, next request", cookieOnly(sb))
	deadline := time.Now().Add(2 * time.Second)
	for b.whoami(t, bearer(tb.Access)) != 401 {
		if time.Now().After(deadline) {
			t.Fatal("the other instance still accepts the access token 2 s after logout-all")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st, _ := b.refreshStatus(t, tb.Refresh); st != 401 {
		t.Fatalf("refresh on the other instance: %d, want 401", st)
	}
}

// SECURITY.md 33 (session lists)
func TestSessions_OnlyTheCallersWithoutSecrets(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	otherAddr, otherPW := ts.newUser(t)
	s1 := ts.MustLogin(t, addr, pw, header("User-Agent", "browser-one"))
	s2 := ts.MustLogin(t, addr, pw)
	fam := ts.MustTokenLogin(t, addr, pw)
	theirs := ts.MustLogin(t, otherAddr, otherPW)
	theirFam := ts.MustTokenLogin(t, otherAddr, otherPW)

	for _, cred := range []struct {
		name    string
		opts    []reqOpt
		current string
	}{
		{"cookie", []reqOpt{cookieOnly(s1)}, s1.ID},
		{"bearer", []reqOpt{bearer(fam.Access)}, claimsOf(t, fam.Access)["sid"].(string)},
	} {
		t.Run(cred.name, func(t *testing.T) {
			r := ts.do(t, "GET", "/v1/sessions", nil, cred.opts...)
			r.want(t, 200, "")
			if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			for _, secret := range []string{s1.Secret, s1.CSRF, s2.Secret, s2.CSRF, fam.Refresh, fam.Access, theirs.Secret} {
				if strings.Contains(string(r.Body), secret) {
					t.Fatalf("the session list contains a secret: %s", r.Body)
				}
			}
			var doc struct {
				Sessions []map[string]any `json:"sessions"`
			}
			if err := json.Unmarshal(r.Body, &doc); err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, x := range doc.Sessions {
				id := x["id"].(string)
				got[id] = true
				if x["current"] != (id == cred.current) {
					t.Errorf("session %s: current=%v", id, x["current"])
				}
				keys := make([]string, 0, len(x))
				for k := range x {
					keys = append(keys, k)
				}
				if want := []string{"created_at", "current", "expires_at", "id", "ip", "last_seen_at", "method", "user_agent"}; !sameSet(keys, want) {
					t.Errorf("session fields %v, want %v", keys, want)
				}
			}
			want := map[string]bool{s1.ID: true, s2.ID: true, claimsOf(t, fam.Access)["sid"].(string): true}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("listed %v, want exactly the caller's %v (never %s or %s)", got, want, theirs.ID, claimsOf(t, theirFam.Access)["sid"])
			}
		})
	}

	t.Run("another user's session is not found", func(t *testing.T) {
		for _, id := range []string{theirs.ID, claimsOf(t, theirFam.Access)["sid"].(string), "no-such-id"} {
			ts.do(t, "DELETE", "/v1/sessions/"+id, nil, as(s1)).want(t, 404, "not_found")
		}
		ts.wantAlive(t, "their session", cookieOnly(theirs))
		ts.wantAlive(t, "their token", bearer(theirFam.Access))
	})
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]bool{}
	for _, x := range a {
		m[x] = true
	}
	for _, x := range b {
		if !m[x] {
			return false
		}
	}
	return true
}

// SECURITY.md 34
func TestOAuth_IntrospectionAndRevocation(t *testing.T) {
	ts := newTestServer(t, withClient("rs", "rs-secret"))
	addr, pw := ts.newUser(t)
	form := ctype("application/x-www-form-urlencoded")
	exactly := func(t *testing.T, r *response, status int, want map[string]any) {
		t.Helper()
		if r.Status != status {
			t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
		}
		if got := r.json(t); !reflect.DeepEqual(got, want) {
			t.Fatalf("body %v, want exactly %v", got, want)
		}
	}

	t.Run("introspection: client authentication", func(t *testing.T) {
		tok := ts.MustTokenLogin(t, addr, pw)
		for name, opts := range map[string][]reqOpt{
			"none":           nil,
			"wrong secret":   {basic("rs", "wrong")},
			"unknown client": {basic("nobody", "rs-secret")},
			"bearer":         {bearer(tok.Access)},
		} {
			r := ts.do(t, "POST", "/oauth2/introspect", "token="+tok.Access, append(opts, form)...)
			if r.Status != 401 || r.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: %d (WWW-Authenticate %q), want 401 with a challenge", name, r.Status, r.Header.Get("WWW-Authenticate"))
			}
			if strings.Contains(string(r.Body), `"active"`) {
				t.Errorf("%s: an unauthenticated client learned about the token: %s", name, r.Body)
			}
		}
	})

	t.Run("introspection: answers", func(t *testing.T) {
		tok := ts.MustTokenLogin(t, addr, pw)
		c := claimsOf(t, tok.Access)
		in := ts.introspect(t, tok.Access)
		if in["active"] != true || in["token_type"] != "access_token" || in["sub"] != c["sub"] || in["jti"] != c["jti"] ||
			in["sid"] != c["sid"] || in["exp"] != c["exp"] || in["iat"] != c["iat"] {
			t.Fatalf("introspection of a live access token: %v (claims %v)", in, c)
		}
		rin := ts.introspect(t, tok.Refresh)
		if rin["active"] != true || rin["token_type"] != "refresh_token" || rin["sub"] != c["sub"] || rin["sid"] != c["sid"] || rin["jti"] != nil {
			t.Fatalf("introspection of a live refresh token: %v", rin)
		}
		for name, v := range map[string]string{
			"unknown":        "unknown-token",
			"garbage JWT":    "a.b.c",
			"session secret": ts.MustLogin(t, addr, pw).Secret,
			"spent refresh":  func() string { ts.MustRefresh(t, tok.Refresh); return tok.Refresh }(),
			"huge":           strings.Repeat("A", 32<<10),
		} {
			t.Run(name, func(t *testing.T) {
				r := ts.do(t, "POST", "/oauth2/introspect", "token="+url.QueryEscape(v), form, basic("rs", "rs-secret"))
				exactly(t, r, 200, map[string]any{"active": false})
			})
		}
		exactly(t, ts.do(t, "POST", "/oauth2/introspect", "", form, basic("rs", "rs-secret")), 400, map[string]any{"error": "invalid_request"})
		exactly(t, ts.do(t, "POST", "/oauth2/introspect?token="+tok.Access, "", form, basic("rs", "rs-secret")), 400, map[string]any{"error": "invalid_request"})
	})

	t.Run("revocation", func(t *testing.T) {
		for name, v := range map[string]string{"unknown": "unknown-token", "garbage JWT": "a.b.c", "empty-ish": " "} {
			r := ts.do(t, "POST", "/oauth2/revoke", "token="+url.QueryEscape(v), form)
			if r.Status != 200 {
				t.Fatalf("revoke %s: %d, want 200: %s", name, r.Status, r.Body)
			}
		}
		exactly(t, ts.do(t, "POST", "/oauth2/revoke", "", form), 400, map[string]any{"error": "invalid_request"})
		exactly(t, ts.do(t, "POST", "/oauth2/revoke", "token=", form), 400, map[string]any{"error": "invalid_request"})

		tok := ts.MustTokenLogin(t, addr, pw)
		// The token in the query string is not the form's token.
		ts.do(t, "POST", "/oauth2/revoke?token="+tok.Access, "", form).want(t, 400, "")
		ts.wantAlive(t, "token named only in the query", bearer(tok.Access))

		// An access token: that jti only.
		for range 2 { // idempotent
			ts.do(t, "POST", "/oauth2/revoke", "token="+tok.Access, form).want(t, 200, "")
		}
		ts.wantDead(t, "revoked access token", bearer(tok.Access))
		if in := ts.introspect(t, tok.Access); !reflect.DeepEqual(in, map[string]any{"active": false}) {
			t.Fatalf("introspection of a revoked token: %v", in)
		}
		next := ts.MustRefresh(t, tok.Refresh)
		ts.wantAlive(t, "the family's next access token", bearer(next.Access))

		// A refresh token: its family and every access token it issued.
		ts.do(t, "POST", "/oauth2/revoke", "token="+next.Refresh, form).want(t, 200, "")
		ts.wantDead(t, "access token of the revoked family", bearer(next.Access))
		if st, code := ts.refreshStatus(t, next.Refresh); st != 401 || code != "invalid_refresh_token" {
			t.Fatalf("revoked refresh token: %d %s, want 401 invalid_refresh_token", st, code)
		}
		if in := ts.introspect(t, next.Refresh); !reflect.DeepEqual(in, map[string]any{"active": false}) {
			t.Fatalf("introspection of a revoked refresh token: %v", in)
		}
	})
}
