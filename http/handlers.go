package http

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/latch-dev/latch"
)

// writeJSON answers with a JSON document.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// noStore marks a response that carries a credential.
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

type userJSON struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	Role      string `json:"role"`
	CreatedAt string `json:"created_at"`
}

func userDoc(u *latch.User) userJSON {
	return userJSON{ID: u.ID, Email: u.Email, Role: u.Role, CreatedAt: rfc3339(u.CreatedAt)}
}

// ---- authentication ----

// errBearer marks a failed bearer token, answered with an RFC 6750 challenge.
type errBearer struct{ err error }

func (e errBearer) Error() string { return e.err.Error() }
func (e errBearer) Unwrap() error { return e.err }

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	vs := r.Header["Authorization"] // what Header.Get does, less the canonicalization of a canonical key
	if len(vs) == 0 {
		return "", false
	}
	h := vs[0]
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// principal authenticates a request: the Authorization header alone decides
// when present (an invalid bearer is never a fallback to the cookie);
// otherwise the session cookie. Query parameters are never read.
func (s *Server) principal(r *http.Request) (*latch.Principal, error) {
	if _, present := r.Header["Authorization"]; present {
		tok, ok := bearerToken(r)
		if !ok {
			return nil, errBearer{latch.ErrUnauthenticated}
		}
		p, err := s.Service.AuthenticateToken(r.Context(), tok)
		if err != nil {
			return nil, errBearer{err}
		}
		return p, nil
	}
	secret := cookie(r, s.cookies.session)
	if secret == "" {
		return nil, latch.ErrUnauthenticated
	}
	return s.Service.AuthenticateSession(r.Context(), secret)
}

// authed wraps a handler that needs a caller; state changes made with the
// session cookie must also carry the session's CSRF token (layer two).
func (s *Server) authed(w http.ResponseWriter, r *http.Request) (*latch.Principal, bool) {
	p, err := s.principal(r)
	if err != nil {
		s.authError(w, r, err)
		return nil, false
	}
	if !safeMethod(r.Method) {
		if err := s.Service.CheckCSRF(p, r.Header.Get("X-CSRF-Token")); err != nil {
			s.writeError(w, r, err)
			return nil, false
		}
	}
	return p, true
}

func (s *Server) authError(w http.ResponseWriter, r *http.Request, err error) {
	var be errBearer
	if errors.As(err, &be) && errors.Is(err, latch.ErrUnauthenticated) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	s.writeError(w, r, err)
}

// ---- health ----

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]string{"status": "ok"})
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
	writeJSON(w, code, map[string]any{"status": status, "checks": checks})
}

// ---- signup and login ----

