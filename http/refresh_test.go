package http_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latch-dev/latch"
)

// SECURITY.md 25
func TestRefresh_RotatedOnEveryUse(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)

	t.Run("body", func(t *testing.T) {
		cur := ts.MustTokenLogin(t, addr, pw)
		seen := map[string]bool{cur.Refresh: true, cur.Access: true}
		sid := claimsOf(t, cur.Access)["sid"]
		for range 5 {
			ts.Clock.Advance(time.Second) // so a reused access token could not hide behind the same iat
			next := ts.MustRefresh(t, cur.Refresh)
			if seen[next.Refresh] || seen[next.Access] {
				t.Fatal("refresh returned a token it had returned before")
			}
			if got := claimsOf(t, next.Access)["sid"]; got != sid {
				t.Fatalf("sid changed from %v to %v: rotation must keep the family", sid, got)
			}
			seen[next.Refresh], seen[next.Access] = true, true
			ts.wantAlive(t, "new access token", bearer(next.Access))
			cur = next
		}
	})

	t.Run("cookie", func(t *testing.T) {
		r := ts.do(t, "POST", "/v1/login", map[string]string{"email": addr, "password": pw, "mode": "token"})
		r.want(t, 200, "")
		if r.json(t)["refresh_token"] != nil {
			t.Fatal("cookie delivery put the refresh token in the body")
		}
		old := r.cookie(refreshCookie).Value
		r2 := ts.do(t, "POST", "/v1/token/refresh", nil, withCookie(refreshCookie, old))
		r2.want(t, 200, "")
		c := r2.cookie(refreshCookie)
		if c == nil || c.Value == "" || c.Value == old {
			t.Fatalf("a cookie refresh must set a new refresh cookie: %q", r2.setCookies())
		}
		if r2.json(t)["refresh_token"] != nil {
			t.Fatal("a cookie refresh put the refresh token in the body")
		}
	})
}

// SECURITY.md 26
func TestRefresh_ReuseRevokesFamily(t *testing.T) {
	t.Run("no grace", func(t *testing.T) {
		ts := newTestServer(t)
		addr, pw := ts.newUser(t)
		t0 := ts.MustTokenLogin(t, addr, pw)
		bystander := ts.MustTokenLogin(t, addr, pw) // another family of the same user
		t1 := ts.MustRefresh(t, t0.Refresh)
		t2 := ts.MustRefresh(t, t1.Refresh)

		st, code := ts.refreshStatus(t, t0.Refresh) // a thief replays a spent token
		if st != 401 || code != "refresh_reused" {
			t.Fatalf("replayed token: %d %s, want 401 refresh_reused", st, code)
		}
		for name, tok := range map[string]string{"t0": t0.Access, "t1": t1.Access, "t2": t2.Access} {
			ts.wantDead(t, "access token "+name+" of the reused family", bearer(tok))
		}
		if st, code := ts.refreshStatus(t, t2.Refresh); st != 401 || code != "invalid_refresh_token" {
			t.Fatalf("current token of the revoked family: %d %s, want 401 invalid_refresh_token", st, code)
		}
		ts.wantAlive(t, "another family", bearer(bystander.Access))
		ts.MustRefresh(t, bystander.Refresh)
	})

	t.Run("cookie", func(t *testing.T) {
		ts := newTestServer(t)
		addr, pw := ts.newUser(t)
		r := ts.do(t, "POST", "/v1/login", map[string]string{"email": addr, "password": pw, "mode": "token"})
		c0 := r.cookie(refreshCookie).Value
		a0 := r.str(t, "access_token")
		ts.do(t, "POST", "/v1/token/refresh", nil, withCookie(refreshCookie, c0)).want(t, 200, "")
		reuse := ts.do(t, "POST", "/v1/token/refresh", nil, withCookie(refreshCookie, c0))
		reuse.want(t, 401, "refresh_reused")
		if c := reuse.cookie(refreshCookie); c == nil || c.Value != "" || c.MaxAge >= 0 {
			t.Fatalf("a reused refresh cookie must be cleared: %q", reuse.setCookies())
		}
		ts.wantDead(t, "access token of the reused family", bearer(a0))
	})

	t.Run("grace", func(t *testing.T) {
		ts := newTestServer(t, withReuseGrace(10*time.Second))
		addr, pw := ts.newUser(t)
		t0 := ts.MustTokenLogin(t, addr, pw)
		ts.MustRefresh(t, t0.Refresh)
		ts.Clock.Advance(5 * time.Second)
		ts.MustRefresh(t, t0.Refresh) // a second tab, within the grace: once
		if st, code := ts.refreshStatus(t, t0.Refresh); st != 401 || code != "refresh_reused" {
			t.Fatalf("third use of a spent token: %d %s, want 401 refresh_reused", st, code)
		}

		t0 = ts.MustTokenLogin(t, addr, pw)
		ts.MustRefresh(t, t0.Refresh)
		ts.Clock.Advance(10 * time.Second) // grace over
		if st, code := ts.refreshStatus(t, t0.Refresh); st != 401 || code != "refresh_reused" {
			t.Fatalf("spent token after the grace: %d %s, want 401 refresh_reused", st, code)
		}
	})
}

