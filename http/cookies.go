package http

import (
	"net/http"
	"net/textproto"
	"strings"
	"time"
)

// cookieNames are the cookie names and the Secure flag (API.md §3).
type cookieNames struct {
	session, csrf, refresh string
	secure                 bool
}

func newCookieNames(secure bool) cookieNames {
	if !secure {
		return cookieNames{session: "latch_session", csrf: "latch_csrf", refresh: "latch_refresh"}
	}
	return cookieNames{session: "__Host-latch_session", csrf: "__Host-latch_csrf", refresh: "__Secure-latch_refresh", secure: true}
}

// refreshPath scopes the refresh cookie to the token endpoints.
const refreshPath = "/v1/token"

// setSessionCookies sets the session and CSRF cookies, alive no longer than
// the session's absolute deadline.
func (s *Server) setSessionCookies(w http.ResponseWriter, secret, csrf string, expires time.Time) {
	age := maxAge(expires, s.Now())
	http.SetCookie(w, &http.Cookie{Name: s.cookies.session, Value: secret, Path: "/", MaxAge: age,
		HttpOnly: true, Secure: s.cookies.secure, SameSite: http.SameSiteLaxMode})
	// Readable by scripts on purpose: the page sends it back as X-CSRF-Token.
	http.SetCookie(w, &http.Cookie{Name: s.cookies.csrf, Value: csrf, Path: "/", MaxAge: age,
		Secure: s.cookies.secure, SameSite: http.SameSiteLaxMode})
}

func (s *Server) setRefreshCookie(w http.ResponseWriter, token string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{Name: s.cookies.refresh, Value: token, Path: refreshPath, MaxAge: maxAge(expires, s.Now()),
		HttpOnly: true, Secure: s.cookies.secure, SameSite: http.SameSiteStrictMode})
}

func (s *Server) clearSessionCookies(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: s.cookies.session, Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.cookies.secure, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: s.cookies.csrf, Path: "/", MaxAge: -1,
		Secure: s.cookies.secure, SameSite: http.SameSiteLaxMode})
}

func (s *Server) clearRefreshCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: s.cookies.refresh, Path: refreshPath, MaxAge: -1,
		HttpOnly: true, Secure: s.cookies.secure, SameSite: http.SameSiteStrictMode})
}

// maxAge is the whole seconds until t, at least 1 (0 would mean a session cookie
// with no lifetime attribute; -1 deletes).
func maxAge(t, now time.Time) int {
	return max(int(t.Sub(now)/time.Second), 1)
}

// cookie returns the value of the first cookie called name, or "" when
// there is none or its value is not a valid cookie value (as net/http
// reads it). It does what r.Cookie does without building every
// cookie of the request: it runs on every cookie-authenticated request.
func cookie(r *http.Request, name string) string {
	for _, line := range r.Header["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			// As net/http reads a pair: ASCII white space trimmed
			// (strings.TrimSpace would also drop U+00A0 and find a cookie
			// net/http and the proxies in front say is not there), around
			// the name too, and a bare name is that cookie with an empty
			// value, not one to skip for a later one (FuzzCookie).
			k, v, _ := strings.Cut(textproto.TrimString(part), "=")
			if textproto.TrimString(k) != name {
				continue
			}
			if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			if !validCookieValue(v) {
				return ""
			}
			return v
		}
	}
	return ""
}

// validCookieValue reports whether v holds only bytes net/http accepts in
// a cookie value (it is more lenient than RFC 6265: spaces and commas pass).
func validCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == ';' || c == '\\' {
			return false
		}
	}
	return true
}
