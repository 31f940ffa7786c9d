package http

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/web"
)

// The pages of API.md §7: a server-rendered site on the cookie session
// (signup, login, account) and two demos that run in the browser (the SPA
// on tokens, the storage lab). Forms work without JavaScript: a success
// answers 303 (post-redirect-get), a refusal re-renders the form with the
// error in words. Layer one of CSRF (crossOrigin in server.go) covers every
// form post, login and signup included; the account forms also carry the
// session's CSRF token in a hidden field (layer two).

// pageCSP allows nothing but this origin: no inline script or style, no
// eval, no framing, no <base>, forms only to this origin.
const pageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// maxFormBytes bounds a form body, as maxBody bounds JSON (API.md §2).
const maxFormBytes = 64 << 10

// pages renders the templates of package web.
//
// A page's templates are parsed on its first render, and the assets read
// on the first request for one: a server used only through the API never
// holds them. Held, the eleven pages' are 260 KB and 2,900 objects of
// live heap that every garbage collection marks, and below Go's 4 MB
// minimum heap goal every live byte also shortens the run of requests
// between two collections (BENCHMARKS.md).
type pages struct {
	s     *Server
	tmpl  map[string]func() *template.Template
	files func() map[string]staticFile
}

// pageRoutes registers the pages with handle (Handler's registration).
func (s *Server) pageRoutes(handle func(pattern string, rt route, stream bool)) {
	pg := newPages(s)
	handle("/{$}", route{"GET": pg.index}, false)
	handle("/signup", route{"GET": pg.signupForm, "POST": s.audited(pg.signup)}, false)
	handle("/login", route{"GET": pg.loginForm, "POST": s.audited(pg.login)}, false)
	handle("/account", route{"GET": pg.account}, false)
	handle("/account/logout", route{"POST": s.audited(pg.logout)}, false)
	handle("/account/logout-all", route{"POST": s.audited(pg.logoutAll)}, false)
	handle("/account/revoke", route{"POST": s.audited(pg.revoke)}, false)
	handle("/account/password", route{"POST": s.audited(pg.changePassword)}, false)
	handle("/account/email", route{"POST": s.audited(pg.changeEmail)}, false)
	handle("/account/email/verification", route{"POST": s.audited(pg.requestVerification)}, false)
	handle("/account/security", route{"GET": pg.security}, false)
	handle("/account/security/totp", route{"POST": s.audited(pg.totpBegin)}, false)
	handle("/account/security/totp/confirm", route{"POST": s.audited(pg.totpConfirm)}, false)
	handle("/account/security/totp/disable", route{"POST": s.audited(pg.totpDisable)}, false)
	handle("/account/security/recovery-codes", route{"POST": s.audited(pg.recoveryCodes)}, false)
	handle("/account/security/passkeys/remove", route{"POST": s.audited(pg.removePasskey)}, false)
	handle("/forgot", route{"GET": pg.forgotForm, "POST": s.audited(pg.forgot)}, false)
	handle("/reset", route{"GET": pg.resetForm, "POST": s.audited(pg.reset)}, false)
	handle("/verify-email", route{"GET": pg.verifyForm, "POST": s.audited(pg.verify)}, false)
	handle("/demo/spa", route{"GET": pg.spa}, false)
	handle("/demo/storage", route{"GET": pg.storage}, false)
	handle("/static/", route{"GET": pg.static}, false)
}

func newPages(s *Server) *pages {
	pg := &pages{s: s, tmpl: map[string]func() *template.Template{}}
	for _, name := range []string{"index", "signup", "login", "login-mfa", "account", "security", "spa", "storage", "forgot", "reset", "verify-email"} {
		// The templates are embedded: a parse error is a bug the page tests
		// catch (a panic on the page's first render, answered 500).
		pg.tmpl[name] = sync.OnceValue(func() *template.Template {
			return template.Must(template.ParseFS(web.Templates(), "layout.html", name+".html"))
		})
	}
	pg.files = sync.OnceValue(loadStatic)
	return pg
}