// SECURITY.md 27
func TestRefresh_ConcurrentConsumeIsAtomic(t *testing.T) {
	forSessionModes(t, func(t *testing.T, opts []option) {
		ts := newTestServer(t, opts...)
		addr, pw := ts.newUser(t)
		for round := range 5 {
			tok := ts.MustTokenLogin(t, addr, pw)
			const n = 20
			var (
				wg    sync.WaitGroup
				start = make(chan struct{})
				mu    sync.Mutex
				wins  []string
				other []string
			)
			for range n {
				wg.Go(func() {
					<-start
					r, err := ts.send("POST", "/v1/token/refresh", map[string]string{"refresh_token": tok.Refresh})
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err != nil:
						other = append(other, err.Error())
					case r.Status == 200:
						wins = append(wins, string(r.Body))
					case r.Status == 401 && (r.code() == "refresh_reused" || r.code() == "invalid_refresh_token"):
					default:
						other = append(other, string(r.Body))
					}
				})
			}
			close(start)
			wg.Wait()
			if len(wins) != 1 || len(other) != 0 {
				t.Fatalf("round %d: %d successes (want exactly 1), unexpected answers %q", round, len(wins), other)
			}
		}
	})
}

// SECURITY.md 28
// A replay of the same token that loses the race to a rotation revokes the
// family after the winner rotated, possibly before the winner answers: the
// winner still gets its 200 (exactly one concurrent refresh succeeds), and
// its new tokens die with the family.
func TestRefresh_ReplayRevokingAfterTheWinningRotation(t *testing.T) {
	forSessionModes(t, func(t *testing.T, opts []option) {
		ts := newTestServer(t, opts...)
		addr, pw := ts.newUser(t)
		t0 := ts.MustTokenLogin(t, addr, pw)
		var replay *response
		ts.Sessions.onNextRotation(func() {
			replay = ts.do(t, "POST", "/v1/token/refresh", map[string]string{"refresh_token": t0.Refresh})
		})
		win := ts.do(t, "POST", "/v1/token/refresh", map[string]string{"refresh_token": t0.Refresh})
		if replay == nil {
			t.Fatal("the replay did not run")
		}
		replay.want(t, 401, "refresh_reused")
		win.want(t, 200, "")
		ts.wantDead(t, "the winner's access token, after the reuse", bearer(win.str(t, "access_token")))
		if st, code := ts.refreshStatus(t, win.str(t, "refresh_token")); st != 401 || code != "invalid_refresh_token" {
			t.Fatalf("the winner's refresh token after the reuse: %d %s, want 401 invalid_refresh_token", st, code)
		}
	})
}

// A revocation is written to the log before the family's row is deleted;
// a refresh that rotates in between is refused all the same.
func TestRefresh_RotationBetweenRevocationAndDeletion(t *testing.T) {
	forSessionModes(t, func(t *testing.T, opts []option) {
		ts := newTestServer(t, opts...)
		addr, pw := ts.newUser(t)
		t0 := ts.MustTokenLogin(t, addr, pw)
		var during *response
		ts.Sessions.onNextDelete(func() {
			ts.Clock.Advance(time.Millisecond) // the refresh comes after the logout began
			during = ts.do(t, "POST", "/v1/token/refresh", map[string]string{"refresh_token": t0.Refresh})
		})
		ts.do(t, "POST", "/v1/logout", nil, bearer(t0.Access)).want(t, 204, "")
		if during == nil {
			t.Fatal("the refresh did not run")
		}
		during.want(t, 401, "invalid_refresh_token")
	})
}

func TestRefresh_SlidingAndAbsoluteExpiry(t *testing.T) {
	const sliding, absolute = time.Hour, 3 * time.Hour
	ts := newTestServer(t, withRefreshTTL(sliding, absolute))
	addr, pw := ts.newUser(t)

	t.Run("sliding", func(t *testing.T) {
		tok := ts.MustTokenLogin(t, addr, pw)
		ts.Clock.Advance(sliding - time.Second)
		tok = ts.MustRefresh(t, tok.Refresh) // slides
		ts.Clock.Advance(sliding - time.Second)
		tok = ts.MustRefresh(t, tok.Refresh)
		ts.Clock.Advance(sliding)
		if st, code := ts.refreshStatus(t, tok.Refresh); st != 401 || code != "invalid_refresh_token" {
			t.Fatalf("unused for the sliding TTL: %d %s, want 401 invalid_refresh_token", st, code)
		}
	})

	t.Run("absolute", func(t *testing.T) {
		tok := ts.MustTokenLogin(t, addr, pw)
		deadline := ts.Clock.Now().Add(absolute)
		for ts.Clock.Now().Add(40 * time.Minute).Before(deadline) {
			ts.Clock.Advance(40 * time.Minute)
			tok = ts.MustRefresh(t, tok.Refresh)
		}
		ts.Clock.Advance(deadline.Sub(ts.Clock.Now()) - time.Second)
		tok = ts.MustRefresh(t, tok.Refresh)
		ts.Clock.Advance(time.Second)
		if st, code := ts.refreshStatus(t, tok.Refresh); st != 401 || code != "invalid_refresh_token" {
			t.Fatalf("family at its absolute deadline, though in use: %d %s, want 401 invalid_refresh_token", st, code)
		}
	})

	t.Run("cookie lifetime", func(t *testing.T) {
		r := ts.do(t, "POST", "/v1/login", map[string]string{"email": addr, "password": pw, "mode": "token"})
		c := r.cookie(refreshCookie)
		if c == nil || c.MaxAge <= 0 || c.MaxAge > int(sliding/time.Second) {
			t.Fatalf("refresh cookie %+v, want a Max-Age within (0, %d]", c, int(sliding/time.Second))
		}
	})
}

