package http

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The router answers every request exactly as the ServeMux alone would:
// same handler, same r.Pattern, same redirects and 404s.
func TestRouter_SameAsServeMux(t *testing.T) {
	patterns := []string{"/healthz", "/v1/whoami", "/v1/sessions", "/v1/sessions/{id}", "/.well-known/jwks.json", "/"}
	plain := http.NewServeMux()
	rt := &router{mux: http.NewServeMux(), exact: map[string]http.Handler{}}
	for _, p := range patterns {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, p+" pattern="+r.Pattern+" id="+r.PathValue("id"))
		})
		plain.Handle(p, h)
		rt.Handle(p, h)
	}
	if len(rt.exact) != 4 {
		t.Fatalf("%d exact routes, want 4 (no wildcard or subtree pattern)", len(rt.exact))
	}
	for _, target := range []string{
		"/healthz", "/v1/whoami", "/v1/whoami/", "/v1/whoami?x=1", "//v1/whoami", "/v1/./whoami", "/v1/x/../whoami",
		"/v1/who%61mi", "/v1/whoami%2F", "/V1/WHOAMI", "/v1/sessions", "/v1/sessions/abc", "/v1/sessions/a%2Fb",
		"/.well-known/jwks.json", "/nope", "/", "/v1/whoami/..",
	} {
		for _, method := range []string{"GET", "HEAD", "POST", "CONNECT"} {
			req := httptest.NewRequest(method, "http://latch.test"+target, nil)
			if method == "CONNECT" {
				req.RequestURI = target
			}
			want, got := httptest.NewRecorder(), httptest.NewRecorder()
			plain.ServeHTTP(want, req.Clone(req.Context()))
			rt.ServeHTTP(got, req.Clone(req.Context()))
			if got.Code != want.Code || got.Body.String() != want.Body.String() || got.Header().Get("Location") != want.Header().Get("Location") {
				t.Errorf("%s %s: router %d %q (Location %q), ServeMux %d %q (Location %q)", method, target,
					got.Code, got.Body, got.Header().Get("Location"), want.Code, want.Body, want.Header().Get("Location"))
			}
		}
	}
}
