package browser_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const pw = "correct-horse-battery"

func TestForms_SignupLoginAndCookiesScriptsCannotSee(t *testing.T) {
	srv := startLatch(t)
	b := newTab(t, newBrowser(t), srv)

	b.open("/")
	for _, id := range []string{"nav-signup", "nav-login", "nav-account", "nav-spa", "nav-storage"} {
		if eval[bool](b, visible(id)) != true {
			t.Errorf("start page: %s not visible", id)
		}
	}

	b.open("/signup")
	b.fill("email", "ada@example.com")
	b.fill("password", "password")
	b.submit("submit")
	if msg := b.text("error"); !strings.Contains(msg, "stronger password") {
		t.Fatalf("weak password: error %q", msg)
	}
	b.fill("password", pw)
	b.submit("submit")
	if p := b.path(); p != "/login?notice=signed-up" || !strings.Contains(b.text("notice"), "account is ready") {
		t.Fatalf("after signup at %s, notice %q", p, b.text("notice"))
	}

	b.fill("email", "ada@example.com")
	b.fill("password", "not-the-password")
	b.submit("submit")
	if msg := b.text("error"); !strings.Contains(msg, "do not match") {
		t.Fatalf("wrong password: error %q", msg)
	}
	b.login("ada@example.com", pw)
	if got := b.text("user-email"); got != "ada@example.com" {
		t.Fatalf("user-email %q", got)
	}
	if n := eval[int](b, `document.querySelectorAll('[data-testid="session-row"][data-current="true"]').length`); n != 1 {
		t.Fatalf("%d current session rows, want 1", n)
	}
	if dev := b.text("session-row"); !strings.Contains(dev, "Headless Chrome") || !strings.Contains(dev, "on Linux") ||
		!strings.Contains(dev, "127.0.0.1") || !strings.Contains(dev, "This device") {
		t.Errorf("device row %q does not read as a person would", dev)
	}

	// The session cookie is HttpOnly: the browser holds it, scripts do not see it.
	if c := b.cookie("latch_session"); c == nil || !c.HTTPOnly || c.SameSite != "Lax" {
		t.Fatalf("session cookie %+v, want HttpOnly SameSite=Lax", c)
	}
	jar := eval[string](b, `document.cookie`)
	if strings.Contains(jar, "latch_session") || !strings.Contains(jar, "latch_csrf") {
		t.Fatalf("document.cookie = %q: want the CSRF cookie and not the session", jar)
	}

	// Reaching /account without a session goes to the login page and back.
	other := b.stranger()
	other.open("/account")
	if p := other.path(); p != "/login?next=/account" {
		t.Fatalf("signed out /account at %s", p)
	}
	other.fill("email", "ada@example.com")
	other.fill("password", pw)
	other.submit("submit")
	if p := other.path(); p != "/account" {
		t.Fatalf("after login with next at %s", p)
	}
}

func TestForms_ForeignSiteCannotPostForms(t *testing.T) {
	srv := startLatch(t)
	srv.signup(t, "bo@example.com", pw)
	srv.signup(t, "mallory@example.com", pw)
	evil := startForeignSite(t)
	b := newTab(t, newBrowser(t), srv)
	b.login("bo@example.com", pw)
	csrf := b.cookie("latch_csrf").Value // even a leaked token does not help a foreign page

	for _, tc := range []struct {
		name, action string
		fields       map[string]string
	}{
		{"logout", "/account/logout", map[string]string{"csrf": csrf}},
		{"logout-all", "/account/logout-all", map[string]string{"csrf": csrf}},
		{"password", "/account/password", map[string]string{"csrf": csrf, "current_password": pw, "new_password": "mallory-chose-this"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.open("/account")
			page := evil.autoSubmit("/"+tc.name, srv.URL+tc.action, tc.fields)
			b.do(chromedp.Navigate(page))
			b.waitUntil("the foreign form's answer", `location.origin === "`+srv.URL+`"`, 10*time.Second)
			if body := eval[string](b, `document.body.innerText`); !strings.Contains(body, "csrf_failed") {
				t.Fatalf("the foreign post was not refused: %q", body)
			}
			b.open("/account")
			if p := b.path(); p != "/account" {
				t.Fatalf("after the foreign %s post the browser is signed out (at %s)", tc.name, p)
			}
		})
	}
	// The password is unchanged.
	b.stranger().login("bo@example.com", pw)

	t.Run("login CSRF", func(t *testing.T) {
		victim := b.stranger()
		page := evil.autoSubmit("/login", srv.URL+"/login", map[string]string{"email": "mallory@example.com", "password": pw})
		victim.do(chromedp.Navigate(page))
		victim.waitUntil("the foreign form's answer", `location.origin === "`+srv.URL+`"`, 10*time.Second)
		if c := victim.cookie("latch_session"); c != nil {
			t.Fatalf("a foreign login form set a session cookie: %+v", c)
		}
		victim.open("/account")
		if p := victim.path(); p != "/login?next=/account" {
			t.Fatalf("the foreign login form signed the browser in (at %s)", p)
		}
	})
}

