package http_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/internal/testkit"
)

// clockOpts are the lifetimes of the clock tests: short, so that jumps of
// hours cross every deadline.
func clockOpts() []option {
	return []option{withIdleTimeout(30 * time.Minute), withAbsoluteTimeout(2 * time.Hour),
		withAccessTTL(15 * time.Minute), withRefreshTTL(time.Hour, 3*time.Hour)}
}

// TestClock_Jumps moves the server's clock forward and back around each
// credential's deadline (leap-second steps of ±1 s, and hours) and checks
// the answer over HTTP follows the clock's reading: whoami by cookie until
// the session's deadline, by bearer until exp + Leeway, a refresh until the
// family's deadline. A credential past its deadline on the reading it is
// asked at is refused, however the clock got there; one before it is
// accepted.
func TestClock_Jumps(t *testing.T) {
	type cred struct {
		deadline time.Time
		status   func() int // 200 when accepted
	}
	kinds := map[string]func(t *testing.T, ts *testServer, addr, pw string) cred{
		"session cookie": func(t *testing.T, ts *testServer, addr, pw string) cred {
			s := ts.MustLogin(t, addr, pw)
			return cred{ts.Clock.Now().Add(30 * time.Minute), func() int { return ts.whoami(t, cookieOnly(s)) }}
		},
		"access token": func(t *testing.T, ts *testServer, addr, pw string) cred {
			tok := ts.MustTokenLogin(t, addr, pw)
			return cred{ts.Clock.Now().Add(15*time.Minute + latch.Leeway), func() int { return ts.whoami(t, bearer(tok.Access)) }}
		},
		"refresh family": func(t *testing.T, ts *testServer, addr, pw string) cred {
			tok := ts.MustTokenLogin(t, addr, pw)
			return cred{ts.Clock.Now().Add(time.Hour), func() int { st, _ := ts.refreshStatus(t, tok.Refresh); return st }}
		},
	}
	for _, c := range []struct {
		name  string
		start time.Duration   // from the deadline
		steps []time.Duration // then these, and one request
		live  bool
	}{
		{"a second and a half before", -1500 * time.Millisecond, nil, true},
		{"half a second before, a leap second forward", -500 * time.Millisecond, []time.Duration{time.Second}, false},
		{"a second and a half past, a leap second back", 1500 * time.Millisecond, []time.Duration{-time.Second}, false},
		{"a second before, a repeated second", -time.Second - 200*time.Millisecond, []time.Duration{-time.Second, time.Second}, true},
		{"past, an hour forward then an hour back", 2 * time.Second, []time.Duration{time.Hour, -time.Hour}, false},
		{"five minutes before, three hours forward then three back", -5 * time.Minute, []time.Duration{3 * time.Hour, -3 * time.Hour}, true},
		{"five minutes before, an hour back", -5 * time.Minute, []time.Duration{-time.Hour}, true},
	} {
		for kind, mk := range kinds {
			t.Run(c.name+"/"+kind, func(t *testing.T) {
				ts := newTestServer(t, clockOpts()...)
				addr, pw := ts.newUser(t)
				cr := mk(t, ts, addr, pw)
				if kind == "access token" && c.name == "five minutes before, an hour back" {
					// An hour before its iat: refused by a verifier that
					// never saw it (iat in the future), whatever its exp.
					t.Skip("a token asked about before its issuance is no question of expiry")
				}
				ts.Clock.Advance(cr.deadline.Add(c.start).Sub(ts.Clock.Now()))
				for _, s := range c.steps {
					ts.Clock.Advance(s)
				}
				if st := cr.status(); (st == 200) != c.live {
					t.Errorf("at deadline %+v: %d, want live=%v", ts.Clock.Now().Sub(cr.deadline), st, c.live)
				}
			})
		}
	}
}

// TestClock_SkewedServers runs two servers on one database whose clocks
// differ by up to the leeway, each way: a token or a session made on one is
// accepted by the other at once and until 2 s before its end on the later
// clock, and both refuse it once past its end on the earlier clock.
func TestClock_SkewedServers(t *testing.T) {
	for _, skew := range []time.Duration{latch.Leeway, -latch.Leeway, time.Second, -time.Second} {
		t.Run(fmt.Sprintf("B %+v", skew), func(t *testing.T) {
			a := newTestServer(t, append(clockOpts(), withoutSessionCache())...)
			bClock := testkit.NewClock(a.Clock.Now().Add(skew))
			b := newTestServer(t, append(clockOpts(), withoutSessionCache(), withSharedStores(a), withOwnClock(bClock))...)
			advance := func(d time.Duration) { a.Clock.Advance(d); bClock.Advance(d) }
			addr, pw := a.newUser(t)
			both := []*testServer{a, b}
			type cred struct {
				name string
				made *testServer
				opt  reqOpt
				end  time.Time // on the clock of the server that made it
			}
			var creds []cred
			for _, s := range both {
				tok := s.MustTokenLogin(t, addr, pw)
				creds = append(creds, cred{"token", s, bearer(tok.Access), s.Clock.Now().Add(15*time.Minute + latch.Leeway)})
			}
			// A session is made once: used on B with its later or earlier
			// clock, its deadline would slide by the skew.
			sess := a.MustLogin(t, addr, pw)
			for _, c := range creds {
				for i, s := range both {
					if st := s.whoami(t, c.opt); st != 200 {
						t.Errorf("a fresh %s made on %s refused by server %d: %d", c.name, c.made.URL, i, st)
					}
				}
			}
			for i, s := range both {
				if st := s.whoami(t, cookieOnly(sess)); st != 200 {
					t.Errorf("a fresh session refused by server %d: %d", i, st)
				}
			}
			// 2 s before the earliest end on the later clock: all accepted.
			later := a.Clock
			if skew > 0 {
				later = bClock
			}
			earliest := creds[0].end
			for _, c := range creds {
				if c.end.Before(earliest) {
					earliest = c.end
				}
			}
			advance(earliest.Add(-2 * time.Second).Sub(later.Now()))
			for _, c := range creds {
				for i, s := range both {
					if st := s.whoami(t, c.opt); st != 200 {
						t.Errorf("%s 2 s before its end (later clock) refused by server %d: %d", c.name, i, st)
					}
				}
			}
			// Past every end on the earlier clock: all refused.
			earlier := a.Clock
			if skew < 0 {
				earlier = bClock
			}
			latest := creds[0].end
			for _, c := range creds {
				if c.end.After(latest) {
					latest = c.end
				}
			}
			advance(latest.Add(time.Second).Sub(earlier.Now()) + time.Hour) // the session too
			for _, c := range creds {
				for i, s := range both {
					if st := s.whoami(t, c.opt); st != 401 {
						t.Errorf("%s past its end (earlier clock) accepted by server %d: %d", c.name, i, st)
					}
				}
			}
			for i, s := range both {
				if st := s.whoami(t, cookieOnly(sess)); st != 401 {
					t.Errorf("a session past its deadline accepted by server %d: %d", i, st)
				}
			}
		})
	}
}