func (s *Server) signup(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Email    *string `json:"email" latch:"required"`
		Password *string `json:"password" latch:"required"`
	}
	if !s.decode(w, r, &req, false) {
		return
	}
	u, err := s.Service.Signup(r.Context(), *req.Email, *req.Password)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 201, map[string]any{"user": userDoc(u)})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Email           *string `json:"email" latch:"required"`
		Password        *string `json:"password" latch:"required"`
		Mode            string  `json:"mode"`
		RefreshDelivery string  `json:"refresh_delivery"`
	}
	if !s.decode(w, r, &req, false) {
		return
	}
	mode := latch.KindSession
	switch req.Mode {
	case "", "session":
	case "token":
		mode = latch.KindToken
	default:
		s.writeError(w, r, badRequest(`mode must be "session" or "token"`))
		return
	}
	delivery := req.RefreshDelivery
	switch delivery {
	case "":
		delivery = "cookie"
	case "cookie", "body":
	default:
		s.writeError(w, r, badRequest(`refresh_delivery must be "cookie" or "body"`))
		return
	}
	res, err := s.Service.Login(r.Context(), latch.LoginRequest{
		Email: *req.Email, Password: *req.Password, Mode: mode,
		UserAgent: r.UserAgent(), IP: clientIP(r), PlantedSecret: cookie(r, s.cookies.session),
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	noStore(w)
	if mode == latch.KindSession {
		s.setSessionCookies(w, res.Secret, res.CSRFToken, res.Session.ExpiresAt)
		writeJSON(w, 200, map[string]any{
			"user": userDoc(res.User),
			"session": map[string]string{"id": res.Session.ID, "expires_at": rfc3339(res.Session.ExpiresAt),
				"idle_expires_at": rfc3339(res.Session.IdleExpiresAt)},
			"csrf_token": res.CSRFToken,
		})
		return
	}
	s.writeTokens(w, res.User, res.Access, res.Secret, res.Session, delivery == "cookie")
}

// writeTokens answers a token login or refresh.
func (s *Server) writeTokens(w http.ResponseWriter, u *latch.User, at *latch.IssuedToken, refresh string, fam *latch.Session, cookie bool) {
	noStore(w)
	doc := map[string]any{
		"access_token": at.Token, "token_type": "Bearer",
		"expires_in": int(at.Claims.ExpiresAt.Sub(s.Now()).Round(time.Second) / time.Second),
		"user":       userDoc(u),
	}
	if cookie {
		s.setRefreshCookie(w, refresh, fam.Deadline())
	} else {
		doc["refresh_token"] = refresh
	}
	writeJSON(w, 200, doc)
}

// ---- the caller's own sessions ----

func (s *Server) whoami(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authed(w, r)
	if !ok {
		return
	}
	// The hot path of every authenticated page: the body is appended by
	// hand (a third of the CPU of encoding/json here) and the header values
	// are shared slices, so a request allocates little.
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	b := append((*bp)[:0], `{"user":{"id":`...)
	b = appendJSONString(b, p.User.ID)
	b = append(b, `,"email":`...)
	b = appendJSONString(b, p.User.Email)
	b = append(b, `,"role":`...)
	b = appendJSONString(b, p.User.Role)
	b = append(b, `},"auth":{"method":`...)
	b = appendJSONString(b, string(p.Method))
	b = append(b, `,"session_id":`...)
	b = appendJSONString(b, p.SessionID)
	b = append(b, `,"expires_at":"`...)
	b = appendTimestamp(b, p.ExpiresAt)
	b = append(b, "\"}}\n"...)
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	h["Cache-Control"] = cacheNoStore
	w.WriteHeader(200)
	_, _ = w.Write(b) // copied into the connection's buffer: b may be reused
	*bp = b
}

// Header values shared by every response that sets them (never modified).
var (
	contentTypeJSON = []string{"application/json"}
	cacheNoStore    = []string{"no-store"}
)

// appendTimestamp appends t as RFC 3339 in UTC to the second, the form of
// the whoami body, by the formatter's fast path (AppendFormat first parses
// its layout).
func appendTimestamp(b []byte, t time.Time) []byte {
	t = t.UTC().Truncate(time.Second)
	if out, err := t.AppendText(b); err == nil {
		return out
	}
	return t.AppendFormat(b, time.RFC3339) // years outside 0-9999
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as encoding/json does; the HTML characters need no escaping in
// application/json. Runs of bytes that need no escape are copied whole.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0 // s[start:i] is pending, to be copied as it is
	for i := 0; i < len(s); {
		i += plainPrefix(s[i:])
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			if c == '"' || c == '\\' {
				b = append(b, '\\', c)
			} else {
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			if r == utf8.RuneError {
				b = append(b, "\ufffd"...)
			} else { // valid JSON, but not in JavaScript strings
				b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			}
			start = i + size
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// plainPrefix returns how many leading bytes of s are ASCII that a JSON
// string holds unescaped (not a control character, '"' or '\\'), testing
// eight bytes at a time while it can: ids and emails are all such bytes.
func plainPrefix(s string) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		b := s[i : i+8]
		w := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		quote, backslash := w^(ones*'"'), w^(ones*'\\')
		// A byte's high bit is set in w for non-ASCII, in the others for
		// a byte below 0x20, a '"', a '\\' (exact whenever w has none of
		// the first kind).
		if (w|(w-ones*0x20)&^w|(quote-ones)&^quote|(backslash-ones)&^backslash)&highs != 0 {
			break
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			break
		}
	}
	return i
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if !s.decode(w, r, &struct{}{}, true) {
		return
	}
	p, ok := s.authed(w, r)
	if !ok {
		return
	}
	if err := s.Service.Logout(r.Context(), p); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.clearOwnCookies(w, p)
	w.WriteHeader(204)
}

// clearOwnCookies clears the cookies of the caller's kind of credential. A
// browser never sends the refresh cookie (Path=/v1/token) here, so it is
// cleared unasked.
func (s *Server) clearOwnCookies(w http.ResponseWriter, p *latch.Principal) {
	if p.Method == latch.KindSession {
		s.clearSessionCookies(w)
	} else {
		s.clearRefreshCookie(w)
	}
}

func (s *Server) logoutAll(w http.ResponseWriter, r *http.Request) {
	if !s.decode(w, r, &struct{}{}, true) {
		return
	}
	p, ok := s.authed(w, r)
	if !ok {
		return
	}
	if err := s.Service.LogoutAll(r.Context(), p.User.ID); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.clearOwnCookies(w, p)
	w.WriteHeader(204)
}

type sessionJSON struct {
	ID         string `json:"id"`
	Method     string `json:"method"`
	CreatedAt  string `json:"created_at"`
	LastSeenAt string `json:"last_seen_at"`
	ExpiresAt  string `json:"expires_at"`
	UserAgent  string `json:"user_agent"`
	IP         string `json:"ip"`
	Current    bool   `json:"current"`
}

func sessionsDoc(list []*latch.Session, current string) map[string]any {
	out := make([]sessionJSON, 0, len(list))
	for _, x := range list {
		out = append(out, sessionJSON{ID: x.ID, Method: string(x.Kind), CreatedAt: rfc3339(x.CreatedAt),
			LastSeenAt: rfc3339(x.LastSeenAt), ExpiresAt: rfc3339(x.Deadline()), UserAgent: x.UserAgent,
			IP: x.IP, Current: x.ID == current})
	}
	return map[string]any{"sessions": out}
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authed(w, r)
	if !ok {
		return
	}
	list, err := s.Service.ListSessions(r.Context(), p.User.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, 200, sessionsDoc(list, p.SessionID))
}

func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authed(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if err := s.Service.DeleteSession(r.Context(), p.User.ID, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	if id == p.SessionID {
		s.clearOwnCookies(w, p)
	}
	w.WriteHeader(204)
}

func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Current *string `json:"current_password" latch:"required"`
		New     *string `json:"new_password" latch:"required"`
	}
	if !s.decode(w, r, &req, false) {
		return
	}
	p, ok := s.authed(w, r)
	if !ok {
		return
	}
	pc, err := s.Service.ChangePassword(r.Context(), p, *req.Current, *req.New)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if pc != nil {
		noStore(w)
		s.setSessionCookies(w, pc.Secret, pc.CSRFToken, p.Session.ExpiresAt)
	}
	w.WriteHeader(204)
}

// ---- tokens ----

func (s *Server) refresh(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RefreshToken *string `json:"refresh_token"`
	}
	if !s.decode(w, r, &req, true) {
		return
	}
	token, fromCookie := "", false
	if req.RefreshToken != nil {
		token = *req.RefreshToken
	} else {
		token, fromCookie = cookie(r, s.cookies.refresh), true
	}
	res, err := s.Service.Refresh(r.Context(), token)
	if err != nil {
		if fromCookie && (errors.Is(err, latch.ErrInvalidRefreshToken) || errors.Is(err, latch.ErrRefreshReused)) {
			s.clearRefreshCookie(w)
		}
		s.writeError(w, r, err)
		return
	}
	s.writeTokens(w, res.User, res.Access, res.Refresh, res.Family, fromCookie)
}