// pageData is what every template receives.
type pageData struct {
	Title, Nav string
	Scripts    []string
	Notice     string
	Error      string
	Email      string // the address typed into a refused form
	Next       string // the validated ?next= of the login form
	User       string // the signed-in user's email
	Verified   bool   // whether that address is verified
	CSRF       string // the session's CSRF token, for the hidden fields
	Sessions   []deviceRow
	Token      string // the one-time secret of a reset or verification link, for its hidden field
	// NoReferrer marks a page whose URL carries a one-time secret:
	// Referrer-Policy no-referrer, so that no request it makes leaks it.
	NoReferrer bool
	MFA        *mfaStep      // the second step of a login
	PasskeysOn bool          // passkeys are configured: the login page offers them
	Sec        *securityPage // the security page
	// ReauthNext, when set, is where a "sign in again" link beside the
	// error returns to (a change refused with reauth_required).
	ReauthNext string
}

// securityHeaders are set on every page and static file (API.md §7).
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// render executes a page into a buffer first, so that a template error is
// a clean 500 rather than half a page. private pages (account data, or a
// form echoing what was typed) are no-store.
func (pg *pages) render(w http.ResponseWriter, r *http.Request, status int, name string, private bool, d *pageData) {
	pg.offerPasskeys(name, d)
	var buf bytes.Buffer
	if err := pg.tmpl[name]().ExecuteTemplate(&buf, "layout", d); err != nil {
		pg.s.Logger.Error("page template", "page", name, "err", err)
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	securityHeaders(h)
	if d.NoReferrer {
		h.Set("Referrer-Policy", "no-referrer")
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	if private {
		noStore(w)
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// redirect answers a form post with 303 See Other (post-redirect-get).
func redirect(w http.ResponseWriter, to string) {
	w.Header().Set("Location", to)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusSeeOther)
}

// notices are the messages a redirect can ask the next page to show, by
// key: the query never carries text of its own.
var notices = map[string]string{
	"signed-up":         "Your account is ready. Log in to continue.",
	"signed-out":        "You are logged out.",
	"signed-out-all":    "You are logged out on every device.",
	"password-changed":  "Your password is changed. Every other device has been signed out.",
	"revoked":           "That device has been signed out.",
	"reset-sent":        "If that address has an account, a link to choose a new password is on its way. It works once, for a short time.",
	"password-reset":    "Your password is changed and every device was signed out. Log in with the new password.",
	"email-verified":    "Your email address is confirmed.",
	"totp-on":           "Two-step verification is on. From now on, logins ask for a code from your app.",
	"totp-off":          "Two-step verification is off. Logins need only your password now.",
	"codes-new":         "Here are your new recovery codes. The old ones no longer work.",
	"verification-sent": "A link to confirm your address is on its way. It works once, for a day.",
	"passkey-added":     "Your passkey is added. Use “Sign in with a passkey” on the login page next time.",
	"passkey-removed":   "The passkey is removed. It no longer signs you in.",
	"email-change-sent": "To finish, open the link we sent to the new address. Your old address gets a notice; nothing changes until the link is used.",
}

// errorText says what went wrong in words a person understands.
func errorText(err error) string {
	var re *latch.RequestError
	switch {
	case errors.As(err, &re):
		return re.Detail // a fixed sentence of the domain's
	case errors.Is(err, latch.ErrInvalidCode):
		return "That code is not right, or was already used. Check your app and try again: its codes change every 30 seconds."
	case errors.Is(err, latch.ErrReauthRequired):
		return "For your security, this change needs a recent sign-in. Sign in again, then make the change."
	case errors.Is(err, latch.ErrInvalidCredentials):
		return "That email and password do not match an account. Check both and try again."
	case errors.Is(err, latch.ErrInvalidEmail):
		return "Enter an email address such as name@example.com."
	case errors.Is(err, latch.ErrWeakPassword):
		return "Choose a stronger password: at least 8 characters, not a common password and not your email address."
	case errors.Is(err, latch.ErrEmailTaken):
		return "That email address already has an account. Log in instead, or use another address."
	case errors.Is(err, latch.ErrRateLimited):
		return "Too many attempts in a short time. Wait a minute, then try again."
	case errors.Is(err, latch.ErrAccountDisabled):
		return "This account has been disabled. Ask the administrator to enable it again."
	case errors.Is(err, latch.ErrWrongPassword):
		return "Your current password is not right, so nothing was changed."
	case errors.Is(err, latch.ErrCSRF):
		return "This form has expired, so nothing was changed. Reload the page and try again."
	case errors.Is(err, latch.ErrInvalidToken):
		return "This link has expired or was already used. Ask for a new one."
	case errors.Is(err, latch.ErrEmailUnverified):
		return "Confirm your email address first: we have sent a new link to it."
	case errors.Is(err, latch.ErrNotFound):
		return "That device is already signed out."
	case errors.Is(err, latch.ErrUnavailable):
		return "The service is having trouble right now. Nothing was changed; please try again in a moment."
	case errors.Is(err, latch.ErrInvalidRequest):
		return "The form was incomplete. Fill in every field and try again."
	default:
		return "Something went wrong on our side. Please try again."
	}
}

// fail re-renders a page with err in words and the status of err.
func (pg *pages) fail(w http.ResponseWriter, r *http.Request, name string, d *pageData, err error) {
	p, known := classify(err)
	if !known {
		pg.s.Logger.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	var rl *latch.RateLimitError
	if errors.As(err, &rl) {
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(rl.RetryAfter)))
	}
	d.Error = errorText(err)
	pg.render(w, r, p.status, name, true, d)
}

// parseForm reads a form body of at most maxFormBytes.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return latch.ErrInvalidRequest
	}
	return nil
}

