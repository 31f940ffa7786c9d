package scale_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latch-dev/latch/verify"
)

// TestMultiInstance runs three instances on one fresh PostgreSQL database
// and the shared Redis, and checks API.md §6 "Several instances" between
// them.
func TestMultiInstance(t *testing.T) {
	redisURL := sharedRedis()
	needRedis(t, redisURL)
	db := freshDatabase(t, redisURL)
	insts := startInstances(t, 3, db, redisURL)
	A, B, C := insts[0], insts[1], insts[2]
	for _, in := range insts {
		waitReady(t, in, 200, "ok", "ok", 10*time.Second)
	}
	email := newEmail("multi")
	signup(t, A.url, email)

	t.Run("MailLimitSharedByTheInstances", func(t *testing.T) {
		// One verification mail per account per minute, whichever instance
		// is asked: the limit lives in Redis.
		s := loginSession(t, A.url, email, "session asking for mail")
		if r := call(t, "POST", A.url+"/v1/email/verification", s.a, nil); r.status != 202 {
			t.Fatalf("the first verification mail, on A: %s", r)
		}
		for _, in := range []*instance{B, C} {
			r := call(t, "POST", in.url+"/v1/email/verification", s.a, nil)
			if r.status != 429 || r.resp.Header.Get("Retry-After") == "" {
				t.Fatalf("a second verification mail within the minute, on %s: %s", in.name, r)
			}
		}
	})

	t.Run("SessionMadeOnAWorksOnBAndC", func(t *testing.T) {
		s := loginSession(t, A.url, email, "session from A")
		tok := loginToken(t, A.url, email, "token from A")
		for _, in := range insts {
			expectWhoami(t, in, s, 200, "a session made on A")
			expectWhoami(t, in, tok, 200, "a token made on A")
		}
	})

	t.Run("LogoutOnBRefusedOnAAndCAtOnce", func(t *testing.T) {
		s := loginSession(t, A.url, email, "session logged out on B")
		for _, in := range insts { // every instance has seen it (and Redis holds its copy)
			expectWhoami(t, in, s, 200, "before the logout")
		}
		logout(t, insts, 1, s)
		// The very next request, no retry: API.md §6 allows no delay.
		for _, in := range []*instance{A, C, B} {
			expectWhoami(t, in, s, 401, "the first request after the logout on B")
		}
	})

	t.Run("RevokedOnCRefusedByAllAndVerifierWithin1s", func(t *testing.T) {
		v := newVerifier(t, A)
		tok := loginToken(t, C.url, email, "token revoked on C")
		if _, err := v.Verify(t.Context(), tok.a.bearer); err != nil {
			t.Fatalf("the verifier following A refuses a fresh token: %v", err)
		}
		for _, in := range insts {
			expectWhoami(t, in, tok, 200, "before the revocation")
		}
		logout(t, insts, 2, tok)
		revokedAt := time.Unix(0, tok.revokedAt.Load()) // the 204
		expectWhoami(t, C, tok, 401, "on C, the instance that revoked it, at once")

		type outcome struct {
			who  string
			took time.Duration
			last string
			ok   bool
		}
		var wg sync.WaitGroup
		out := make([]outcome, 3)
		for i, in := range []*instance{A, B} {
			wg.Go(func() {
				_, last, ok := waitFor(5*time.Second, func() (bool, string) {
					r, err := send("GET", in.url+"/v1/whoami", tok.a, nil)
					if err != nil {
						return false, err.Error()
					}
					return r.status == 401, r.String()
				})
				out[i] = outcome{"instance " + in.name, time.Since(revokedAt), last, ok}
			})
		}
		wg.Go(func() {
			_, last, ok := waitFor(5*time.Second, func() (bool, string) {
				_, err := v.Verify(context.Background(), tok.a.bearer)
				return errors.Is(err, verify.ErrRevoked), fmt.Sprint(err)
			})
			out[2] = outcome{"the verifier following A", time.Since(revokedAt), last, ok}
		})
		wg.Wait()
		for _, o := range out {
			took := o.took // from the 204 to the first refusal seen (polled every 10 ms)
			switch {
			case !o.ok:
				t.Errorf("%s still accepts the token revoked on C after 5 s (last: %s)", o.who, o.last)
			case took > time.Second:
				t.Errorf("%s refused the token revoked on C after %v, want within 1 s", o.who, took)
			default:
				t.Logf("%s refused the token revoked on C within %v", o.who, took)
			}
		}
	})

	t.Run("LockoutCountedAcrossInstances", func(t *testing.T) {
		known := newEmail("lock")
		signup(t, B.url, known)
		unknown := newEmail("nobody") // locks exactly like a known one
		for _, account := range []string{known, unknown} {
			for _, in := range insts { // three failures (--login-max-failures 3), one per instance
				r := call(t, "POST", in.url+"/v1/login", auth{}, map[string]string{"email": account, "password": "wrong password 123"})
				if r.status != 401 || r.code() != "invalid_credentials" {
					t.Errorf("failure on %s for %s: %s, want 401 invalid_credentials", in.name, account, r)
				}
			}
			for _, in := range insts { // the 4th attempt, anywhere, even with the right password
				r := call(t, "POST", in.url+"/v1/login", auth{}, map[string]string{"email": account, "password": password})
				if r.status != 429 || r.code() != "rate_limited" || r.header.Get("Retry-After") == "" {
					t.Errorf("attempt after 3 failures spread over A, B, C, on %s for %s: %s (Retry-After %q), want 429 rate_limited with Retry-After",
						in.name, account, r, r.header.Get("Retry-After"))
				}
			}
		}
	})

	t.Run("RotatedKeyServedByAll", func(t *testing.T) {
		before := loginToken(t, A.url, email, "token signed before the rotation")
		oldKid := tokenKid(t, before.a.bearer)
		out, err := exec.Command(latchBin, "keys", "rotate", "--db", db).CombinedOutput()
		rotated := time.Now()
		if err != nil {
			t.Fatalf("latch keys rotate: %v\n%s", err, out)
		}
		m := regexp.MustCompile(`new signing key (\S+)`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("latch keys rotate printed no kid: %s", out)
		}
		kid := string(m[1])
		if kid == oldKid {
			t.Fatalf("the rotation reports the old kid %s", kid)
		}
		// The rotation is announced in the revocation log, which every
		// instance polls every 250 ms: each publishes the key within 1 s.
		took := poll(t, "A's JWKS lists the new kid", time.Second, func() (bool, string) { return jwksHas(A, kid) })
		t.Logf("A publishes the new key %v after the rotation", took)

		after := loginToken(t, A.url, email, "token signed after the rotation")
		if got := tokenKid(t, after.a.bearer); got != kid {
			t.Errorf("A signs with kid %s after publishing %s, want the new key", got, kid)
		}
		for _, in := range []*instance{B, C, A} { // at once: B and C may not have reloaded yet
			expectWhoami(t, in, after, 200, "a token A signed with the new key")
			expectWhoami(t, in, before, 200, "a token signed with the old key")
		}
		for _, in := range []*instance{B, C} {
			poll(t, in.name+"'s JWKS lists the new kid", max(time.Second-time.Since(rotated), 0), func() (bool, string) { return jwksHas(in, kid) })
		}
		for _, in := range insts {
			if ok, doc := jwksHas(in, oldKid); !ok {
				t.Errorf("%s stopped publishing the old key %s while its tokens live: %s", in.name, oldKid, doc)
			}
		}
		t.Logf("all three publish the new key %v after the rotation", time.Since(rotated).Round(time.Millisecond))
	})

	t.Run("ConcurrentRefreshOneWinner", func(t *testing.T) {
		tok := loginToken(t, A.url, email, "token whose refresh races")
		const n = 20
		res := make([]result, n)
		errs := make([]error, n)
		var armed, wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			armed.Add(1)
			wg.Go(func() {
				armed.Done()
				<-start
				res[i], errs[i] = send("POST", insts[i%2].url+"/v1/token/refresh", auth{}, map[string]string{"refresh_token": tok.refresh})
			})
		}
		armed.Wait()
		close(start)
		wg.Wait()
		tally := statusSet{}
		var winner *result
		for i := range n {
			if errs[i] != nil {
				t.Errorf("refresh %d: %v", i, errs[i])
				continue
			}
			tally[res[i].status]++
			switch r := res[i]; {
			case r.status == 200:
				winner = &res[i]
			case r.status == 401 && (r.code() == "refresh_reused" || r.code() == "invalid_refresh_token"):
			default:
				t.Errorf("refresh %d on %s: %s, want 200 or 401 refresh_reused/invalid_refresh_token", i, insts[i%2].name, r)
			}
		}
		t.Logf("%d concurrent refreshes of one token on A and B: %s", n, tally)
		if tally[200] != 1 {
			t.Fatalf("%d successes, want exactly 1", tally[200])
		}
		var next struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
		}
		if err := json.Unmarshal(winner.body, &next); err != nil || next.RefreshToken == "" || next.AccessToken == "" {
			t.Fatalf("the winning refresh: %s (%v)", winner, err)
		}
		// The spent token came back: the whole family is revoked (SECURITY
		// 26, 27), the winner's chain included, so no live chain remains.
		r := call(t, "POST", A.url+"/v1/token/refresh", auth{}, map[string]string{"refresh_token": next.RefreshToken})
		if r.status != 401 {
			t.Errorf("the winner's refresh token after the reuse: %s, want 401 (family revoked)", r)
		}
		winnerCred := &cred{name: "the winner's access token", email: email, a: auth{bearer: next.AccessToken}}
		for _, in := range []*instance{A, B} {
			pollStatus(t, in.name+" refuses the winner's access token", "GET", in.url+"/v1/whoami", winnerCred.a, 401, time.Second)
			pollStatus(t, in.name+" refuses the original access token", "GET", in.url+"/v1/whoami", tok.a, 401, time.Second)
		}
	})
}

