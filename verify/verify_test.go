package verify_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/internal/testkit"
	"github.com/latch-dev/latch/jose"
	"github.com/latch-dev/latch/verify"
)

func TestVerifier_Verify(t *testing.T) {
	ctx := context.Background()
	for _, alg := range []string{jose.EdDSA, jose.ES256, jose.RS256} {
		t.Run(alg, func(t *testing.T) {
			is := newIssuer(t, alg)
			v := MustVerifier(t, is, verify.WithAlgorithm(alg))
			want := is.claims()
			tok := is.MustToken(t, func(c *latch.AccessClaims) { *c = *want })

			before := is.hits()
			for range 1000 {
				c, err := v.Verify(ctx, tok)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if c.Subject != want.Subject || c.Role != "editor" || c.ID != want.ID || c.SessionID != want.SessionID ||
					c.Issuer != is.URL || !slices.Equal(c.Audience, []string{is.URL}) ||
					!c.ExpiresAt.Equal(want.ExpiresAt) || !c.IssuedAt.Equal(want.IssuedAt) {
					t.Fatalf("claims = %+v, want those of %+v", c, want)
				}
			}
			if got := is.hits(); got != before {
				t.Errorf("1000 Verify calls made %d requests to the issuer, want 0", got-before)
			}
			if !v.Healthy() {
				t.Error("Healthy() = false on a followed stream")
			}
		})
	}
}

// TestVerifier_Verify_ClaimsAreCopies: a caller changing its claims cannot
// change what the next caller gets from the cache.
func TestVerifier_Verify_ClaimsAreCopies(t *testing.T) {
	ctx := context.Background()
	is := newIssuer(t, jose.EdDSA)
	v := MustVerifier(t, is)
	tok := is.MustToken(t, nil)
	c, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	c.Role, c.Audience[0] = "admin", "evil"
	c, err = v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Role != "editor" || c.Audience[0] != is.URL {
		t.Errorf("cached claims changed by a caller: %+v", c)
	}
}

func TestVerifier_Verify_Invalid(t *testing.T) {
	ctx := context.Background()
	is := newIssuer(t, jose.EdDSA)
	other := newIssuer(t, jose.EdDSA)
	v := MustVerifier(t, is)
	good := is.MustToken(t, nil)
	_, p, _ := strings.Cut(good, ".")
	cases := []struct {
		name   string
		token  string
		reason error
	}{
		{"empty", "", jose.ErrMalformed},
		{"garbage", "not.a.jwt", jose.ErrMalformed},
		{"tampered payload", strings.Replace(good, p[:8], "AAAAAAAA", 1), nil},
		{"no signature", good[:strings.LastIndexByte(good, '.')+1], jose.ErrSignature},
		{"other issuer's key", other.MustToken(t, func(c *latch.AccessClaims) { c.Issuer, c.Audience = is.URL, []string{is.URL} }), jose.ErrKid},
		{"other issuer", is.MustToken(t, func(c *latch.AccessClaims) { c.Issuer = other.URL }), jose.ErrIssuer},
		{"other audience", is.MustToken(t, func(c *latch.AccessClaims) { c.Audience = []string{"https://elsewhere"} }), jose.ErrAudience},
		{"expired", is.MustToken(t, func(c *latch.AccessClaims) {
			c.IssuedAt, c.ExpiresAt = time.Now().Add(-time.Hour), time.Now().Add(-2*latch.Leeway)
		}), jose.ErrExpired},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(ctx, tc.token)
			if !errors.Is(err, verify.ErrInvalidToken) {
				t.Fatalf("Verify = %v, want ErrInvalidToken", err)
			}
			if tc.reason != nil && !errors.Is(err, tc.reason) {
				t.Errorf("Verify = %v, want it to wrap %v", err, tc.reason)
			}
			if errors.Is(err, verify.ErrRevoked) || errors.Is(err, verify.ErrStale) {
				t.Errorf("Verify = %v: more than one reason", err)
			}
		})
	}
}