func TestForms_LogoutInOneTabSendsTheOtherToLogin(t *testing.T) {
	srv := startLatch(t)
	srv.signup(t, "cy@example.com", pw)
	one := newTab(t, newBrowser(t), srv)
	one.login("cy@example.com", pw)
	two := one.another()
	two.open("/account")
	if got := two.text("user-email"); got != "cy@example.com" {
		t.Fatalf("second tab: %q", got)
	}

	one.submit("logout")
	if p := one.path(); p != "/login?notice=signed-out" || !strings.Contains(one.text("notice"), "logged out") {
		t.Fatalf("after logout at %s", p)
	}
	// The second tab still shows the account; its next action lands on login.
	two.fill("current-password", pw)
	two.fill("new-password", "another-fine-passphrase")
	two.submit("change-password")
	if p := two.path(); p != "/login?next=/account" {
		t.Fatalf("the stale tab's action went to %s, want the login page", p)
	}
}

func TestForms_RevokeADeviceSignsItOut(t *testing.T) {
	srv := startLatch(t)
	srv.signup(t, "di@example.com", pw)
	laptop := newTab(t, newBrowser(t), srv)
	phone := laptop.stranger()
	phone.login("di@example.com", pw)
	laptop.login("di@example.com", pw)

	if n := eval[int](laptop, `document.querySelectorAll('[data-testid="session-row"]').length`); n != 2 {
		t.Fatalf("%d devices listed, want 2", n)
	}
	if n := eval[int](laptop, `document.querySelectorAll('[data-testid="revoke"]').length`); n != 1 {
		t.Fatalf("%d revoke buttons, want 1 (none on this device)", n)
	}
	laptop.submit("revoke")
	if !strings.Contains(laptop.text("notice"), "signed out") {
		t.Fatalf("no notice after revoking: %q", laptop.text("notice"))
	}
	if n := eval[int](laptop, `document.querySelectorAll('[data-testid="session-row"]').length`); n != 1 {
		t.Fatalf("%d devices after revoking, want 1", n)
	}

	phone.open("/account")
	if p := phone.path(); p != "/login?next=/account" {
		t.Fatalf("the revoked browser is still signed in (at %s)", p)
	}
}

// TestForms_DefaultCookiesOnLoopback: with the default __Host- Secure
// cookies, the pages work on http://127.0.0.1 (a secure context for the
// browser), as the README tells a first visitor.
func TestForms_DefaultCookiesOnLoopback(t *testing.T) {
	srv := startLatchArgs(t)
	srv.signup(t, "hal@example.com", pw)
	b := newTab(t, newBrowser(t), srv)
	b.login("hal@example.com", pw)
	if c := b.cookie("__Host-latch_session"); c == nil || !c.Secure || !c.HTTPOnly {
		t.Fatalf("session cookie %+v, want __Host-latch_session, Secure, HttpOnly", c)
	}
	b.submit("logout")
	if p := b.path(); p != "/login?notice=signed-out" {
		t.Fatalf("after logout at %s", p)
	}
}
