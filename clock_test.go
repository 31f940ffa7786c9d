package latch_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/internal/testkit"
	"github.com/latch-dev/latch/jose"
)

// The lifetimes of the clock tests: short, so that jumps of hours cross
// every deadline.
var clockConfig = func(c *latch.Config) {
	c.SessionIdleTimeout, c.SessionAbsoluteTimeout = 30*time.Minute, 2*time.Hour
	c.AccessTTL = 15 * time.Minute
	c.RefreshTTL, c.RefreshAbsoluteTTL = time.Hour, 3*time.Hour
}

// The steps of the walk: leap seconds, small drifts, and jumps of hours,
// each way.
var clockSteps = []time.Duration{
	time.Second, -time.Second, time.Second, -time.Second, 30 * time.Second, -30 * time.Second,
	10 * time.Minute, -10 * time.Minute, 25 * time.Minute, time.Hour, -time.Hour, 3 * time.Hour, -3 * time.Hour,
}

// TestClock_Jumps walks the injected clock forward and back (leap-second
// steps of ±1 s, minutes, hours) and, at every step, asks the Service about
// every credential it issued. The model it compares with is the documented
// rule, judged by the clock's reading: a session is live before its
// deadline (slid by each accepted use, never backwards), an access token
// from iat − Leeway until exp + Leeway, a refresh family before its
// deadline (set by each rotation). A credential accepted where the model
// says it is dead was resurrected; one refused where the model says it is
// live expired early. Within a second of a deadline either answer is right
// (slides are batched by the second, JWT times are whole seconds).
func TestClock_Jumps(t *testing.T) {
	for _, cached := range []bool{false, true} {
		for seed := range uint64(2) {
			name := fmt.Sprintf("store/seed %d", seed)
			opts := []domainOption{withConfig(clockConfig)}
			if cached {
				name = fmt.Sprintf("cache/seed %d", seed)
				opts = append(opts, withCache())
			}
			t.Run(name, func(t *testing.T) {
				d := newDomain(t, opts...)
				w := &clockWalk{d: d, r: rand.New(rand.NewPCG(seed, 12))}
				d.signup(t, "walker@example.com", "correct horse battery")
				for step := range 150 {
					w.step(t, step)
					if t.Failed() {
						t.Fatalf("after these steps:\n%s", strings.Join(w.history, "\n"))
					}
				}
				t.Logf("%d checks: %d accepted, %d refused, %d within a second of a deadline", w.checks, w.accepted, w.refused, w.either)
			})
		}
	}
}

type walkSession struct {
	secret   string
	deadline time.Time
}

type walkToken struct {
	token    string
	iat, exp time.Time
}

type walkFamily struct {
	secret   string
	deadline time.Time
}

type clockWalk struct {
	d        *domain
	r        *rand.Rand
	sessions []*walkSession
	tokens   []*walkToken
	families []*walkFamily
	history  []string

	checks, accepted, refused, either int
}

// expect compares a decision with the model: live (by the clock) and near
// (within a second of the boundary, where either answer is right).
func (w *clockWalk) expect(t *testing.T, what string, got, live, near bool) {
	t.Helper()
	w.checks++
	switch {
	case near:
		w.either++
	case got && !live:
		t.Errorf("%s: accepted at %s, past its deadline (resurrected)", what, w.d.Clock.Now().Format(time.TimeOnly))
	case !got && live:
		t.Errorf("%s: refused at %s, before its deadline (expired early)", what, w.d.Clock.Now().Format(time.TimeOnly))
	case got:
		w.accepted++
	default:
		w.refused++
	}
}

func within(a, b time.Time, d time.Duration) bool { return a.Sub(b).Abs() < d }