// TestVerifier_Revocation: each kind of revocation event refuses the tokens
// it names within 1 s, cached or not, without a request per Verify, and
// leaves the others alone (API.md §5, SECURITY.md 30, 32).
func TestVerifier_Revocation(t *testing.T) {
	ctx := context.Background()
	is := newIssuer(t, jose.EdDSA)
	v := MustVerifier(t, is)
	exp := time.Now().Add(20 * time.Minute).Unix()
	cases := []struct {
		name    string
		victim  func(c *latch.AccessClaims)
		bystand func(c *latch.AccessClaims)
		event   string
	}{
		{
			name:    "jti",
			victim:  func(c *latch.AccessClaims) { c.ID = "jti-victim" },
			bystand: func(c *latch.AccessClaims) {},
			event:   fmt.Sprintf(`{"jti":"jti-victim","exp":%d}`, exp),
		},
		{
			name:    "sid",
			victim:  func(c *latch.AccessClaims) { c.SessionID = "sid-victim" },
			bystand: func(c *latch.AccessClaims) { c.SessionID = "sid-bystander" },
			event:   fmt.Sprintf(`{"sid":"sid-victim","exp":%d}`, exp),
		},
		{
			name: "sub issued before not_before",
			victim: func(c *latch.AccessClaims) {
				c.Subject, c.IssuedAt = "user-victim", time.Now().Add(-10*time.Second).Truncate(time.Second)
			},
			bystand: func(c *latch.AccessClaims) {
				// Same user, issued after the logout-all: a new login works.
				c.Subject, c.IssuedAt = "user-victim", time.Now().Add(5*time.Second).Truncate(time.Second)
			},
			event: fmt.Sprintf(`{"sub":"user-victim","not_before":%d,"exp":%d}`, time.Now().Unix(), exp),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			victim, bystander := is.MustToken(t, tc.victim), is.MustToken(t, tc.bystand)
			for _, tok := range []string{victim, bystander} {
				if _, err := v.Verify(ctx, tok); err != nil { // now in the cache
					t.Fatalf("before the event: %v", err)
				}
			}
			before := is.hits()
			is.publish(tc.event)
			took := eventually(t, time.Second, "revoked", func() bool {
				_, err := v.Verify(ctx, victim)
				return errors.Is(err, verify.ErrRevoked)
			})
			t.Logf("refused %v after the event", took)
			if _, err := v.Verify(ctx, bystander); err != nil {
				t.Errorf("bystander: %v", err)
			}
			if got := is.hits(); got != before {
				t.Errorf("%d requests to the issuer while polling Verify, want 0", got-before)
			}
		})
	}
}

// TestVerifier_Revocation_Replay: revocations made before the verifier
// started are replayed on connect: New returns with them in place.
func TestVerifier_Revocation_Replay(t *testing.T) {
	ctx := context.Background()
	is := newIssuer(t, jose.EdDSA)
	tok := is.MustToken(t, nil)
	c, err := jose.NewVerifier(mustKeys(t, is), is.URL, is.URL)
	if err != nil {
		t.Fatal(err)
	}
	ac, err := c.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	is.publish(fmt.Sprintf(`{"sid":%q,"exp":%d}`, ac.SessionID, ac.ExpiresAt.Add(time.Minute).Unix()))
	v := MustVerifier(t, is)
	if _, err := v.Verify(ctx, tok); !errors.Is(err, verify.ErrRevoked) {
		t.Errorf("Verify right after New = %v, want ErrRevoked", err)
	}
}

func mustKeys(t *testing.T, is *fakeIssuer) *jose.KeySet {
	t.Helper()
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.keys
}

