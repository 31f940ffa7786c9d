package http_test

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/internal/smtptest"
)

// API.md §8: password reset, email verification and email change, with
// the mail read from a real SMTP server in process.

const publicURL = "https://auth.example.test"

// mailWait is how long a test waits for the outbox to deliver.
const mailWait = 10 * time.Second

// host forges the Host header.
func host(h string) reqOpt { return func(r *http.Request) { r.Host = h } }

// linkToken returns the token of the n-th (1-based) mail to addr with a
// link to path, which must be under base, waiting for it to arrive.
func (ts *testServer) linkToken(t testing.TB, addr string, n int, base, path string) string {
	t.Helper()
	var links []string
	deadline := time.Now().Add(mailWait)
	for len(links) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d mails to %s with a link to %s, want %d", len(links), addr, path, n)
		}
		time.Sleep(5 * time.Millisecond)
		links = links[:0]
		for _, m := range ts.SMTP.To(addr) {
			if l := m.Link(path + "?"); l != "" {
				links = append(links, l)
			}
		}
	}
	l := links[n-1]
	if !strings.HasPrefix(l, base+path+"?token=") {
		t.Fatalf("link %q to %s, want one under %s%s", l, addr, base, path)
	}
	u, err := url.Parse(l)
	if err != nil {
		t.Fatal(err)
	}
	tok := u.Query().Get("token")
	if len(tok) < 43 { // 256 bits, base64url
		t.Fatalf("link token of %d characters, want at least 43 (256 bits)", len(tok))
	}
	return tok
}

// noMoreMail fails when addr got more than n mails after a settling delay.
func (ts *testServer) noMoreMail(t testing.TB, addr string, n int) {
	t.Helper()
	time.Sleep(300 * time.Millisecond) // the sender is kicked at once; give it time to do wrong
	if got := len(ts.SMTP.To(addr)); got != n {
		t.Fatalf("%s got %d mails, want %d", addr, got, n)
	}
}

func forgot(addr string) map[string]string { return map[string]string{"email": addr} }

func resetBody(tok, pw string) map[string]string {
	return map[string]string{"token": tok, "new_password": pw}
}

// SECURITY.md 35 for recovery: a known and an unknown address get the same
// status, body and headers; only the known one gets mail.
func TestForgotPassword_NoEnumeration(t *testing.T) {
	ts := newTestServer(t, withPublicURL(publicURL))
	addr, _ := ts.newUser(t)
	known := ts.do(t, "POST", "/v1/password/forgot", forgot(addr))
	known.want(t, 202, "")
	for _, other := range []string{"nobody@example.com", "  " + strings.ToUpper(addr) + " "} {
		r := ts.do(t, "POST", "/v1/password/forgot", forgot(other))
		r.want(t, 202, "")
		if string(r.Body) != string(known.Body) {
			t.Errorf("%q: body %s, known address %s", other, r.Body, known.Body)
		}
		if got, want := headerSet(r.Header), headerSet(known.Header); !reflect.DeepEqual(got, want) {
			t.Errorf("%q: headers %v, known address %v", other, got, want)
		}
	}
	if known.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", known.Header.Get("Cache-Control"))
	}
	ts.SMTP.Wait(t, addr, 2, mailWait) // the address however spelt: one account
	ts.noMoreMail(t, "nobody@example.com", 0)
	ts.do(t, "POST", "/v1/password/forgot", forgot("not an address")).want(t, 400, "invalid_email")
	ts.do(t, "POST", "/v1/password/forgot", map[string]any{"email": addr, "extra": 1}).want(t, 400, "invalid_request")
	ts.do(t, "GET", "/v1/password/forgot", nil).want(t, 405, "method_not_allowed")
}

// The same time for known and unknown addresses: the lookup, the token and
// the mail happen after the answer.
func TestForgotPassword_NoEnumerationTiming(t *testing.T) {
	ts := newTestServer(t)
	addr, _ := ts.newUser(t)
	timeOf := func(email string) time.Duration {
		start := time.Now()
		ts.do(t, "POST", "/v1/password/forgot", forgot(email)).want(t, 202, "")
		return time.Since(start)
	}
	sameMedianTime(t, "forgot", 41, timeOf, addr)
	ts.SMTP.Wait(t, addr, 41, mailWait) // and the known address did get its mail
}

