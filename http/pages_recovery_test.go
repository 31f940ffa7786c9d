package http_test

import (
	"strings"
	"testing"
)

func TestPages_Recovery(t *testing.T) {
	ts := newTestServer(t)
	addr, _ := ts.newUser(t)

	login := ts.do(t, "GET", "/login", nil)
	if !strings.Contains(string(login.Body), `href="/forgot"`) {
		t.Fatal("the login page has no link to /forgot")
	}
	for _, who := range []string{addr, "nobody@example.com"} {
		r := ts.postForm(t, "/forgot", formBody("email", who))
		if r.Status != 303 || r.Header.Get("Location") != "/forgot?notice=reset-sent" {
			t.Fatalf("forgot form for %s: %d to %q, want 303 to the notice", who, r.Status, r.Header.Get("Location"))
		}
	}
	if r := ts.do(t, "GET", "/forgot?notice=reset-sent", nil); !strings.Contains(string(r.Body), `data-testid="notice"`) {
		t.Fatal("no notice on /forgot after the form")
	}
	bad := ts.postForm(t, "/forgot", formBody("email", "not an address"))
	if bad.Status != 400 || !strings.Contains(string(bad.Body), `data-testid="error"`) {
		t.Fatalf("forgot form with a bad address: %d", bad.Status)
	}
	if r := ts.do(t, "POST", "/forgot", formBody("email", addr), ctype("application/x-www-form-urlencoded"),
		header("Sec-Fetch-Site", "cross-site")); r.Status != 403 {
		t.Fatalf("cross-site forgot form: %d, want 403", r.Status)
	}

	secret := ts.linkToken(t, addr, 1, ts.Issuer, "/reset")
	if r := ts.do(t, "GET", "/reset", nil); !strings.Contains(string(r.Body), `data-testid="error"`) ||
		strings.Contains(string(r.Body), `data-testid="new-password"`) {
		t.Fatal("/reset without a token shows a form or no error")
	}
	weak := ts.postForm(t, "/reset", formBody("token", secret, "new_password", "short"))
	if weak.Status != 400 || !strings.Contains(string(weak.Body), `value="`+secret+`"`) ||
		weak.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("weak password on /reset: %d, want 400 with the form and its token kept", weak.Status)
	}
	// The page is no-referrer, so the browser's same-origin post says
	// Origin: null beside Sec-Fetch-Site: same-origin (API.md §2: the
	// latter decides).
	ok := ts.postForm(t, "/reset", formBody("token", secret, "new_password", "page-reset-password-1"), header("Origin", "null"))
	if ok.Status != 303 || ok.Header.Get("Location") != "/login?notice=password-reset" || len(ok.setCookies()) != 0 {
		t.Fatalf("reset form: %d to %q, cookies %q; want 303 to the login page and no cookie", ok.Status, ok.Header.Get("Location"), ok.setCookies())
	}
	again := ts.postForm(t, "/reset", formBody("token", secret, "new_password", "page-reset-password-2"))
	if again.Status != 400 || strings.Contains(string(again.Body), `data-testid="new-password"`) {
		t.Fatalf("a spent link on /reset: %d, want 400 without the form", again.Status)
	}
	ts.formLogin(t, addr, "page-reset-password-1")

	// The reset proved the address; a new account verifies through the page.
	if !whoamiVerified(t, ts, ts.MustLogin(t, addr, "page-reset-password-1")) {
		t.Fatal("a used reset link did not verify the address")
	}
	addr2, pw2 := ts.newUser(t)
	s := ts.MustLogin(t, addr2, pw2)
	ts.do(t, "POST", "/v1/email/verification", nil, as(s)).want(t, 202, "")
	vsecret := ts.linkToken(t, addr2, 1, ts.Issuer, "/verify-email")
	v := ts.postForm(t, "/verify-email", formBody("token", vsecret))
	if v.Status != 303 || v.Header.Get("Location") != "/verify-email?notice=email-verified" {
		t.Fatalf("verify form: %d to %q", v.Status, v.Header.Get("Location"))
	}
	if r := ts.do(t, "GET", "/verify-email?notice=email-verified", nil); !strings.Contains(string(r.Body), `data-testid="notice"`) {
		t.Fatal("no notice after verifying")
	}
	if !whoamiVerified(t, ts, s) {
		t.Fatal("the verify form did not verify")
	}
}
