package http

import "net/http"

// statusJSON is the body of /healthz.
type statusJSON struct {
	Status string `json:"status"`
}

// readyJSON is the body of /readyz: the overall status and each check's.
type readyJSON struct {
	Checks map[string]string `json:"checks"`
	Status string            `json:"status"`
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, statusJSON{Status: "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	checks := map[string]string{}
	status, code := "ok", 200
	for _, c := range s.Checks {
		if err := c.Check(r.Context()); err != nil {
			checks[c.Name] = "down"
			if c.Optional {
				if status == "ok" {
					status = "degraded"
				}
			} else {
				status, code = "unavailable", 503
			}
			continue
		}
		checks[c.Name] = "ok"
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, code, readyJSON{Checks: checks, Status: status})
}