func TestPasswordReset(t *testing.T) {
	forSessionModes(t, func(t *testing.T, opts []option) {
		ts := newTestServer(t, append(opts, withPublicURL(publicURL))...)
		addr, pw := ts.newUser(t)
		sess := ts.MustLogin(t, addr, pw)
		other := ts.MustLogin(t, addr, pw)
		tok := ts.MustTokenLogin(t, addr, pw)
		exchanged := ts.MustExchange(t, sess)

		// A forged Host changes nothing: links come from --public-url.
		ts.do(t, "POST", "/v1/password/forgot", forgot(addr), host("evil.example")).want(t, 202, "")
		secret := ts.linkToken(t, addr, 1, publicURL, "/reset")
		if m := ts.SMTP.To(addr)[0]; strings.Contains(m.Text+m.HTML, "evil.example") {
			t.Fatal("the mail mentions the forged Host")
		}

		// A GET of the link shows a form and spends nothing.
		page := ts.do(t, "GET", "/reset?token="+secret, nil)
		page.want(t, 200, "")
		if rp := page.Header.Get("Referrer-Policy"); rp != "no-referrer" {
			t.Fatalf("Referrer-Policy %q on /reset, want no-referrer", rp)
		}
		if !strings.Contains(string(page.Body), `type="hidden" name="token" value="`+secret+`"`) {
			t.Fatal("the reset page does not carry the token in a hidden field")
		}
		if len(page.setCookies()) != 0 {
			t.Fatal("the reset page set cookies")
		}

		// A weak password is refused and the link stays good.
		for _, weak := range []string{"short", addr, "password123"} {
			ts.do(t, "POST", "/v1/password/reset", resetBody(secret, weak)).want(t, 400, "weak_password")
		}
		ts.wantAlive(t, "a session before the reset", cookieOnly(sess))

		const newPW = "correct-horse-reset-42"
		r := ts.do(t, "POST", "/v1/password/reset", resetBody(secret, newPW))
		r.want(t, 204, "")
		if len(r.setCookies()) != 0 {
			t.Fatalf("the reset logged someone in: %q", r.setCookies())
		}

		// Every session, family and access token is dead.
		ts.wantDead(t, "the session", cookieOnly(sess))
		ts.wantDead(t, "the other session", cookieOnly(other))
		ts.wantDead(t, "the token family's access token", bearer(tok.Access))
		ts.wantDead(t, "the exchanged access token", bearer(exchanged))
		if st, _ := ts.refreshStatus(t, tok.Refresh); st != 401 {
			t.Fatalf("refresh after the reset: %d, want 401", st)
		}

		// The link is single-use; the old password is gone, the new one works.
		ts.do(t, "POST", "/v1/password/reset", resetBody(secret, "another-fine-pass-77")).want(t, 400, "invalid_token")
		ts.do(t, "POST", "/v1/login", loginBody(addr, pw)).want(t, 401, "invalid_credentials")
		ts.MustLogin(t, addr, newPW)

		// A notice goes to the account's address.
		notice := ts.SMTP.Wait(t, addr, 2, mailWait)[1]
		if !strings.Contains(notice.Subject, "password was reset") || notice.Link("token=") != "" {
			t.Fatalf("second mail %q, want the reset notice without a link", notice.Subject)
		}

		// The audit trail has the events and none of the secrets.
		audit := ts.Audit.String()
		for _, ev := range []string{`"event":"password_reset_requested"`, `"event":"password_reset"`, `"event":"logout_all"`} {
			if !strings.Contains(audit, ev) {
				t.Errorf("audit trail lacks %s", ev)
			}
		}
		for _, s := range []string{secret, newPW, pw} {
			if strings.Contains(audit, s) || strings.Contains(ts.Logs.String(), s) {
				t.Errorf("a secret reached the logs")
			}
		}
	})
}

func TestPasswordReset_OtherLinksDie(t *testing.T) {
	ts := newTestServer(t)
	addr, _ := ts.newUser(t)
	for range 2 {
		ts.do(t, "POST", "/v1/password/forgot", forgot(addr)).want(t, 202, "")
	}
	ts.SMTP.Wait(t, addr, 2, mailWait)
	first, second := ts.linkToken(t, addr, 1, ts.Issuer, "/reset"), ts.linkToken(t, addr, 2, ts.Issuer, "/reset")
	ts.do(t, "POST", "/v1/password/reset", resetBody(second, "brand-new-pass-1")).want(t, 204, "")
	ts.do(t, "POST", "/v1/password/reset", resetBody(first, "brand-new-pass-2")).want(t, 400, "invalid_token")
}