// allowIP applies the per-IP limit of login and signup.
func (pg *pages) allowIP(r *http.Request) error { return pg.allowIPAs("", r) }

// allowIPAs applies the per-IP limit under a key prefix, as limitedAs.
func (pg *pages) allowIPAs(prefix string, r *http.Request) error {
	if pg.s.IPLimiter == nil {
		return nil
	}
	wait, err := pg.s.IPLimiter.Allow(r.Context(), prefix+clientIP(r), pg.s.Now())
	if err != nil {
		return err
	}
	if wait > 0 {
		return &latch.RateLimitError{RetryAfter: wait}
	}
	return nil
}

// safeNext returns v when it is a path on this origin, else "": one leading
// "/", not "//" or "/\" (which browsers read as another host), no scheme,
// host, backslash or control character anywhere. Only such a value is ever
// a redirect target: no open redirect.
func safeNext(v string) string {
	if v == "" || len(v) > 2048 || v[0] != '/' || strings.HasPrefix(v, "//") {
		return ""
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\\' || c < 0x20 || c == 0x7f {
			return ""
		}
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return ""
	}
	return v
}

func (pg *pages) index(w http.ResponseWriter, r *http.Request) {
	pg.render(w, r, 200, "index", false, &pageData{Title: "Sign-in for your apps", Nav: "home"})
}

func (pg *pages) signupForm(w http.ResponseWriter, r *http.Request) {
	pg.render(w, r, 200, "signup", true, &pageData{Title: "Create an account", Nav: "signup"})
}

func (pg *pages) signup(w http.ResponseWriter, r *http.Request) {
	d := &pageData{Title: "Create an account", Nav: "signup"}
	if err := parseForm(w, r); err != nil {
		pg.fail(w, r, "signup", d, err)
		return
	}
	d.Email = r.PostForm.Get("email")
	if err := pg.allowIP(r); err != nil {
		pg.fail(w, r, "signup", d, err)
		return
	}
	if _, err := pg.s.Service.Signup(r.Context(), d.Email, r.PostForm.Get("password")); err != nil {
		pg.fail(w, r, "signup", d, err)
		return
	}
	redirect(w, "/login?notice=signed-up")
}

func (pg *pages) loginForm(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	pg.render(w, r, 200, "login", true, &pageData{Title: "Log in", Nav: "login",
		Notice: notices[q.Get("notice")], Next: safeNext(q.Get("next"))})
}