func (s *Server) exchange(w http.ResponseWriter, r *http.Request) {
	if !s.decode(w, r, &struct{}{}, true) {
		return
	}
	p, ok := s.authed(w, r)
	if !ok {
		return
	}
	at, err := s.Service.Exchange(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	noStore(w)
	writeJSON(w, 200, map[string]any{"access_token": at.Token, "token_type": "Bearer",
		"expires_in": int(at.Claims.ExpiresAt.Sub(s.Now()).Round(time.Second) / time.Second)})
}

// ---- admin ----

func (s *Server) adminSessions(w http.ResponseWriter, r *http.Request) {
	list, err := s.Service.AdminSessions(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, 200, sessionsDoc(list, ""))
}

func (s *Server) adminRevoke(w http.ResponseWriter, r *http.Request) {
	if !s.decode(w, r, &struct{}{}, true) {
		return
	}
	if err := s.Service.AdminRevoke(r.Context(), r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(204)
}

func (s *Server) adminRole(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Role *string `json:"role" latch:"required"`
	}
	if !s.decode(w, r, &req, false) {
		return
	}
	if err := s.Service.SetRole(r.Context(), r.PathValue("id"), *req.Role); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(204)
}

func (s *Server) adminDisable(disabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.decode(w, r, &struct{}{}, true) {
			return
		}
		if err := s.Service.SetDisabled(r.Context(), r.PathValue("id"), disabled); err != nil {
			s.writeError(w, r, err)
			return
		}
		w.WriteHeader(204)
	}
}