func (w *clockWalk) step(t *testing.T, n int) {
	ctx := context.Background()
	jump := clockSteps[w.r.IntN(len(clockSteps))]
	w.d.Clock.Advance(jump)
	now := w.d.Clock.Now()
	w.history = append(w.history, fmt.Sprintf("  step %3d: %+v → %s", n, jump, now.Format(time.TimeOnly)))
	if len(w.history) > 12 {
		w.history = w.history[1:]
	}
	if w.r.IntN(3) == 0 && len(w.sessions) < 12 {
		s := w.d.login(t, "walker@example.com", "correct horse battery", latch.KindSession)
		w.sessions = append(w.sessions, &walkSession{secret: s.Secret, deadline: s.Session.Deadline()})
		if want := now.Add(30 * time.Minute); !s.Session.Deadline().Equal(want) {
			t.Errorf("a session made at %v dies at %v, want %v", now, s.Session.Deadline(), want)
		}
		f := w.d.login(t, "walker@example.com", "correct horse battery", latch.KindToken)
		w.families = append(w.families, &walkFamily{secret: f.Secret, deadline: f.Session.Deadline()})
		w.tokens = append(w.tokens, &walkToken{token: f.Access.Token, iat: f.Access.Claims.IssuedAt, exp: f.Access.Claims.ExpiresAt})
	}
	for i, s := range w.sessions {
		p, err := w.d.AuthenticateSession(ctx, s.secret)
		if err != nil && !errors.Is(err, latch.ErrUnauthenticated) {
			t.Fatal(err)
		}
		w.expect(t, fmt.Sprintf("session %d (deadline %s)", i, s.deadline.Format(time.TimeOnly)), err == nil,
			now.Before(s.deadline), within(now, s.deadline, time.Second))
		if err == nil {
			// An accepted use slides the idle deadline, never backwards,
			// never past the absolute one.
			want := s.deadline
			if slid := now.Add(30 * time.Minute); slid.After(want) {
				want = slid
			}
			if abs := p.Session.ExpiresAt; want.After(abs) {
				want = abs
			}
			if !within(p.ExpiresAt, want, time.Second) {
				t.Errorf("session %d used at %s: deadline %s, want %s", i, now.Format(time.TimeOnly),
					p.ExpiresAt.Format(time.TimeOnly), want.Format(time.TimeOnly))
			}
			s.deadline = p.ExpiresAt
		}
	}
	for i, k := range w.tokens {
		_, err := w.d.AuthenticateToken(ctx, k.token)
		if err != nil && !errors.Is(err, latch.ErrUnauthenticated) {
			t.Fatal(err)
		}
		// Before iat − Leeway (the clock set back past the token's
		// issuance) a verifier that has not seen the token refuses it, one
		// that has may accept it: neither is a question of expiry.
		from, until := k.iat.Add(-latch.Leeway), k.exp.Add(latch.Leeway)
		w.expect(t, fmt.Sprintf("access token %d (iat %s, exp %s)", i, k.iat.Format(time.TimeOnly), k.exp.Format(time.TimeOnly)),
			err == nil, now.Before(until), !now.After(from) || within(now, until, time.Second))
	}
	for i, f := range w.families {
		if w.r.IntN(2) == 0 {
			continue // not every family refreshes at every step
		}
		res, err := w.d.Refresh(ctx, f.secret)
		if err != nil && !errors.Is(err, latch.ErrInvalidRefreshToken) {
			t.Fatalf("family %d: %v", i, err)
		}
		w.expect(t, fmt.Sprintf("refresh family %d (deadline %s)", i, f.deadline.Format(time.TimeOnly)), err == nil,
			now.Before(f.deadline), within(now, f.deadline, time.Second))
		if err == nil {
			want := now.Add(time.Hour)
			if abs := res.Family.ExpiresAt; want.After(abs) {
				want = abs
			}
			if !res.Family.Deadline().Equal(want) {
				t.Errorf("family %d rotated at %s: deadline %s, want %s", i, now.Format(time.TimeOnly),
					res.Family.Deadline().Format(time.TimeOnly), want.Format(time.TimeOnly))
			}
			f.secret, f.deadline = res.Refresh, res.Family.Deadline()
			if len(w.tokens) < 16 {
				w.tokens = append(w.tokens, &walkToken{token: res.Access.Token, iat: res.Access.Claims.IssuedAt, exp: res.Access.Claims.ExpiresAt})
			}
		}
	}
}