// login starts a cookie session. It is fixation-safe: the session always
// gets a new secret, and a session cookie sent with the form is destroyed
// (LoginRequest.PlantedSecret). Cross-origin posts never get here
// (crossOrigin), so a foreign page cannot sign the browser in (login CSRF).
func (pg *pages) login(w http.ResponseWriter, r *http.Request) {
	d := &pageData{Title: "Log in", Nav: "login"}
	if err := parseForm(w, r); err != nil {
		pg.fail(w, r, "login", d, err)
		return
	}
	d.Email, d.Next = r.PostForm.Get("email"), safeNext(r.PostForm.Get("next"))
	if err := pg.allowIP(r); err != nil {
		pg.fail(w, r, "login", d, err)
		return
	}
	if r.PostForm.Has("mfa_token") {
		pg.loginSecondStep(w, r, d)
		return
	}
	res, err := pg.s.Service.Login(r.Context(), latch.LoginRequest{
		Email: d.Email, Password: r.PostForm.Get("password"), Mode: latch.KindSession,
		UserAgent: r.UserAgent(), IP: clientIP(r), PlantedSecret: cookie(r, pg.s.cookies.session),
	})
	if err != nil {
		pg.fail(w, r, "login", d, err)
		return
	}
	if res.MFA != nil {
		d.MFA = newMFAStep(res.MFA)
		pg.render(w, r, 200, "login-mfa", true, d)
		return
	}
	pg.loggedIn(w, res, d.Next)
}

// session authenticates a page request by the session cookie alone (pages
// never take a bearer token). Without a live session it redirects to the
// login page, which brings the user back to /account, and returns false.
func (pg *pages) session(w http.ResponseWriter, r *http.Request) (*latch.Principal, bool) {
	return pg.sessionFor(w, r, "/account")
}

// sessionFor is session for a page that the login brings the user back to.
func (pg *pages) sessionFor(w http.ResponseWriter, r *http.Request, back string) (*latch.Principal, bool) {
	secret := cookie(r, pg.s.cookies.session)
	if secret == "" {
		redirect(w, "/login?next="+back)
		return nil, false
	}
	p, err := pg.s.Service.AuthenticateSession(r.Context(), secret)
	if errors.Is(err, latch.ErrUnauthenticated) {
		pg.s.clearSessionCookies(w)
		redirect(w, "/login?next="+back)
		return nil, false
	}
	if err != nil {
		pg.fail(w, r, "login", &pageData{Title: "Log in", Nav: "login"}, err)
		return nil, false
	}
	return p, true
}

// csrfToken is the session's CSRF token for the hidden fields: the value
// of the readable CSRF cookie, when it matches the session (the store keeps
// only its hash, so the cookie is where the page finds it).
func (pg *pages) csrfToken(r *http.Request, p *latch.Principal) string {
	tok := cookie(r, pg.s.cookies.csrf)
	if pg.s.Service.CheckCSRF(p, tok) != nil {
		return ""
	}
	return tok
}

func (pg *pages) account(w http.ResponseWriter, r *http.Request) {
	p, ok := pg.session(w, r)
	if !ok {
		return
	}
	pg.renderAccount(w, r, p, pg.csrfToken(r, p), notices[r.URL.Query().Get("notice")], nil)
}

// renderAccount shows the account page; a non-nil err is shown in words
// with its status.
func (pg *pages) renderAccount(w http.ResponseWriter, r *http.Request, p *latch.Principal, csrf, notice string, err error) {
	d := &pageData{Title: "Your account", Nav: "account", User: p.User.Email, Verified: p.User.EmailVerified, CSRF: csrf, Notice: notice}
	if r.Method == http.MethodPost && r.URL.Path == "/account/email" {
		d.Email = r.PostForm.Get("new_email") // the change form stays open with what was typed
	}
	list, lerr := pg.s.Service.ListSessions(r.Context(), p.User.ID)
	if lerr != nil && err == nil {
		err = lerr
	}
	d.Sessions = deviceRows(list, p.SessionID, pg.s.Now())
	if errors.Is(err, latch.ErrReauthRequired) {
		d.ReauthNext = "/account"
	}
	if err != nil {
		pg.fail(w, r, "account", d, err)
		return
	}
	pg.render(w, r, 200, "account", true, d)
}

