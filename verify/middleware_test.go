package verify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/latch-dev/latch/jose"
	"github.com/latch-dev/latch/verify"
)

// protected is a handler behind the middleware that echoes the subject it
// finds in the context.
func protected(v *verify.Verifier) http.Handler {
	return v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := verify.ClaimsFromContext(r.Context())
		if !ok {
			http.Error(w, "no claims", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%s %s", c.Subject, c.Role)
	}))
}

func TestVerifier_Middleware(t *testing.T) {
	is := newIssuer(t, jose.EdDSA)
	v := MustVerifier(t, is)
	h := protected(v)
	valid := is.MustToken(t, nil)
	revoked := is.MustToken(t, nil)
	rc, err := v.Verify(context.Background(), revoked)
	if err != nil {
		t.Fatal(err)
	}
	is.publish(fmt.Sprintf(`{"jti":%q,"exp":%d}`, rc.ID, rc.ExpiresAt.Unix()))
	eventually(t, time.Second, "revoked", func() bool {
		_, err := v.Verify(context.Background(), revoked)
		return errors.Is(err, verify.ErrRevoked)
	})

	const (
		noChallenge = "Bearer"
		invalid     = `Bearer error="invalid_token"`
	)
	cases := []struct {
		name      string
		req       func(r *http.Request)
		status    int
		challenge string
	}{
		{"valid", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+valid) }, 200, ""},
		{"scheme in lower case", func(r *http.Request) { r.Header.Set("Authorization", "bearer "+valid) }, 200, ""},
		{"no header", func(r *http.Request) {}, 401, noChallenge},
		{"other scheme", func(r *http.Request) { r.Header.Set("Authorization", "Basic cnMxOnNlY3JldA==") }, 401, noChallenge},
		{"empty bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer ") }, 401, invalid},
		{"garbage", func(r *http.Request) { r.Header.Set("Authorization", "Bearer not.a.token") }, 401, invalid},
		{"two tokens", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+valid+" "+valid) }, 401, invalid},
		{"two headers", func(r *http.Request) {
			r.Header.Add("Authorization", "Bearer "+valid)
			r.Header.Add("Authorization", "Bearer "+valid)
		}, 401, invalid},
		{"revoked", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+revoked) }, 401, invalid},
		// SECURITY.md 5: never from a query parameter or a cookie.
		{"query parameter", func(r *http.Request) { r.URL.RawQuery = "access_token=" + valid }, 401, noChallenge},
		{"cookie", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "access_token", Value: valid}) }, 401, noChallenge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/hello", nil)
			tc.req(r)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tc.status, w.Body)
			}
			if tc.status == 200 {
				if got := w.Body.String(); got != "user-1 editor" {
					t.Errorf("handler saw %q", got)
				}
				return
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.challenge)
			}
			checkProblem(t, w, 401, "unauthenticated")
		})
	}

	t.Run("stale", func(t *testing.T) {
		is.set(func(is *fakeIssuer) { is.down = true })
		is.drop()
		eventually(t, 2*time.Second, "stale", func() bool { return !v.Healthy() })
		r := httptest.NewRequest("GET", "/api/hello", nil)
		r.Header.Set("Authorization", "Bearer "+valid)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 503 {
			t.Fatalf("status = %d, want 503", w.Code)
		}
		if got := w.Header().Get("Retry-After"); got != "1" {
			t.Errorf("Retry-After = %q, want 1", got)
		}
		if got := w.Header().Get("WWW-Authenticate"); got != "" {
			t.Errorf("WWW-Authenticate = %q on a 503: the token is not the problem", got)
		}
		checkProblem(t, w, 503, "unavailable")
	})
}

func checkProblem(t *testing.T, w *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
	var p struct {
		Status int    `json:"status"`
		Code   string `json:"code"`
		Title  string `json:"title"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	if p.Status != status || p.Code != code || p.Title == "" {
		t.Errorf("problem = %+v, want status %d, code %s and a title", p, status, code)
	}
}

func TestClaimsFromContext(t *testing.T) {
	if c, ok := verify.ClaimsFromContext(context.Background()); ok || c != nil {
		t.Errorf("ClaimsFromContext(empty) = %v, %v", c, ok)
	}
}
