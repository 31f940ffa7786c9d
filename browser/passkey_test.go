package browser_test

import (
	"context"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// startLatchOnLocalhost runs latch for passkeys: a relying party must be a
// host name, so the browser talks to localhost (a secure context over
// plain HTTP) and latch's --public-url says so.
func startLatchOnLocalhost(t *testing.T) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	_ = ln.Close()
	srv := startLatch(t, "--addr", "127.0.0.1:"+port, "--public-url", "http://localhost:"+port)
	srv.URL = "http://localhost:" + port
	return srv
}

// addAuthenticator gives the tab Chromium's virtual authenticator (the
// DevTools WebAuthn domain): a platform authenticator with resident keys
// that verifies its user, as a phone or laptop with a fingerprint does.
func (b *tab) addAuthenticator() {
	b.t.Helper()
	b.do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{
				Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
				Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true,
				HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
			}})
		return err
	}))
}

// logout signs the tab out from the account page.
func (b *tab) logout() {
	b.t.Helper()
	b.open("/account")
	b.submit("logout")
}

// API.md §8 in the browser, with Chromium's virtual authenticator: a
// passkey added on the security page signs in with no password, serves as
// the second step after one, and is removed from the page.
func TestPasskeys_AddSignInSecondStepRemove(t *testing.T) {
	srv := startLatchOnLocalhost(t)
	const addr = "june@example.com"
	srv.signup(t, addr, pw)
	b := newTab(t, newBrowser(t), srv)
	b.addAuthenticator()
	b.login(addr, pw)

	b.open("/account/security")
	b.fill("passkey-name", "Test laptop")
	b.click("passkey-add")
	b.waitUntil("the passkey in the list", `location.search === "?notice=passkey-added" && !!document.querySelector('[data-testid="passkey-row"]')`, 10*time.Second)
	if n := eval[int](b, `document.querySelectorAll('[data-testid="passkey-row"]').length`); n != 1 {
		t.Fatalf("%d passkey rows after adding one", n)
	}
	if name := b.text("passkey-name-shown"); name != "Test laptop" {
		t.Fatalf("the passkey is listed as %q", name)
	}

	// Passwordless: no address typed.
	b.logout()
	b.open("/login")
	b.click("passkey-login")
	b.waitUntil("the account page", `location.pathname === "/account"`, 10*time.Second)
	if got := b.whoamiAMR(); !slices.Equal(got, []string{"hwk", "mfa"}) {
		t.Fatalf("passkey login: amr %v", got)
	}

	// After the password, the passkey is the second step.
	b.logout()
	b.open("/login")
	b.fill("email", addr)
	b.fill("password", pw)
	b.submit("submit")
	b.waitUntil("the second step", visible("use-passkey"), 5*time.Second)
	if b.cookie("latch_session") != nil || b.cookie("__Host-latch_session") != nil {
		t.Fatal("a session cookie after the password alone")
	}
	b.click("use-passkey")
	b.waitUntil("the account page", `location.pathname === "/account"`, 10*time.Second)
	if got := b.whoamiAMR(); !slices.Equal(got, []string{"pwd", "hwk", "mfa"}) {
		t.Fatalf("password then passkey: amr %v", got)
	}

	// The last second factor goes with the password, from a login that used it.
	b.open("/account/security")
	b.fill("passkey-remove-password", pw)
	b.submit("passkey-remove")
	if e := b.text("error"); e != "" {
		t.Fatalf("removing the passkey: %q", e)
	}
	b.waitUntil("no passkey left", visible("passkeys-none"), 5*time.Second)
	b.logout()
	b.open("/login")
	b.fill("email", addr)
	b.fill("password", pw)
	b.submit("submit")
	if p := b.path(); p != "/account" {
		t.Fatalf("a password login after the removal is at %s", p)
	}
}
