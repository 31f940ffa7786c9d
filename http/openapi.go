package http

import (
	"net/http"
	"strconv"

	"github.com/latch-dev/latch/docs"
)

// openapi serves docs/openapi.yaml, the description of every route.
func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	b := docs.OpenAPI()
	h := w.Header()
	h.Set("Content-Type", "application/yaml")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(200)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

// Routes lists the patterns Handler registers, each with the methods it
// serves (HEAD aside: every GET route answers it), for the test that holds
// docs/openapi.yaml to the router. Call it after Handler.
func (s *Server) Routes() map[string][]string {
	out := make(map[string][]string, len(s.routes))
	for p, ms := range s.routes {
		out[p] = append([]string(nil), ms...)
	}
	return out
}