// TestClock_LeapSecond steps the clock by one second, forward and back,
// around each deadline, with credentials not used in between (a use would
// slide them): the decision follows the reading on each side.
func TestClock_LeapSecond(t *testing.T) {
	const pw = "correct horse battery"
	type cred struct {
		deadline time.Time
		check    func(ctx context.Context) error
	}
	kinds := map[string]func(t *testing.T, d *domain) cred{
		"session": func(t *testing.T, d *domain) cred {
			s := d.login(t, "leap@example.com", pw, latch.KindSession)
			return cred{s.Session.Deadline(), func(ctx context.Context) error { _, err := d.AuthenticateSession(ctx, s.Secret); return err }}
		},
		"access token": func(t *testing.T, d *domain) cred {
			f := d.login(t, "leap@example.com", pw, latch.KindToken)
			return cred{f.Access.Claims.ExpiresAt.Add(latch.Leeway), func(ctx context.Context) error { _, err := d.AuthenticateToken(ctx, f.Access.Token); return err }}
		},
		"refresh family": func(t *testing.T, d *domain) cred {
			f := d.login(t, "leap@example.com", pw, latch.KindToken)
			return cred{f.Session.Deadline(), func(ctx context.Context) error { _, err := d.Refresh(ctx, f.Secret); return err }}
		},
	}
	for _, c := range []struct {
		name  string
		start time.Duration   // from the deadline
		steps []time.Duration // then these steps, one decision after the last
		live  bool
	}{
		{"one second before, no step", -1500 * time.Millisecond, nil, true},
		{"half a second before, a leap second forward", -500 * time.Millisecond, []time.Duration{time.Second}, false},
		{"at the deadline, a leap second back", 0, []time.Duration{-time.Second}, true},
		{"a second and a half past, a leap second back", 1500 * time.Millisecond, []time.Duration{-time.Second}, false},
		{"a second before, repeated second (back then forward)", -time.Second - 200*time.Millisecond, []time.Duration{-time.Second, time.Second}, true},
		{"past the deadline, an hour forward then an hour back", 2 * time.Second, []time.Duration{time.Hour, -time.Hour}, false},
		{"five minutes before, three hours forward then three back", -5 * time.Minute, []time.Duration{3 * time.Hour, -3 * time.Hour}, true},
	} {
		for kind, mk := range kinds {
			t.Run(c.name+"/"+kind, func(t *testing.T) {
				d := newDomain(t, withConfig(clockConfig))
				d.signup(t, "leap@example.com", pw)
				cr := mk(t, d)
				d.Clock.Advance(cr.deadline.Add(c.start).Sub(d.Clock.Now()))
				for _, s := range c.steps {
					d.Clock.Advance(s)
				}
				err := cr.check(context.Background())
				if got := err == nil; got != c.live {
					t.Errorf("at deadline %+v: accepted %v (%v), want %v", d.Clock.Now().Sub(cr.deadline), got, err, c.live)
				}
			})
		}
	}
}

// skewed builds a second Service on d's stores and keys (another instance
// of one deployment) whose clock reads d's plus skew.
func skewed(t *testing.T, d *domain, skew time.Duration) (*latch.Service, *testkit.Clock) {
	t.Helper()
	clock := testkit.NewClock(d.Clock.Now().Add(skew))
	verifier, err := jose.NewVerifier(d.Keys, testIssuer, testIssuer, jose.WithCache(1000))
	if err != nil {
		t.Fatal(err)
	}
	verifier.Now = clock.Now
	deps := d.Deps
	deps.Now, deps.Verifier, deps.Signer = clock.Now, verifier, jose.NewSigner(d.Keys)
	deps.Sessions = d.Sessions // the database's store, not A's cache
	cfg := d.Config()
	cfg.SingleWriter = false
	s, err := latch.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, clock
}

