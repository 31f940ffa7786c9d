package browser_test

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/latch-dev/latch/internal/smtptest"
)

// startLatchWithMail runs latch with --smtp-url pointing at an SMTP server
// of the test and --public-url at latch's own address, which must be known
// before latch binds it: a free port is picked first.
func startLatchWithMail(t *testing.T) (*server, *smtptest.Server) {
	t.Helper()
	mail := smtptest.Start(t, smtptest.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	_ = ln.Close()
	srv := startLatch(t, "--addr", "127.0.0.1:"+port, "--public-url", "http://127.0.0.1:"+port,
		"--smtp-url", mail.URL(), "--mail-from", "latch@example.com")
	return srv, mail
}

// API.md §8 in the browser: a forgotten password is reset through the link
// in the received email; the other tab and the other device are signed
// out, and the reset itself logs no one in.
func TestRecovery_ResetThroughTheEmail(t *testing.T) {
	srv, mail := startLatchWithMail(t)
	const addr = "grace@example.com"
	srv.signup(t, addr, pw)

	a := newTab(t, newBrowser(t), srv)
	a.login(addr, pw)
	device := a.stranger() // another device, signed in too
	device.login(addr, pw)

	b := a.another() // a second tab of the same browser
	b.open("/login")
	b.submit("forgot")
	if p := b.path(); p != "/forgot" {
		t.Fatalf("the Forgot password? link led to %s", p)
	}
	b.fill("email", addr)
	b.submit("submit")
	if !strings.Contains(b.text("notice"), "on its way") {
		t.Fatalf("after asking for a link: notice %q", b.text("notice"))
	}

	msg := mail.Wait(t, addr, 1, 10*time.Second)[0]
	link := msg.Link("/reset")
	if !strings.HasPrefix(link, srv.URL+"/reset?token=") {
		t.Fatalf("link %q in the mail, want one under %s", link, srv.URL)
	}
	b.do(chromedp.Navigate(link))
	b.fill("new-password", "short")
	b.submit("submit")
	if !strings.Contains(b.text("error"), "stronger password") {
		t.Fatalf("weak password on /reset: error %q", b.text("error"))
	}
	const newPW = "a-brand-new-passphrase"
	b.fill("new-password", newPW)
	b.submit("submit")
	if p := b.path(); p != "/login?notice=password-reset" {
		t.Fatalf("after the reset at %s, want the login page (a reset logs no one in); error %q", p, b.text("error"))
	}
	if ref := eval[string](b, `document.referrer`); ref != "" {
		t.Fatalf("the page after /reset got referrer %q: the link's token leaked", ref)
	}

	// The first tab and the other device are signed out.
	a.open("/account")
	if p := a.path(); p != "/login?next=/account" {
		t.Fatalf("the first tab at %s after the reset, want signed out", p)
	}
	device.open("/account")
	if p := device.path(); p != "/login?next=/account" {
		t.Fatalf("the other device at %s after the reset, want signed out", p)
	}

	// The link is spent; the new password works, the old one does not.
	b.do(chromedp.Navigate(link))
	b.fill("new-password", "yet-another-passphrase")
	b.submit("submit")
	if !strings.Contains(b.text("error"), "expired or was already used") {
		t.Fatalf("a spent link: error %q", b.text("error"))
	}
	b.open("/login")
	b.fill("email", addr)
	b.fill("password", pw)
	b.submit("submit")
	if !strings.Contains(b.text("error"), "do not match") {
		t.Fatalf("the old password after the reset: error %q", b.text("error"))
	}
	b.login(addr, newPW)

	notice := mail.Wait(t, addr, 2, 10*time.Second)[1]
	if !strings.Contains(notice.Subject, "password was reset") {
		t.Fatalf("second mail %q, want the reset notice", notice.Subject)
	}
}

// API.md §8 in the browser: the address changes from the account page only
// once the link mailed to the new address is used; the old address gets a
// notice, and the page shows the new address confirmed.
func TestRecovery_ChangeEmailThroughTheLink(t *testing.T) {
	srv, mail := startLatchWithMail(t)
	const old, next = "hana@example.com", "hana.new@example.com"
	srv.signup(t, old, pw)
	b := newTab(t, newBrowser(t), srv)
	b.login(old, pw)
	if st := b.text("email-status"); st != "Not confirmed" {
		t.Fatalf("a new account's address: %q", st)
	}
	b.click("email-change-toggle")
	b.fill("new-email", next)
	b.fill("email-password", pw)
	b.submit("change-email")
	if !strings.Contains(b.text("notice"), "open the link we sent to the new address") {
		t.Fatalf("after asking for the change: notice %q, error %q", b.text("notice"), b.text("error"))
	}
	if got := b.text("user-email"); got != old {
		t.Fatalf("the address changed before the link was used: %q", got)
	}
	link := mail.Wait(t, next, 1, 10*time.Second)[0].Link("/verify-email")
	if notice := mail.Wait(t, old, 1, 10*time.Second)[0]; !strings.Contains(notice.Text, next) {
		t.Fatalf("the notice to the old address does not name the new one:\n%s", notice.Text)
	}
	b.do(chromedp.Navigate(link))
	b.submit("submit")
	if !strings.Contains(b.text("notice"), "confirmed") {
		t.Fatalf("after the link: notice %q, error %q", b.text("notice"), b.text("error"))
	}
	b.open("/account")
	if got, st := b.text("user-email"), b.text("email-status"); got != next || st != "Confirmed" {
		t.Fatalf("the account page shows %q (%s), want %q confirmed", got, st, next)
	}
}