// newVerifier is a verify.Verifier for the shared issuer that fetches and
// follows inst: a RoundTripper sends issuer's requests to inst's address.
func newVerifier(t testing.TB, inst *instance) *verify.Verifier {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: rewriteHost{
		host: strings.TrimPrefix(inst.url, "http://"),
		next: http.DefaultTransport.(*http.Transport).Clone(),
	}}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	v, err := verify.New(ctx, issuer, verify.WithClient(clientID, clientSecret), verify.WithAudience(audience),
		verify.WithHTTPClient(hc), verify.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatalf("verify.New following %s: %v", inst.name, err)
	}
	t.Cleanup(func() { _ = v.Close() })
	poll(t, "the verifier's stream is up", 5*time.Second, func() (bool, string) { return v.Healthy(), "not healthy" })
	return v
}

type rewriteHost struct {
	host string
	next http.RoundTripper
}

func (rw rewriteHost) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Host = rw.host
	req.Host = ""
	return rw.next.RoundTrip(req)
}

// jwksHas reports whether inst publishes kid.
func jwksHas(inst *instance, kid string) (bool, string) {
	r, err := send("GET", inst.url+"/.well-known/jwks.json", auth{}, nil)
	if err != nil {
		return false, err.Error()
	}
	var doc struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		return false, r.String()
	}
	for _, k := range doc.Keys {
		if k.Kid == kid {
			return true, r.String()
		}
	}
	return false, r.String()
}

// tokenKid is the kid of a JWT's header.
func tokenKid(t testing.TB, token string) string {
	t.Helper()
	head, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatalf("token header: %v", err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(b, &h); err != nil || h.Kid == "" {
		t.Fatalf("token header %s: no kid (%v)", b, err)
	}
	return h.Kid
}