// TestVerifier_Stale: with the stream down longer than the staleness bound
// every token is refused with ErrStale, valid or not; once the stream is
// back the verifier recovers by itself and has the revocations it missed.
func TestVerifier_Stale(t *testing.T) {
	ctx := context.Background()
	is := newIssuer(t, jose.EdDSA)
	v := MustVerifier(t, is)
	tok := is.MustToken(t, nil)
	missed := is.MustToken(t, nil)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}

	is.set(func(is *fakeIssuer) { is.down = true })
	is.drop()
	eventually(t, 2*time.Second, "stale", func() bool {
		_, err := v.Verify(ctx, tok)
		return errors.Is(err, verify.ErrStale)
	})
	for name, token := range map[string]string{"valid": tok, "other valid": missed, "garbage": "x.y.z", "empty": ""} {
		if _, err := v.Verify(ctx, token); !errors.Is(err, verify.ErrStale) {
			t.Errorf("%s token while stale: %v, want ErrStale", name, err)
		}
	}
	if v.Healthy() {
		t.Error("Healthy() = true while stale")
	}

	// A revocation made during the outage.
	c, err := jose.NewVerifier(mustKeys(t, is), is.URL, is.URL)
	if err != nil {
		t.Fatal(err)
	}
	ac, err := c.Verify(ctx, missed)
	if err != nil {
		t.Fatal(err)
	}
	is.publish(fmt.Sprintf(`{"jti":%q,"exp":%d}`, ac.ID, ac.ExpiresAt.Unix()))

	is.set(func(is *fakeIssuer) { is.down = false })
	took := eventually(t, 5*time.Second, "recovered", func() bool {
		_, err := v.Verify(ctx, tok)
		return err == nil
	})
	t.Logf("recovered %v after the stream came back", took)
	if !v.Healthy() {
		t.Error("Healthy() = false after recovery")
	}
	if _, err := v.Verify(ctx, missed); !errors.Is(err, verify.ErrRevoked) {
		t.Errorf("token revoked during the outage: %v, want ErrRevoked", err)
	}
}

// TestVerifier_LastEventID: a reconnect resumes after the last event seen,
// so the issuer neither repeats nor skips events.
func TestVerifier_LastEventID(t *testing.T) {
	is := newIssuer(t, jose.EdDSA)
	exp := time.Now().Add(time.Hour).Unix()
	for i := range 3 {
		is.publish(fmt.Sprintf(`{"jti":"j%d","exp":%d}`, i, exp))
	}
	v := MustVerifier(t, is)
	is.drop()
	eventually(t, 3*time.Second, "second connection", func() bool { return len(is.lastEventIDs()) >= 2 })
	eventually(t, 3*time.Second, "healthy again", v.Healthy)
	id := is.publish(fmt.Sprintf(`{"jti":"j3","exp":%d}`, exp))
	eventually(t, time.Second, "event 4 applied", func() bool { return verify.RevocationCount(v) == 4 })
	is.drop()
	eventually(t, 3*time.Second, "third connection", func() bool { return len(is.lastEventIDs()) >= 3 })
	if got, want := is.lastEventIDs()[:3], []string{"", "3", fmt.Sprint(id)}; !slices.Equal(got, want) {
		t.Errorf("Last-Event-ID of each connection = %q, want %q", got, want)
	}
}

// TestVerifier_EventStreamFormat: the parser follows the SSE format, not
// just latch's way of writing it: CRLF and bare CR line ends, data split
// over lines, no space after the colon, comments between fields, an id kept
// across events, events of other types and unreadable events skipped
// without losing the stream.
func TestVerifier_EventStreamFormat(t *testing.T) {
	ctx := context.Background()
	is := newIssuer(t, jose.EdDSA)
	v := MustVerifier(t, is)
	exp := time.Now().Add(time.Hour).Unix()
	tok := func(jti, sid string) string {
		return is.MustToken(t, func(c *latch.AccessClaims) {
			if jti != "" {
				c.ID = jti
			}
			if sid != "" {
				c.SessionID = sid
			}
		})
	}
	multi, cr, nospace, other, after := tok("jti-multi", ""), tok("", "sid-cr"), tok("jti-nospace", ""), tok("jti-other", ""), tok("jti-after", "")
	is.publishRaw(10, fmt.Sprintf("id: 10\r\nevent: revoke\r\ndata: {\"jti\":\r\n: a comment between fields\r\ndata: \"jti-multi\", \"exp\": %d}\r\n\r\n", exp))
	is.publishRaw(11, fmt.Sprintf("id: 11\nevent: other\ndata: {\"jti\":\"jti-other\",\"exp\":%d}\n\n", exp))
	is.publishRaw(12, fmt.Sprintf("id: 12\revent: revoke\rdata: {\"sid\":\"sid-cr\",\"exp\":%d}\r\r", exp))
	is.publishRaw(12, fmt.Sprintf("event:revoke\ndata:{\"jti\":\"jti-nospace\",\"exp\":%d}\nretry: 10\nunknown: field\n\n", exp))
	is.publishRaw(13, "id: 13\nevent: revoke\ndata: not json\n\n")
	is.publishRaw(14, fmt.Sprintf("id: 14\nevent: revoke\ndata: {\"jti\":\"jti-after\",\"exp\":%d}\n\n", exp))
	for name, tok := range map[string]string{"multi-line data": multi, "bare CR": cr, "no space": nospace, "after an unreadable event": after} {
		eventually(t, time.Second, name, func() bool {
			_, err := v.Verify(ctx, tok)
			return errors.Is(err, verify.ErrRevoked)
		})
	}
	if _, err := v.Verify(ctx, other); err != nil {
		t.Errorf("an event of another type revoked a token: %v", err)
	}
	is.drop()
	eventually(t, 3*time.Second, "reconnect", func() bool { return len(is.lastEventIDs()) >= 2 })
	if got := is.lastEventIDs()[1]; got != "14" {
		t.Errorf("Last-Event-ID = %q, want 14", got)
	}
}

