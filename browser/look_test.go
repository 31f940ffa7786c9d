package browser_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// screenshotDir holds the screenshots for people to look at (git-ignored).
const screenshotDir = "screenshots"

// TestPages_AccessibleAndReadableEverywhere puts every page in each state a
// visitor sees, at 375 and 1280 px, in the light and the dark scheme, and
// checks that axe-core finds no WCAG 2.1 A or AA violation and that nothing
// is wider than the screen; it saves a screenshot of each.
func TestPages_AccessibleAndReadableEverywhere(t *testing.T) {
	srv := startLatchOnLocalhost(t) // passkeys on: the pages offer them
	srv.signup(t, "gil@example.com", pw)
	srv.signup(t, "hal@example.com", pw) // turns on two-step verification below
	var halSecret string
	b := newTab(t, newBrowser(t), srv)
	phone := b.stranger()
	phone.login("gil@example.com", pw)
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}

	states := []struct {
		name  string
		setup func()
	}{
		{"index", func() { b.open("/") }},
		{"signup", func() { b.open("/signup") }},
		{"signup-error", func() {
			b.open("/signup")
			b.fill("email", "gil@example.com")
			b.fill("password", pw)
			b.submit("submit")
			b.waitUntil("the signup error", visible("error"), 5*time.Second)
		}},
		{"login", func() { b.open("/login?notice=signed-up") }},
		{"login-error", func() {
			b.open("/login")
			b.fill("email", "gil@example.com")
			b.fill("password", "not-the-password")
			b.submit("submit")
			b.waitUntil("the login error", visible("error"), 5*time.Second)
		}},
		{"account", func() {
			b.login("gil@example.com", pw)
			b.open("/account?notice=revoked")
		}},
		{"account-email-change", func() {
			b.click("email-change-toggle")
			b.fill("new-email", "not an address")
			b.fill("email-password", pw)
			b.submit("change-email")
			b.waitUntil("the error", visible("error"), 5*time.Second)
			if !eval[bool](b, `document.querySelector('[data-testid="new-email"]').value === "not an address"`) {
				t.Error("the change form lost what was typed")
			}
		}},
		{"spa", func() {
			b.open("/demo/spa")
			b.waitUntil("the SPA login form", visible("email"), 10*time.Second)
		}},
		{"spa-signed-in", func() {
			b.spaLogin("gil@example.com", pw)
			_ = b.callAPI()
		}},
		{"forgot", func() { b.open("/forgot") }},
		{"forgot-sent", func() {
			b.open("/forgot")
			b.fill("email", "gil@example.com")
			b.submit("submit")
			b.waitUntil("the forgot notice", visible("notice"), 5*time.Second)
		}},
		{"reset", func() { b.open("/reset?token=not-a-real-token") }},
		{"verify-email", func() { b.open("/verify-email?token=not-a-real-token") }},
		{"security", func() {
			b.login("hal@example.com", pw)
			b.open("/account/security")
		}},
		{"security-setup", func() {
			b.fill("current-password", pw)
			b.submit("totp-setup")
			b.waitUntil("the QR code", visible("totp-qr"), 5*time.Second)
		}},
		{"security-codes", func() {
			halSecret = b.text("totp-secret")
			b.fill("totp-code", totpCode(t, halSecret, 0))
			b.submit("totp-confirm")
			b.waitUntil("the recovery codes", visible("recovery-codes"), 5*time.Second)
		}},
		{"security-on", func() { b.open("/account/security") }},
		{"security-passkeys", func() {
			b.addAuthenticator()
			b.fill("passkey-name", "Work laptop")
			b.click("passkey-add")
			b.waitUntil("the passkey in the list", `!!document.querySelector('[data-testid="passkey-row"]')`, 10*time.Second)
		}},
		{"security-error", func() {
			b.fill("totp-off-password", pw)
			b.fill("totp-off-code", "000000")
			b.submit("totp-disable")
			b.waitUntil("the error", visible("error"), 5*time.Second)
		}},
		{"login-mfa", func() {
			b.open("/account")
			b.submit("logout")
			b.open("/login")
			b.fill("email", "hal@example.com")
			b.fill("password", pw)
			b.submit("submit")
			b.waitUntil("the second step", visible("totp"), 5*time.Second)
		}},
		{"login-mfa-error", func() {
			b.fill("totp", "000000")
			b.submit("submit")
			b.waitUntil("the error", visible("error"), 5*time.Second)
		}},
		{"storage", func() { b.open("/demo/storage") }},
		{"storage-done", func() {
			b.open("/demo/storage")
			b.click("lab-run")
			b.waitUntil("lab-done", visible("lab-done"), 30*time.Second)
		}},
	}
	for _, st := range states {
		t.Run(st.name, func(t *testing.T) {
			b.t = t
			defer func() { b.t = t }()
			st.setup()
			for _, scheme := range []string{"light", "dark"} {
				for _, width := range []int64{375, 1280} {
					b.do(chromedp.EmulateViewport(width, 900),
						chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
							_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
								Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
							return err
						}))
					if got := eval[bool](b, `matchMedia("(prefers-color-scheme: `+scheme+`)").matches`); !got {
						t.Fatalf("the %s scheme is not in effect", scheme)
					}
					where := fmt.Sprintf("%s at %d px, %s", st.name, width, scheme)
					if over := eval[int](b, `document.documentElement.scrollWidth - window.innerWidth`); over > 0 {
						t.Errorf("%s: the page is %d px wider than the screen", where, over)
					}
					for _, v := range b.axe() {
						var nodes []string
						for _, n := range v.Nodes {
							nodes = append(nodes, fmt.Sprintf("%v: %s", n.Target, n.Summary))
						}
						t.Errorf("%s: axe %s (%s):\n  %s", where, v.ID, v.Help, strings.Join(nodes, "\n  "))
					}
					png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
					if err != nil {
						t.Fatal(err)
					}
					file := filepath.Join(screenshotDir, fmt.Sprintf("%s-%d-%s.png", st.name, width, scheme))
					if err := os.WriteFile(file, png, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}

	t.Run("keyboard focus is visible", func(t *testing.T) {
		b.t = t
		b.open("/login")
		b.do(chromedp.KeyEvent("\t"))
		style := eval[string](b, `(() => { const s = getComputedStyle(document.activeElement); return document.activeElement.tagName + " " + s.outlineStyle + " " + s.outlineWidth; })()`)
		if strings.Contains(style, "none") || strings.HasSuffix(style, " 0px") {
			t.Fatalf("the focused element has no visible outline: %s", style)
		}
	})
}
