package browser_test

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// accessTTL is the short access token lifetime of the SPA tests, so that
// expiry happens within the test (no reuse grace: the tabs' coordination
// alone must keep them out of reuse detection).
const accessTTL = "3s"

// spaLogin signs the SPA in through its form.
func (b *tab) spaLogin(email, password string) {
	b.t.Helper()
	b.open("/demo/spa")
	b.waitUntil("the SPA login form", visible("email"), 10*time.Second)
	b.fill("email", email)
	b.fill("password", password)
	b.click("submit")
	b.waitUntil("the signed-in SPA", visible("call-api"), 10*time.Second)
}

// callAPI clicks call-api and returns the answer shown.
func (b *tab) callAPI() string {
	b.t.Helper()
	_ = eval[bool](b, `(document.querySelector('[data-testid="api-result"]').textContent = "", true)`)
	b.click("call-api")
	b.waitUntil("the API answer", `(() => { const t = document.querySelector('[data-testid="api-result"]').textContent; return t !== "" && t !== "Calling…"; })()`, 10*time.Second)
	return b.text("api-result")
}

func (b *tab) refreshCount() int {
	b.t.Helper()
	n, err := strconv.Atoi(b.text("refresh-count"))
	if err != nil {
		b.t.Fatal(err)
	}
	return n
}

// waitExpired waits until the tab's countdown shows the token expired.
func (b *tab) waitExpired() {
	b.t.Helper()
	b.waitUntil("the access token's expiry", `document.querySelector('[data-testid="expires-in"]').textContent === "0"`, 10*time.Second)
}

func TestSPA_SilentRefreshOnExpiryAndReload(t *testing.T) {
	srv := startLatch(t, "--access-ttl", accessTTL)
	srv.signup(t, "eve@example.com", pw)
	b := newTab(t, newBrowser(t), srv)
	b.spaLogin("eve@example.com", pw)

	claims := b.text("claims")
	for _, want := range []string{`"typ": "at+jwt"`, `"sid"`, `"exp"`} {
		if !strings.Contains(claims, want) {
			t.Fatalf("claims %q lack %s", claims, want)
		}
	}
	if n, err := strconv.Atoi(b.text("expires-in")); err != nil || n < 1 || n > 3 {
		t.Fatalf("expires-in %q, want 1-3", b.text("expires-in"))
	}
	if got := b.callAPI(); !strings.Contains(got, "HTTP 200") || !strings.Contains(got, "eve@example.com") {
		t.Fatalf("api-result %q", got)
	}
	if n := b.refreshCount(); n != 0 {
		t.Fatalf("refresh-count %d before expiry", n)
	}

	// The refresh cookie: HttpOnly, Strict, scoped to /v1/token; invisible to scripts.
	c := b.cookie("latch_refresh")
	if c == nil || !c.HTTPOnly || c.SameSite != "Strict" || c.Path != "/v1/token" {
		t.Fatalf("refresh cookie %+v", c)
	}
	if jar := eval[string](b, `document.cookie`); strings.Contains(jar, "latch_refresh") || strings.Contains(jar, "latch_session") {
		t.Fatalf("document.cookie = %q shows a credential", jar)
	}
	// The access token is in no storage.
	if n := eval[int](b, `localStorage.length + sessionStorage.length`); n != 0 {
		t.Fatalf("the SPA put %d items in web storage", n)
	}

	b.waitExpired()
	if got := b.callAPI(); !strings.Contains(got, "HTTP 200") {
		t.Fatalf("after expiry: api-result %q, error %q", got, b.text("error"))
	}
	if n := b.refreshCount(); n != 1 {
		t.Fatalf("refresh-count %d after expiry, want 1", n)
	}

	b.do(chromedp.Reload())
	b.waitUntil("the signed-in SPA after a reload", visible("call-api"), 10*time.Second)
	if n := b.refreshCount(); n != 1 {
		t.Fatalf("refresh-count %d after reload, want 1 (the silent refresh on load)", n)
	}
	if got := b.callAPI(); !strings.Contains(got, "HTTP 200") {
		t.Fatalf("after reload: api-result %q", got)
	}

	b.click("logout")
	b.waitUntil("the login form after logout", visible("email"), 10*time.Second)
	if c := b.cookie("latch_refresh"); c != nil {
		t.Fatalf("logout left the refresh cookie: %+v", c)
	}
	b.do(chromedp.Reload())
	b.waitUntil("the login form after a reload", visible("email"), 10*time.Second)
}

func TestSPA_TwoTabsRefreshTogether(t *testing.T) {
	srv := startLatch(t, "--access-ttl", accessTTL)
	srv.signup(t, "fay@example.com", pw)
	one := newTab(t, newBrowser(t), srv)
	one.spaLogin("fay@example.com", pw)
	two := one.another()
	two.open("/demo/spa")
	two.waitUntil("the second tab signed in silently", visible("call-api"), 10*time.Second)

	for round := range 2 {
		one.waitExpired()
		two.waitExpired()
		before := one.refreshCount() + two.refreshCount()
		// Both tabs need a refresh at the same moment.
		var wg sync.WaitGroup
		for _, b := range []*tab{one, two} {
			wg.Go(func() {
				_ = eval[bool](b, `(document.querySelector('[data-testid="api-result"]').textContent = "", document.querySelector('[data-testid="call-api"]').click(), true)`)
			})
		}
		wg.Wait()
		for i, b := range []*tab{one, two} {
			b.waitUntil("the API answer", `(() => { const t = document.querySelector('[data-testid="api-result"]').textContent; return t !== "" && t !== "Calling…"; })()`, 10*time.Second)
			if got := b.text("api-result"); !strings.Contains(got, "HTTP 200") {
				t.Fatalf("round %d, tab %d: api-result %q, error %q", round, i+1, got, b.text("error"))
			}
		}
		// One refresh when the waiting tab got the other's broadcast token
		// before the lock; two, one after the other, when it did not. Never
		// two at once: that would present one refresh token twice.
		if done := one.refreshCount() + two.refreshCount() - before; done < 1 || done > 2 {
			t.Errorf("round %d: %d refreshes for two tabs, want 1 or 2", round, done)
		}
	}
	// No reuse was detected: the family lives, and a reload signs in again.
	if strings.Contains(srv.proc.Output(), "refresh token reuse") {
		t.Fatal("the tabs tripped reuse detection")
	}
	two.do(chromedp.Reload())
	two.waitUntil("the second tab after a reload", visible("call-api"), 10*time.Second)
	if got := two.callAPI(); !strings.Contains(got, "HTTP 200") {
		t.Fatalf("after the races: %q", got)
	}
}