// accountForm is the prelude of every account form: a bounded body, a live
// session (else the login page), and the session's CSRF token in the
// hidden field (else the form is refused, 403, and nothing changes).
func (pg *pages) accountForm(w http.ResponseWriter, r *http.Request) (*latch.Principal, bool) {
	if err := parseForm(w, r); err != nil {
		redirect(w, "/account")
		return nil, false
	}
	p, ok := pg.session(w, r)
	if !ok {
		return nil, false
	}
	if err := pg.s.Service.CheckCSRF(p, r.PostForm.Get("csrf")); err != nil {
		pg.renderAccount(w, r, p, pg.csrfToken(r, p), "", err)
		return nil, false
	}
	return p, true
}

func (pg *pages) logout(w http.ResponseWriter, r *http.Request) {
	p, ok := pg.accountForm(w, r)
	if !ok {
		return
	}
	if err := pg.s.Service.Logout(r.Context(), p); err != nil {
		pg.renderAccount(w, r, p, r.PostForm.Get("csrf"), "", err)
		return
	}
	pg.s.clearSessionCookies(w)
	redirect(w, "/login?notice=signed-out")
}

func (pg *pages) logoutAll(w http.ResponseWriter, r *http.Request) {
	p, ok := pg.accountForm(w, r)
	if !ok {
		return
	}
	if err := pg.s.Service.LogoutAll(r.Context(), p.User.ID); err != nil {
		pg.renderAccount(w, r, p, r.PostForm.Get("csrf"), "", err)
		return
	}
	pg.s.clearSessionCookies(w)
	redirect(w, "/login?notice=signed-out-all")
}

func (pg *pages) revoke(w http.ResponseWriter, r *http.Request) {
	p, ok := pg.accountForm(w, r)
	if !ok {
		return
	}
	id := r.PostForm.Get("id")
	if err := pg.s.Service.DeleteSession(r.Context(), p.User.ID, id); err != nil {
		pg.renderAccount(w, r, p, r.PostForm.Get("csrf"), "", err)
		return
	}
	if id == p.SessionID {
		pg.s.clearSessionCookies(w)
		redirect(w, "/login?notice=signed-out")
		return
	}
	redirect(w, "/account?notice=revoked")
}

func (pg *pages) changePassword(w http.ResponseWriter, r *http.Request) {
	p, ok := pg.accountForm(w, r)
	if !ok {
		return
	}
	pc, err := pg.s.Service.ChangePassword(r.Context(), p, r.PostForm.Get("current_password"), r.PostForm.Get("new_password"))
	if err != nil {
		pg.renderAccount(w, r, p, r.PostForm.Get("csrf"), "", err)
		return
	}
	if pc != nil {
		pg.s.setSessionCookies(w, pc.Secret, pc.CSRFToken, p.Session.ExpiresAt)
	}
	redirect(w, "/account?notice=password-changed")
}

func (pg *pages) spa(w http.ResponseWriter, r *http.Request) {
	pg.render(w, r, 200, "spa", false, &pageData{Title: "SPA on tokens", Nav: "spa", Scripts: []string{"/static/spa.js"}})
}

func (pg *pages) storage(w http.ResponseWriter, r *http.Request) {
	pg.render(w, r, 200, "storage", false, &pageData{Title: "Token storage lab", Nav: "storage", Scripts: []string{"/static/storage.js"}})
}

// deviceRow is one session or token family as the account page shows it.
type deviceRow struct {
	ID, Device, Kind, IP, Created, LastSeen string
	Current                                 bool
}

// deviceRows lists the current device first, then the others newest first.
func deviceRows(list []*latch.Session, current string, now time.Time) []deviceRow {
	rows := make([]deviceRow, 0, len(list))
	for _, x := range slices.Backward(list) {
		kind := "Browser session"
		if x.Kind == latch.KindToken {
			kind = "App tokens"
		}
		ip := x.IP
		if ip == "" {
			ip = "unknown address"
		}
		row := deviceRow{ID: x.ID, Device: deviceName(x.UserAgent), Kind: kind, IP: ip,
			Created: x.CreatedAt.UTC().Format("2 Jan 2006, 15:04 UTC"), LastSeen: ago(now.Sub(x.LastSeenAt)),
			Current: x.ID == current}
		if row.Current {
			rows = slices.Insert(rows, 0, row)
		} else {
			rows = append(rows, row)
		}
	}
	return rows
}

// ago says how long ago something happened, as a person would.
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	default:
		return plural(int(d/(24*time.Hour)), "day") + " ago"
	}
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}