// TestVerifier_Watchdog: a stream that stays open but silent is dropped and
// reopened; one that never finishes its replay never counts as healthy.
func TestVerifier_Watchdog(t *testing.T) {
	ctx := context.Background()
	t.Run("silent after the replay", func(t *testing.T) {
		is := newIssuer(t, jose.EdDSA)
		is.set(func(is *fakeIssuer) { is.silent = true })
		MustVerifier(t, is, verify.WithIdleTimeout(200*time.Millisecond))
		eventually(t, 5*time.Second, "reconnects", func() bool { return is.streamHits.Load() >= 3 })
	})
	t.Run("silent from the start", func(t *testing.T) {
		is := newIssuer(t, jose.EdDSA)
		is.set(func(is *fakeIssuer) { is.mute = true })
		v := MustVerifier(t, is, verify.WithIdleTimeout(200*time.Millisecond))
		if _, err := v.Verify(ctx, is.MustToken(t, nil)); !errors.Is(err, verify.ErrStale) {
			t.Errorf("Verify = %v, want ErrStale: the replay never ended", err)
		}
		eventually(t, 5*time.Second, "reconnects", func() bool { return is.streamHits.Load() >= 3 })
		is.set(func(is *fakeIssuer) { is.mute = false })
		eventually(t, 5*time.Second, "recovered", v.Healthy)
	})
}

// TestVerifier_UnknownKid: a token of a key the verifier has not seen makes
// it refetch the JWKS once; more unknown kids within 10 s cost the issuer
// nothing, concurrent ones share one fetch, and after 10 s one more fetch is
// allowed.
func TestVerifier_UnknownKid(t *testing.T) {
	ctx := context.Background()
	is := newIssuer(t, jose.EdDSA)
	clk := testkit.NewClock(time.Now())
	// Without revocations: with the clock moved by hand, the stream would
	// (rightly) look stale.
	v, err := verify.New(ctx, is.URL, verify.WithoutRevocation(), verify.WithClock(clk.Now), verify.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if got := is.jwksHits.Load(); got != 1 {
		t.Fatalf("JWKS fetched %d times by New, want 1", got)
	}
	stranger := newIssuer(t, jose.EdDSA).MustToken(t, func(c *latch.AccessClaims) { c.Issuer, c.Audience = is.URL, []string{is.URL} })
	old := is.MustToken(t, nil)
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatal(err)
	}

	// New's own fetch counts: a rotation right after it waits 10 s.
	clk.Advance(11 * time.Second)
	is.rotate(t, true)
	rotated := is.MustToken(t, nil)
	if _, err := v.Verify(ctx, rotated); err != nil {
		t.Fatalf("token of the new key: %v", err)
	}
	if got := is.jwksHits.Load(); got != 2 {
		t.Errorf("JWKS fetched %d times, want 2", got)
	}
	if _, err := v.Verify(ctx, old); err != nil {
		t.Errorf("token of the old, still published key: %v", err)
	}

	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := v.Verify(ctx, stranger); !errors.Is(err, jose.ErrKid) || !errors.Is(err, verify.ErrInvalidToken) {
				t.Errorf("stranger's token: %v, want ErrInvalidToken wrapping jose.ErrKid", err)
			}
		})
	}
	wg.Wait()
	if got := is.jwksHits.Load(); got != 2 {
		t.Errorf("JWKS fetched %d times after unknown kids within 10 s, want still 2", got)
	}

	clk.Advance(11 * time.Second)
	for range 20 {
		wg.Go(func() { _, _ = v.Verify(ctx, stranger) })
	}
	wg.Wait()
	if got := is.jwksHits.Load(); got != 3 {
		t.Errorf("JWKS fetched %d times after 10 s, want 3", got)
	}
}

