package browser_test

import (
	"encoding/base32"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latch-dev/latch/totp"
)

// totpCode is the authenticator's code for secret (as the page shows it) at
// now moved by steps: what a phone would show.
func totpCode(t *testing.T, secret string, steps int) string {
	t.Helper()
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(secret, " ", ""))
	if err != nil {
		t.Fatalf("the key on the page, %q: %v", secret, err)
	}
	code, err := totp.Codes{}.Code(key, time.Now().Add(time.Duration(steps)*30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// enableTOTP turns two-step verification on from the security page, reading
// the key off the page as a person types it into an app, and returns the key
// and the recovery codes the page shows once.
func (b *tab) enableTOTP(password string) (string, []string) {
	b.t.Helper()
	b.open("/account")
	b.submit("nav-security")
	if p := b.path(); p != "/account/security" {
		b.t.Fatalf("the security link led to %s", p)
	}
	b.fill("current-password", password)
	b.submit("totp-setup")
	b.waitUntil("the QR code", visible("totp-qr"), 5*time.Second)
	if n := eval[int](b, `document.querySelectorAll('[data-testid="totp-qr"] svg path').length`); n != 1 {
		b.t.Fatalf("the QR code has %d paths", n)
	}
	secret := b.text("totp-secret")
	b.fill("totp-code", totpCode(b.t, secret, 0))
	b.submit("totp-confirm")
	b.waitUntil("the recovery codes", visible("recovery-codes"), 5*time.Second)
	codes := eval[[]string](b, `[...document.querySelectorAll('[data-testid="recovery-codes"] li')].map(li => li.textContent.trim())`)
	if len(codes) != 10 {
		b.t.Fatalf("%d recovery codes on the page: %v", len(codes), codes)
	}
	if st := b.text("totp-status"); st != "On" {
		b.t.Fatalf("status %q after confirming", st)
	}
	return secret, codes
}

// whoamiAMR is the amr of the signed-in session, as the API reports it.
func (b *tab) whoamiAMR() []string {
	b.t.Helper()
	return eval[[]string](b, `fetch("/v1/whoami").then(r => r.json()).then(j => j.auth.amr)`)
}

// API.md §8 in the browser: TOTP set up from the page (the key read off it,
// codes computed as an app would), then logins ask for the code; a wrong
// code is refused in words; a recovery code works once.
func TestMFA_TOTPSetUpAndSignIn(t *testing.T) {
	srv := startLatch(t)
	const addr = "ivy@example.com"
	srv.signup(t, addr, pw)
	b := newTab(t, newBrowser(t), srv)
	b.login(addr, pw)
	if got := b.whoamiAMR(); !slices.Equal(got, []string{"pwd"}) {
		t.Fatalf("password login: amr %v", got)
	}
	secret, codes := b.enableTOTP(pw)

	other := b.stranger() // another device: the password alone is no longer enough
	other.open("/login")
	other.fill("email", addr)
	other.fill("password", pw)
	other.submit("submit")
	other.waitUntil("the second step", visible("totp"), 5*time.Second)
	if p := other.path(); p != "/login" {
		t.Fatalf("the second step is at %s", p)
	}
	if c := other.cookie("__Host-latch_session"); c != nil {
		t.Fatal("a session cookie after the password alone")
	}
	other.fill("totp", "000000")
	other.submit("submit")
	if e := other.text("error"); !strings.Contains(e, "code is not right") {
		t.Fatalf("after a wrong code: error %q", e)
	}
	// The confirming code's step is spent; the next step's is accepted
	// (one step of drift), as an app a few seconds ahead would show it.
	other.fill("totp", totpCode(t, secret, 1))
	other.submit("submit")
	if p := other.path(); p != "/account" {
		t.Fatalf("after the code at %s; error %q", p, other.text("error"))
	}
	if got := other.whoamiAMR(); !slices.Equal(got, []string{"pwd", "otp", "mfa"}) {
		t.Fatalf("after the second step: amr %v", got)
	}

	third := b.stranger()
	for i, want := range []string{"/account", "/login"} { // a recovery code works once
		third.open("/login")
		third.fill("email", addr)
		third.fill("password", pw)
		third.submit("submit")
		third.waitUntil("the second step", visible("totp"), 5*time.Second)
		third.click("recovery-toggle")
		third.fill("recovery-code", strings.ToUpper(codes[3]))
		third.submit("submit")
		if p := third.path(); p != want {
			t.Fatalf("recovery code, use %d: at %s, want %s; error %q", i+1, p, want, third.text("error"))
		}
		if i == 0 {
			third.open("/account")
			third.submit("logout")
		}
	}
}