func TestPasswordReset_Expiry(t *testing.T) {
	ts := newTestServer(t)
	addr, _ := ts.newUser(t)
	for range 2 {
		ts.do(t, "POST", "/v1/password/forgot", forgot(addr)).want(t, 202, "")
	}
	ts.SMTP.Wait(t, addr, 2, mailWait)
	a, b := ts.linkToken(t, addr, 1, ts.Issuer, "/reset"), ts.linkToken(t, addr, 2, ts.Issuer, "/reset")
	ts.Clock.Advance(15*time.Minute - time.Second) // --recovery-ttl 15m
	ts.do(t, "POST", "/v1/password/reset", resetBody(a, "in-time-password-1")).want(t, 204, "")
	ts.Clock.Advance(time.Second)
	ts.do(t, "POST", "/v1/password/reset", resetBody(b, "too-late-password-1")).want(t, 400, "invalid_token")
}

func TestAccountLinks_BadTokens(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	s := ts.MustLogin(t, addr, pw)
	ts.do(t, "POST", "/v1/email/verification", nil, as(s)).want(t, 202, "")
	verify := ts.linkToken(t, addr, 1, ts.Issuer, "/verify-email")
	ts.do(t, "POST", "/v1/password/forgot", forgot(addr)).want(t, 202, "")
	reset := ts.linkToken(t, addr, 1, ts.Issuer, "/reset")
	for _, c := range []struct{ name, tok string }{
		{"empty", ""},
		{"random", "Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXhx"},
		{"4 KiB", strings.Repeat("A", 4096)},
		{"the reset token with a character changed", flipLast(reset)},
		{"a verification token", verify},
	} {
		t.Run("reset with "+c.name, func(t *testing.T) {
			r := ts.do(t, "POST", "/v1/password/reset", resetBody(c.tok, "good-new-password-9"))
			r.want(t, 400, "invalid_token")
			if c.tok != "" && strings.Contains(string(r.Body), c.tok) {
				t.Fatal("the error echoes the token")
			}
		})
	}
	t.Run("verify with a reset token", func(t *testing.T) {
		ts.do(t, "POST", "/v1/email/verify", map[string]string{"token": reset}).want(t, 400, "invalid_token")
	})
	// Neither wrong use spent the right one.
	ts.do(t, "POST", "/v1/email/verify", map[string]string{"token": verify}).want(t, 204, "")
	ts.do(t, "POST", "/v1/password/reset", resetBody(reset, "good-new-password-9")).want(t, 204, "")
	ts.do(t, "POST", "/v1/password/reset", map[string]string{"token": reset}).want(t, 400, "invalid_request")
	ts.do(t, "GET", "/v1/password/reset", nil).want(t, 405, "method_not_allowed")
}

// flipLast changes the last character of s.
func flipLast(s string) string {
	if strings.HasSuffix(s, "A") {
		return s[:len(s)-1] + "B"
	}
	return s[:len(s)-1] + "A"
}