// TestVerifier_KeyDropped: a key the issuer stops publishing stops
// verifying once the verifier refetches, even for tokens it had cached.
func TestVerifier_KeyDropped(t *testing.T) {
	ctx := context.Background()
	is := newIssuer(t, jose.EdDSA)
	clk := testkit.NewClock(time.Now())
	v, err := verify.New(ctx, is.URL, verify.WithoutRevocation(), verify.WithClock(clk.Now), verify.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	old := is.MustToken(t, nil)
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatal(err)
	}
	clk.Advance(11 * time.Second)
	if verify.CacheSize(v) != 1 {
		t.Fatalf("cache holds %d tokens, want 1", verify.CacheSize(v))
	}
	is.rotate(t, false) // the old key is withdrawn (say, compromised)
	if _, err := v.Verify(ctx, is.MustToken(t, nil)); err != nil {
		t.Fatalf("token of the new key: %v", err)
	}
	if _, err := v.Verify(ctx, old); !errors.Is(err, jose.ErrKid) {
		t.Errorf("token of the withdrawn key: %v, want ErrKid", err)
	}
}

func TestNew_Errors(t *testing.T) {
	is := newIssuer(t, jose.EdDSA)
	client := verify.WithClient(clientID, clientSecret)
	quiet := verify.WithLogger(testLogger(t))
	cases := []struct {
		name   string
		issuer string
		opts   []verify.Option
		want   string
	}{
		{"no revocation choice", is.URL, nil, "WithoutRevocation"},
		{"both revocation choices", is.URL, []verify.Option{client, verify.WithoutRevocation()}, "contradict"},
		{"client ID with a colon", is.URL, []verify.Option{verify.WithClient("a:b", "s")}, "WithClient"},
		{"empty secret", is.URL, []verify.Option{verify.WithClient("a", "")}, "WithClient"},
		{"zero staleness", is.URL, []verify.Option{client, verify.WithStaleness(0)}, "WithStaleness"},
		{"trailing slash", is.URL + "/", []verify.Option{client}, "'/'"},
		{"query", is.URL + "?a=b", []verify.Option{client}, "query"},
		{"not http", "ftp://example.com", []verify.Option{client}, "scheme"},
		{"HS256", is.URL, []verify.Option{client, verify.WithAlgorithm(jose.HS256)}, "HS256"},
		{"no key of the algorithm", is.URL, []verify.Option{client, verify.WithAlgorithm(jose.ES256)}, "no ES256 key"},
		{"wrong secret", is.URL, []verify.Option{verify.WithClient(clientID, "wrong")}, "client credentials"},
		{"unreachable", "http://127.0.0.1:1", []verify.Option{client}, "JWKS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := verify.New(context.Background(), tc.issuer, append(tc.opts, quiet)...)
			if err == nil {
				_ = v.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want it to mention %q", err, tc.want)
			}
		})
	}
	t.Run("JWKS error status", func(t *testing.T) {
		bad := newIssuer(t, jose.EdDSA)
		bad.set(func(is *fakeIssuer) { is.jwksStatus = 500 })
		if _, err := verify.New(context.Background(), bad.URL, client, quiet); err == nil || !strings.Contains(err.Error(), "500") {
			t.Errorf("New = %v, want the JWKS status", err)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := verify.New(ctx, is.URL, client, quiet); !errors.Is(err, context.Canceled) {
			t.Errorf("New = %v, want context.Canceled", err)
		}
	})
}

