package browser_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
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

// TestSPA_RetriesOnceAfterA401: the access token the tab holds is revoked
// behind its back (RFC 7009, as a resource server would); the next API call
// gets 401, refreshes once (the family is alive) and retries with the new
// token, so the person sees an answer, not an error.
func TestSPA_RetriesOnceAfterA401(t *testing.T) {
	const client, secret = "rs1", "rs1-secret-0123456789abcdef"
	srv := startLatch(t, "--client", client+":"+secret)
	srv.signup(t, "fay@example.com", pw)
	b := newTab(t, newBrowser(t), srv)

	var mu sync.Mutex
	var bearers []string
	if err := chromedp.Listen(b.ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok && strings.HasSuffix(e.Request.URL, "/v1/whoami") {
			for k, v := range e.Request.Headers {
				h, ok := v.(string)
				if !ok || !strings.EqualFold(k, "Authorization") {
					continue
				}
				mu.Lock()
				bearers = append(bearers, strings.TrimPrefix(h, "Bearer "))
				mu.Unlock()
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(b.ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	b.spaLogin("fay@example.com", pw)
	if got := b.callAPI(); !strings.Contains(got, "HTTP 200") {
		t.Fatalf("api-result %q", got)
	}
	mu.Lock()
	if len(bearers) == 0 {
		mu.Unlock()
		t.Fatal("no bearer token seen on the SPA's whoami")
	}
	held := bearers[len(bearers)-1]
	mu.Unlock()

	req, err := http.NewRequest("POST", srv.URL+"/oauth2/revoke", strings.NewReader(url.Values{"token": {held}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, secret)
	res, err := httpc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("revoking the tab's access token: %d", res.StatusCode)
	}

	before := b.refreshCount()
	if got := b.callAPI(); !strings.Contains(got, "HTTP 200") || !strings.Contains(got, "fay@example.com") {
		t.Fatalf("after the revocation: api-result %q, error %q; want the retry's answer", got, b.text("error"))
	}
	if n := b.refreshCount(); n != before+1 {
		t.Fatalf("refresh-count %d after a 401, want %d (one refresh, then the retry)", n, before+1)
	}
	mu.Lock()
	defer mu.Unlock()
	if last := bearers[len(bearers)-1]; last == held {
		t.Fatal("the retry sent the revoked token again")
	}
}