func TestPasswordReset_ConcurrentUseOnce(t *testing.T) {
	ts := newTestServer(t)
	addr, _ := ts.newUser(t)
	ts.do(t, "POST", "/v1/password/forgot", forgot(addr)).want(t, 202, "")
	secret := ts.linkToken(t, addr, 1, ts.Issuer, "/reset")
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		got = map[int]int{}
	)
	for i := range 8 {
		wg.Go(func() {
			r, err := ts.send("POST", "/v1/password/reset", resetBody(secret, fmt.Sprintf("racing-password-%d", i)))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			got[r.Status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if got[204] != 1 || got[400] != 7 {
		t.Fatalf("statuses of 8 concurrent resets with one link: %v, want one 204 and seven 400", got)
	}
}

func TestRecovery_RateLimits(t *testing.T) {
	t.Run("per IP, apart from logins", func(t *testing.T) {
		ts := newTestServer(t, withIPRate(1)) // bursts of 3
		addr, pw := ts.newUser(t)
		for range 3 {
			ts.do(t, "POST", "/v1/password/forgot", forgot("x@example.com")).want(t, 202, "")
		}
		r := ts.do(t, "POST", "/v1/password/forgot", forgot("x@example.com"))
		r.want(t, 429, "rate_limited")
		if r.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
		ts.do(t, "POST", "/v1/password/reset", resetBody("whatever", "good-new-password-9")).want(t, 429, "rate_limited")
		ts.MustLogin(t, addr, pw) // the login bucket is another
	})
	t.Run("per account, silently", func(t *testing.T) {
		ts := newTestServer(t, withMailRate(1.0/60)) // one mail a minute per account
		addr, _ := ts.newUser(t)
		for range 3 {
			ts.do(t, "POST", "/v1/password/forgot", forgot(addr)).want(t, 202, "")
		}
		ts.SMTP.Wait(t, addr, 1, mailWait)
		ts.noMoreMail(t, addr, 1)
		ts.Clock.Advance(time.Minute)
		ts.do(t, "POST", "/v1/password/forgot", forgot(addr)).want(t, 202, "")
		ts.SMTP.Wait(t, addr, 2, mailWait)
	})
}

func whoamiVerified(t *testing.T, ts *testServer, s *session) bool {
	t.Helper()
	r := ts.do(t, "GET", "/v1/whoami", nil, cookieOnly(s))
	r.want(t, 200, "")
	u, _ := r.json(t)["user"].(map[string]any)
	v, ok := u["email_verified"].(bool)
	if !ok {
		t.Fatalf("whoami's user has no boolean email_verified: %s", r.Body)
	}
	return v
}

func TestEmailVerification(t *testing.T) {
	ts := newTestServer(t, withPublicURL(publicURL))
	addr, pw := ts.newUser(t)
	s := ts.MustLogin(t, addr, pw)
	if whoamiVerified(t, ts, s) {
		t.Fatal("a new account is verified")
	}
	ts.do(t, "POST", "/v1/email/verification", nil).want(t, 401, "unauthenticated")
	ts.do(t, "POST", "/v1/email/verification", nil, cookieOnly(s)).want(t, 403, "csrf_failed")
	ts.do(t, "POST", "/v1/email/verification", nil, as(s), host("evil.example")).want(t, 202, "")
	secret := ts.linkToken(t, addr, 1, publicURL, "/verify-email")

	page := ts.do(t, "GET", "/verify-email?token="+secret, nil)
	page.want(t, 200, "")
	if page.Header.Get("Referrer-Policy") != "no-referrer" || !strings.Contains(string(page.Body), `value="`+secret+`"`) {
		t.Fatal("the verification page lacks no-referrer or the hidden token")
	}
	if whoamiVerified(t, ts, s) {
		t.Fatal("a GET of the link verified the address")
	}
	ts.do(t, "POST", "/v1/email/verify", map[string]string{"token": secret}).want(t, 204, "")
	if !whoamiVerified(t, ts, s) {
		t.Fatal("whoami says unverified after the link was used")
	}
	ts.do(t, "POST", "/v1/email/verify", map[string]string{"token": secret}).want(t, 400, "invalid_token")

	// Verified: asking again sends nothing.
	ts.do(t, "POST", "/v1/email/verification", nil, as(s)).want(t, 202, "")
	ts.noMoreMail(t, addr, 1)
}

func TestEmailVerification_Expiry(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	s := ts.MustLogin(t, addr, pw)
	ts.do(t, "POST", "/v1/email/verification", nil, as(s)).want(t, 202, "")
	secret := ts.linkToken(t, addr, 1, ts.Issuer, "/verify-email")
	ts.Clock.Advance(24 * time.Hour) // --verification-ttl 24h
	ts.do(t, "POST", "/v1/email/verify", map[string]string{"token": secret}).want(t, 400, "invalid_token")
}

func TestEmailChange(t *testing.T) {
	ts := newTestServer(t, withPublicURL(publicURL))
	addr, pw := ts.newUser(t)
	takenAddr, _ := ts.newUser(t)
	s := ts.MustLogin(t, addr, pw)
	change := func(newEmail, current string) map[string]string {
		return map[string]string{"new_email": newEmail, "current_password": current}
	}

	ts.do(t, "POST", "/v1/email/change", change("new@example.com", pw)).want(t, 401, "unauthenticated")
	ts.do(t, "POST", "/v1/email/change", change("new@example.com", "wrong-password"), as(s)).want(t, 403, "wrong_password")
	ts.do(t, "POST", "/v1/email/change", change("not an address", pw), as(s)).want(t, 400, "invalid_email")

	// A taken address: the same answer; its owner gets a notice, not a link.
	taken := ts.do(t, "POST", "/v1/email/change", change(strings.ToUpper(takenAddr), pw), as(s))
	taken.want(t, 202, "")
	inUse := ts.SMTP.Wait(t, takenAddr, 1, mailWait)[0]
	if inUse.Link("token=") != "" || !strings.Contains(inUse.Subject, "tried to use your email") {
		t.Fatalf("the taken address got %q with link %q, want a notice without a link", inUse.Subject, inUse.Link("token="))
	}
	ts.SMTP.Wait(t, addr, 1, mailWait) // the old address's notice

	// A free address: a link to it, a notice to the old one.
	const newAddr = "moved@example.com"
	free := ts.do(t, "POST", "/v1/email/change", change(" Moved@Example.com ", pw), as(s))
	free.want(t, 202, "")
	if string(free.Body) != string(taken.Body) || !reflect.DeepEqual(headerSet(free.Header), headerSet(taken.Header)) {
		t.Fatal("a change to a taken address answers differently from one to a free address")
	}
	secret := ts.linkToken(t, newAddr, 1, publicURL, "/verify-email")
	notice := ts.SMTP.Wait(t, addr, 2, mailWait)[1]
	if !strings.Contains(notice.Text, newAddr) || notice.Link("token=") != "" {
		t.Fatalf("the old address's notice %q does not name the new address, or carries a link", notice.Text)
	}

	// Nothing changes until the link is used.
	me := ts.do(t, "GET", "/v1/whoami", nil, cookieOnly(s))
	if me.str(t, "user.email") != addr {
		t.Fatal("the address changed before the link was used")
	}
	ts.do(t, "POST", "/v1/email/verify", map[string]string{"token": secret}).want(t, 204, "")
	me = ts.do(t, "GET", "/v1/whoami", nil, cookieOnly(s))
	if me.str(t, "user.email") != newAddr || !whoamiVerified(t, ts, s) {
		t.Fatalf("after the link: %s, want %s, verified", me.Body, newAddr)
	}
	ts.do(t, "POST", "/v1/email/verify", map[string]string{"token": secret}).want(t, 400, "invalid_token")
	ts.do(t, "POST", "/v1/login", loginBody(addr, pw)).want(t, 401, "invalid_credentials")
	ts.MustLogin(t, newAddr, pw)
	// The old address is free again.
	ts.do(t, "POST", "/v1/signup", loginBody(addr, "some-other-pass-1")).want(t, 201, "")
}

func TestEmailChange_AddressTakenBeforeConfirming(t *testing.T) {
	ts := newTestServer(t)
	addr, pw := ts.newUser(t)
	s := ts.MustLogin(t, addr, pw)
	ts.do(t, "POST", "/v1/email/change", map[string]string{"new_email": "race@example.com", "current_password": pw}, as(s)).want(t, 202, "")
	secret := ts.linkToken(t, "race@example.com", 1, ts.Issuer, "/verify-email")
	ts.MustSignup(t, "race@example.com", "someone-else-pass-1")
	ts.do(t, "POST", "/v1/email/verify", map[string]string{"token": secret}).want(t, 400, "invalid_token")
	me := ts.do(t, "GET", "/v1/whoami", nil, cookieOnly(s))
	if me.str(t, "user.email") != addr {
		t.Fatal("the address moved onto another account's")
	}
}

func TestRequireVerifiedEmail(t *testing.T) {
	ts := newTestServer(t, withRequireVerifiedEmail())
	addr, pw := ts.newUser(t) // signup mails a link
	first := ts.linkToken(t, addr, 1, ts.Issuer, "/verify-email")
	ts.do(t, "POST", "/v1/login", loginBody(addr, "wrong-password-1")).want(t, 401, "invalid_credentials")
	r := ts.do(t, "POST", "/v1/login", loginBody(addr, pw))
	r.want(t, 403, "email_unverified")
	if len(r.setCookies()) != 0 {
		t.Fatal("a refused login set cookies")
	}
	ts.linkToken(t, addr, 2, ts.Issuer, "/verify-email") // and a refused login mails a fresh link
	ts.do(t, "POST", "/v1/email/verify", map[string]string{"token": first}).want(t, 204, "")
	ts.MustLogin(t, addr, pw)
}

func TestOutbox_RetriesAndGivesUp(t *testing.T) {
	ts := newTestServer(t, withMailByHand())
	addr, pw := ts.newUser(t)
	sess := ts.MustLogin(t, addr, pw)
	deliver := func(t *testing.T, wantSent int) {
		t.Helper()
		n, err := ts.Service.DeliverMail(t.Context())
		if err != nil || n != wantSent {
			t.Fatalf("DeliverMail = %d, %v; want %d sent", n, err, wantSent)
		}
	}

	t.Run("retries with doubling delays", func(t *testing.T) {
		ts.SMTP.FailNext(2)
		ts.do(t, "POST", "/v1/password/forgot", forgot(addr)).want(t, 202, "")
		waitFor(t, func() bool { return ts.Outbox != nil && pendingMail(t, ts) == 1 })
		deliver(t, 0) // refused
		ts.Clock.Advance(10*time.Second - time.Millisecond)
		deliver(t, 0) // not due yet: nothing tried
		if n := ts.SMTP.Attempts(); n != 1 {
			t.Fatalf("%d attempts before the first delay passed, want 1", n)
		}
		ts.Clock.Advance(time.Millisecond)
		deliver(t, 0)                      // refused again
		ts.Clock.Advance(20 * time.Second) // doubled
		deliver(t, 1)
		ts.linkToken(t, addr, 1, ts.Issuer, "/reset")
		if n := ts.SMTP.Attempts(); n != 3 {
			t.Fatalf("%d attempts, want 3 (two refusals, then the delivery)", n)
		}
	})

	ts.SMTP.FailNext(1000)
	t.Run("gives up after 8 attempts", func(t *testing.T) {
		before := ts.SMTP.Attempts()
		ts.do(t, "POST", "/v1/email/verification", nil, as(sess)).want(t, 202, "") // a 24-hour link
		for range 8 {
			deliver(t, 0)
			ts.Clock.Advance(time.Hour) // beyond every delay
		}
		if n := ts.SMTP.Attempts() - before; n != 8 {
			t.Fatalf("%d attempts, want 8", n)
		}
		if strings.Count(ts.Logs.String(), "mail failed; giving up") != 1 {
			t.Fatal("no error logged for the failed mail")
		}
		deliver(t, 0)
		if n := ts.SMTP.Attempts() - before; n != 8 {
			t.Fatalf("%d attempts after giving up, want 8", n)
		}
	})
	t.Run("gives up when the link expires", func(t *testing.T) {
		before := ts.SMTP.Attempts()
		ts.do(t, "POST", "/v1/password/forgot", forgot(addr)).want(t, 202, "")
		waitFor(t, func() bool { return pendingMail(t, ts) == 1 })
		deliver(t, 0)
		ts.Clock.Advance(15 * time.Minute)
		deliver(t, 0)
		if n := ts.SMTP.Attempts() - before; n != 1 {
			t.Fatalf("%d attempts, want 1: an expired link is not sent", n)
		}
		if strings.Count(ts.Logs.String(), "mail failed; giving up") != 2 {
			t.Fatal("no error logged for the expired mail")
		}
	})
	if !strings.Contains(ts.Audit.String(), `"event":"mail_failed"`) {
		t.Fatal("no mail_failed event in the audit trail")
	}
}

// pendingMail counts the mail due now or later in the outbox.
func pendingMail(t *testing.T, ts *testServer) int {
	t.Helper()
	n := 0
	for _, m := range ts.Outbox.All() {
		if m.Status == latch.MailPending {
			n++
		}
	}
	return n
}

// waitFor polls cond for up to mailWait.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(mailWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMail_OverStartTLS(t *testing.T) {
	ts := newTestServer(t, func(c *testConfig) {
		c.smtp = smtptest.Options{TLS: smtptest.StartTLS, User: "latch", Password: "pw-1"}
	})
	addr, _ := ts.newUser(t)
	ts.do(t, "POST", "/v1/password/forgot", forgot(addr)).want(t, 202, "")
	m := ts.SMTP.Wait(t, addr, 1, mailWait)[0]
	if !m.TLS || m.Authed != "latch" {
		t.Fatalf("mail over TLS %v as %q, want TLS as latch", m.TLS, m.Authed)
	}
}