// TestNew_StreamDown: an issuer whose stream is down does not stop New; the
// verifier fails closed until the stream is up, then works by itself.
func TestNew_StreamDown(t *testing.T) {
	ctx := context.Background()
	is := newIssuer(t, jose.EdDSA)
	is.set(func(is *fakeIssuer) { is.down = true })
	v := MustVerifier(t, is)
	tok := is.MustToken(t, nil)
	if _, err := v.Verify(ctx, tok); !errors.Is(err, verify.ErrStale) {
		t.Fatalf("Verify before the stream was ever up = %v, want ErrStale", err)
	}
	is.set(func(is *fakeIssuer) { is.down = false })
	eventually(t, 5*time.Second, "recovered", func() bool {
		_, err := v.Verify(ctx, tok)
		return err == nil
	})
}

// TestNew_WithoutRevocation: an explicit opt-out never goes stale and never
// connects to the stream.
func TestNew_WithoutRevocation(t *testing.T) {
	is := newIssuer(t, jose.EdDSA)
	v, err := verify.New(context.Background(), is.URL, verify.WithoutRevocation(), verify.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Verify(context.Background(), is.MustToken(t, nil)); err != nil {
		t.Fatal(err)
	}
	if !v.Healthy() || is.streamHits.Load() != 0 {
		t.Errorf("Healthy = %v, stream requests = %d", v.Healthy(), is.streamHits.Load())
	}
}

// TestVerifier_Close: Close ends the stream, and a closed verifier refuses
// every token since it no longer sees revocations.
func TestVerifier_Close(t *testing.T) {
	is := newIssuer(t, jose.EdDSA)
	v := MustVerifier(t, is)
	if is.liveStreams() != 1 {
		t.Fatalf("live streams = %d, want 1", is.liveStreams())
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "stream closed", func() bool { return is.liveStreams() == 0 })
	if _, err := v.Verify(context.Background(), is.MustToken(t, nil)); !errors.Is(err, verify.ErrStale) {
		t.Errorf("Verify after Close = %v, want ErrStale", err)
	}
	if err := v.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestVerifier_PruneForwardThenBack: the janitor run on a clock stepped
// hours forward forgets no revocation (it prunes no faster than real time
// passes), so when the clock is set back the revoked token, whose exp is
// ahead again, is still refused.
func TestVerifier_PruneForwardThenBack(t *testing.T) {
	is := newIssuer(t, jose.EdDSA)
	clk := testkit.NewClock(time.Now())
	v := MustVerifier(t, is, verify.WithClock(clk.Now))
	var jti string
	tok := is.MustToken(t, func(c *latch.AccessClaims) { jti = c.ID })
	is.publish(fmt.Sprintf(`{"jti":%q,"exp":%d}`, jti, time.Now().Add(16*time.Minute).Unix()))
	eventually(t, time.Second, "the revocation applied", func() bool { return verify.RevocationCount(v) == 1 })
	clk.Advance(3 * time.Hour)
	verify.Prune(v)
	if got := verify.RevocationCount(v); got != 1 {
		t.Errorf("after pruning on a clock 3 h ahead: %d entries, want 1", got)
	}
	clk.Advance(-3 * time.Hour)
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, verify.ErrRevoked) {
		t.Errorf("the revoked token once the clock is back = %v, want ErrRevoked", err)
	}
}

// TestVerifier_Prune: revocations are forgotten once every token they could
// refuse has expired (with a leeway), not before.
func TestVerifier_Prune(t *testing.T) {
	is := newIssuer(t, jose.EdDSA)
	v := MustVerifier(t, is)
	now := time.Now()
	is.publish(fmt.Sprintf(`{"jti":"gone","exp":%d}`, now.Add(-2*latch.Leeway).Unix()))
	is.publish(fmt.Sprintf(`{"sid":"recent","exp":%d}`, now.Add(-latch.Leeway/2).Unix()))
	is.publish(fmt.Sprintf(`{"sub":"u","not_before":%d,"exp":%d}`, now.Unix(), now.Add(time.Hour).Unix()))
	is.publish(`{"jti":"no-exp"}`)
	eventually(t, time.Second, "events applied", func() bool { return verify.RevocationCount(v) == 4 })
	verify.Prune(v)
	if got := verify.RevocationCount(v); got != 3 {
		t.Errorf("after pruning: %d entries, want 3 (recent, u, no-exp)", got)
	}
}