// TestClock_SkewedInstances runs two instances on one database whose
// clocks differ by up to the leeway, each way, and checks that they agree
// on every decision: an access token issued by one is accepted by the
// other for its whole life (and refused by both once past exp + Leeway on
// the earlier clock), a family rotated on one is refreshed once on the
// other within the reuse grace, and its reuse detected, and a session's
// deadline is the same for both. The grace is judged by each instance's
// clock: with a skew beyond the grace the other instance sees a retry of
// the predecessor outside it and fails closed (a reuse, which ends the
// family), never honours it twice (docs/security.md, Clocks).
func TestClock_SkewedInstances(t *testing.T) {
	const pw = "correct horse battery"
	ctx := context.Background()
	const grace = 10 * time.Second
	for _, skew := range []time.Duration{latch.Leeway, -latch.Leeway, time.Second, -time.Second, 9 * time.Second, -9 * time.Second, 30 * time.Second} {
		t.Run(fmt.Sprintf("B %+v", skew), func(t *testing.T) {
			a := newDomain(t, withConfig(func(c *latch.Config) { clockConfig(c); c.RefreshReuseGrace = grace }))
			b, bClock := skewed(t, a, skew)
			advance := func(dd time.Duration) { a.Clock.Advance(dd); bClock.Advance(dd) }
			a.signup(t, "skew@example.com", pw)

			// Tokens issued by either are accepted by both, at once and
			// until the end of their life on the later clock.
			fa := a.login(t, "skew@example.com", pw, latch.KindToken)
			fb, err := b.Login(ctx, latch.LoginRequest{Email: "skew@example.com", Password: pw, Mode: latch.KindToken})
			if err != nil {
				t.Fatal(err)
			}
			for _, tok := range []*latch.IssuedToken{fa.Access, fb.Access} {
				for name, s := range map[string]*latch.Service{"A": a.Service, "B": b} {
					if _, err := s.AuthenticateToken(ctx, tok.Token); err != nil {
						t.Errorf("a fresh token (iat %s) refused by %s: %v", tok.Claims.IssuedAt.Format(time.TimeOnly), name, err)
					}
				}
			}
			// Just before exp on the earlier of the two clocks: both accept.
			later := max(skew, 0)
			advance(15*time.Minute - later - 2*time.Second)
			for name, s := range map[string]*latch.Service{"A": a.Service, "B": b} {
				if _, err := s.AuthenticateToken(ctx, fa.Access.Token); err != nil {
					t.Errorf("a token 2 s before exp (on the later clock) refused by %s: %v", name, err)
				}
			}

			// Sessions: the deadline each reports is the one in the store.
			sa := a.login(t, "skew@example.com", pw, latch.KindSession)
			pb, err := b.AuthenticateSession(ctx, sa.Secret)
			if err != nil {
				t.Fatalf("B refuses A's session: %v", err)
			}
			pa, err := a.AuthenticateSession(ctx, sa.Secret)
			if err != nil {
				t.Fatal(err)
			}
			if d := pa.ExpiresAt.Sub(pb.ExpiresAt).Abs(); d > skew.Abs()+time.Second {
				t.Errorf("session deadlines: A %v, B %v: differ by %v, more than the skew", pa.ExpiresAt, pb.ExpiresAt, d)
			}

			// A family rotated on A: its previous token is honoured once on
			// B within the grace, whatever the skew, and a third use is a
			// reuse on either.
			if _, err := a.Refresh(ctx, fa.Secret); err != nil {
				t.Fatal(err)
			}
			_, err = b.Refresh(ctx, fa.Secret)
			switch {
			case skew.Abs() < grace && err != nil:
				t.Errorf("B refuses the predecessor within the grace (skew %v < grace %v): %v", skew, grace, err)
			case skew.Abs() < grace:
				if _, err := a.Refresh(ctx, fa.Secret); !errors.Is(err, latch.ErrRefreshReused) {
					t.Errorf("A: a third use of a token after the grace was used: %v, want ErrRefreshReused", err)
				}
			case !errors.Is(err, latch.ErrRefreshReused):
				// A skew beyond the grace: B, judging by its clock, sees the
				// retry outside the grace; it must fail closed (a reuse),
				// never honour it twice.
				t.Errorf("B, skewed %v beyond the grace %v: %v, want ErrRefreshReused", skew, grace, err)
			}

			// Past exp + Leeway of both tokens on the earlier clock:
			// refused by both.
			earlier := a.Clock.Now()
			if skew < 0 {
				earlier = bClock.Now()
			}
			advance(fb.Access.Claims.ExpiresAt.Add(max(skew, 0) + latch.Leeway + time.Second).Sub(earlier))
			for name, s := range map[string]*latch.Service{"A": a.Service, "B": b} {
				if _, err := s.AuthenticateToken(ctx, fb.Access.Token); err == nil {
					t.Errorf("%s accepts a token past exp + Leeway on both clocks", name)
				}
			}
		})
	}
}