// SECURITY.md 29
func TestRefresh_TokenSecrecy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   []option
		cookie string
		secure bool
	}{
		{"default", nil, "__Secure-latch_refresh", true},
		{"insecure cookies", []option{withInsecureCookies()}, "latch_refresh", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, tc.opts...)
			addr, pw := ts.newUser(t)

			r := ts.do(t, "POST", "/v1/login", map[string]string{"email": addr, "password": pw, "mode": "token"})
			r.want(t, 200, "")
			got := setCookieMap(t, r)
			c, ok := got[tc.cookie]
			if !ok || len(got) != 1 {
				t.Fatalf("want exactly the %s cookie, got %q", tc.cookie, r.setCookies())
			}
			want := map[string]string{"path": "/v1/token", "max-age": "*", "httponly": "", "samesite": "Strict"}
			if tc.secure {
				want["secure"] = ""
			}
			wantAttrs(t, c, want)
			if strings.Contains(string(r.Body), c.value) {
				t.Fatal("the refresh cookie's token is also in the body")
			}

			tok := ts.MustTokenLogin(t, addr, pw)
			next := ts.MustRefresh(t, tok.Refresh)
			for _, secret := range []string{c.value, tok.Refresh, next.Refresh} {
				raw, err := base64.RawURLEncoding.DecodeString(secret)
				if err != nil || len(raw) < 32 {
					t.Fatalf("refresh token %q is not >= 256 bits of base64url", secret)
				}
				if ts.Sessions.holds(secret) {
					t.Fatal("the session store was given a raw refresh token")
				}
			}
			ctx := context.Background()
			fam, err := ts.Sessions.SessionByTokenHash(ctx, latch.HashSecret(next.Refresh))
			if err != nil {
				t.Fatalf("no family under the SHA-256 of the current token: %v", err)
			}
			if !ts.Sessions.wrote(latch.HashSecret(tok.Refresh)) {
				t.Fatal("the session store was not given the SHA-256 of the first token")
			}
			if _, err := ts.Sessions.SessionByTokenHash(ctx, []byte(next.Refresh)); !errors.Is(err, latch.ErrNotFound) {
				t.Fatalf("a family is found under the raw token: %v", err)
			}
			if fam.ID == next.Refresh || fam.ID == tok.Refresh {
				t.Fatal("the family's public handle is a refresh token")
			}
		})
	}
}

// SECURITY.md 29 (kept apart from access tokens)
func TestRefresh_TokenKindsKeptApart(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	tok := ts.MustTokenLogin(t, addr, pw)
	s := ts.MustLogin(t, addr, pw)
	ts.wantDead(t, "refresh token as a bearer token", bearer(tok.Refresh))
	for name, v := range map[string]string{"access token": tok.Access, "session secret": s.Secret, "CSRF token": s.CSRF} {
		if st, code := ts.refreshStatus(t, v); st != 401 || code != "invalid_refresh_token" {
			t.Fatalf("%s as a refresh token: %d %s, want 401 invalid_refresh_token", name, st, code)
		}
	}
	ts.wantAlive(t, "session after its secret was tried as a refresh token", cookieOnly(s))
	ts.MustRefresh(t, tok.Refresh)
}

// SECURITY.md 19 (covered here too: access tokens die at exp, with 60 s of leeway and no more)
func TestAccessToken_Expiry(t *testing.T) {
	const ttl = 5 * time.Minute
	ts := newTestServer(t, withAccessTTL(ttl))
	addr, pw := ts.newUser(t)
	tok := ts.MustTokenLogin(t, addr, pw)
	if in := claimsOf(t, tok.Access); in["exp"].(float64)-in["iat"].(float64) != ttl.Seconds() {
		t.Fatalf("token lifetime %v s, want %v", in["exp"].(float64)-in["iat"].(float64), ttl.Seconds())
	}
	ts.Clock.Advance(ttl - time.Second)
	ts.wantAlive(t, "token a second before exp", bearer(tok.Access))
	ts.Clock.Advance(time.Second + latch.Leeway + time.Second)
	ts.wantDead(t, "token past exp and the leeway", bearer(tok.Access))
	ts.MustRefresh(t, tok.Refresh) // the family outlives its access tokens
}