// TestClock_ForwardThenBack steps the clock hours forward, runs the
// janitor there, and sets the clock back: tokens revoked before the jump
// (by jti, by sid and by sub) whose exp is still ahead on the restored
// clock stay refused, by this instance and by one started afterwards on the
// same stores (the log kept their entries); a live session and token stay
// live. The janitor prunes by a PruneClock, which moves no faster than real
// time (d.Mono): once real time has passed their expiry the entries go.
func TestClock_ForwardThenBack(t *testing.T) {
	const pw = "correct horse battery"
	ctx := context.Background()
	for _, cached := range []bool{false, true} {
		t.Run(fmt.Sprintf("cache %v", cached), func(t *testing.T) {
			opts := []domainOption{withConfig(clockConfig)}
			if cached {
				opts = append(opts, withCache())
			}
			d := newDomain(t, opts...)
			d.signup(t, "jumper@example.com", pw)
			other := d.signup(t, "other@example.com", pw)
			byJTI := d.login(t, "jumper@example.com", pw, latch.KindToken)
			bySID := d.login(t, "jumper@example.com", pw, latch.KindToken)
			bySub := d.login(t, "other@example.com", pw, latch.KindToken)
			live := d.login(t, "jumper@example.com", pw, latch.KindToken)
			sess := d.login(t, "jumper@example.com", pw, latch.KindSession)
			step := func(clock, real time.Duration) { d.Clock.Advance(clock); d.Mono.Advance(real) }

			step(time.Minute, time.Minute)
			if err := d.RevokeToken(ctx, byJTI.Access.Token); err != nil {
				t.Fatal(err)
			}
			p, err := d.AuthenticateToken(ctx, bySID.Access.Token)
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Logout(ctx, p); err != nil {
				t.Fatal(err)
			}
			if err := d.LogoutAll(ctx, other.ID); err != nil {
				t.Fatal(err)
			}
			check := func(t *testing.T, s *latch.Service, when string) {
				t.Helper()
				for kind, tok := range map[string]string{"jti": byJTI.Access.Token, "sid": bySID.Access.Token, "sub": bySub.Access.Token} {
					if _, err := s.AuthenticateToken(ctx, tok); !errors.Is(err, latch.ErrUnauthenticated) {
						t.Errorf("%s: the token revoked by %s = %v, want refused", when, kind, err)
					}
				}
				if _, err := s.AuthenticateToken(ctx, live.Access.Token); err != nil {
					t.Errorf("%s: the live token = %v, want accepted", when, err)
				}
			}
			check(t, d.Service, "before the jump")
			logged := func() int {
				revs, err := d.Revs.RevocationsSince(ctx, 0, time.Time{}, 0)
				if err != nil {
					t.Fatal(err)
				}
				return len(revs)
			}
			entries, inLog := d.RevokedCount(), logged()

			step(3*time.Hour, time.Minute) // the clock jumps; a minute of real time passes
			if err := latch.Janitor(ctx, d.Service); err != nil {
				t.Fatal(err)
			}
			if got := d.RevokedCount(); got != entries {
				t.Errorf("the janitor on a clock 3 h ahead left %d of %d entries in memory", got, entries)
			}
			if got := logged(); got != inLog {
				t.Errorf("the janitor on a clock 3 h ahead left %d of %d entries in the log", got, inLog)
			}

			step(-3*time.Hour, time.Minute) // set right
			check(t, d.Service, "after the clock came back")
			if _, err := d.AuthenticateSession(ctx, sess.Secret); err != nil {
				t.Errorf("after the clock came back: the live session = %v, want accepted", err)
			}
			restarted, err := latch.New(d.Config(), d.Deps)
			if err != nil {
				t.Fatal(err)
			}
			if err := restarted.Start(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = restarted.Close() })
			check(t, restarted, "an instance started after the clock came back")

			// Real time passes their expiry (exp + Leeway, 16 min after the
			// revocation at most): forgotten, in memory and in the log.
			step(20*time.Minute, 20*time.Minute)
			if err := latch.Janitor(ctx, d.Service); err != nil {
				t.Fatal(err)
			}
			if got := d.RevokedCount(); got != 0 {
				t.Errorf("%d entries in memory after real time passed their expiry, want 0", got)
			}
			if got := logged(); got != 0 {
				t.Errorf("%d entries in the log after real time passed their expiry, want 0", got)
			}
		})
	}
}
