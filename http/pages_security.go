package http

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/totp"
)

// The second-factor pages of API.md §8: the second step of /login and
// /account/security. They work without JavaScript, as the other pages do.

// mfaStep is the second step of a login as the login page shows it.
type mfaStep struct {
	Token                   string
	TOTP, Recovery, Passkey bool
}

// totpSetup is an authenticator being added, as the security page shows it.
type totpSetup struct {
	Secret, URL string
	Grouped     string        // Secret in groups of four, as people type it (apps ignore the spaces)
	QR          template.HTML // SVG drawn by totp.QRCodeSVG from the URL's modules only
}

// securityPage is what the security page shows beyond pageData's basics.
type securityPage struct {
	Security      *latch.Security
	Setup         *totpSetup
	RecoveryCodes []string
	SignedIn      string // when this session's login happened, as a person reads it
	Methods       string // how it authenticated, in words
	ReauthBy      string // when sensitive changes start to need a new login
	ReauthWindow  string
	Passkeys      []passkeyRow
}

// passkeyRow is a passkey as the security page lists it.
type passkeyRow struct {
	ID, Name, Created, LastUsed string
}

func newMFAStep(ch *latch.MFAChallenge) *mfaStep {
	st := &mfaStep{Token: ch.Token}
	for _, m := range ch.Methods {
		switch m {
		case latch.MethodTOTP:
			st.TOTP = true
		case latch.MethodRecoveryCode:
			st.Recovery = true
		case latch.MethodWebAuthn:
			st.Passkey = true
		}
	}
	return st
}

// loginSecondStep checks the code of a login's second step, posted to
// /login with the mfa_token in a hidden field. A wrong code shows the step
// again; a dead mfa_token sends the person back to the start.
func (pg *pages) loginSecondStep(w http.ResponseWriter, r *http.Request, d *pageData) {
	token := r.PostForm.Get("mfa_token")
	req := latch.MFARequest{Token: token, UserAgent: r.UserAgent(), IP: clientIP(r)}
	if code := strings.TrimSpace(r.PostForm.Get("totp")); code != "" {
		req.TOTP = code
	} else {
		req.RecoveryCode = strings.TrimSpace(r.PostForm.Get("recovery_code"))
	}
	if req.TOTP == "" && req.RecoveryCode == "" {
		d.MFA = pg.stepAgain(r, token)
		d.Error = "Enter the code from your authenticator app, or a recovery code."
		pg.render(w, r, 400, "login-mfa", true, d)
		return
	}
	res, err := pg.s.Service.CompleteMFA(r.Context(), req)
	switch {
	case errors.Is(err, latch.ErrInvalidToken):
		d.Error = "This sign-in took too long or had too many wrong codes. Start again with your password."
		pg.render(w, r, 400, "login", true, d)
		return
	case err != nil:
		d.MFA = pg.stepAgain(r, token)
		pg.fail(w, r, "login-mfa", d, err)
		return
	}
	pg.loggedIn(w, res, d.Next)
}

// stepAgain is the second step shown again after a refused code, offering
// what the first showed (the form says which fields it had).
func (pg *pages) stepAgain(r *http.Request, token string) *mfaStep {
	return &mfaStep{Token: token, TOTP: r.PostForm.Has("totp"), Recovery: r.PostForm.Has("recovery_code") || !r.PostForm.Has("totp"),
		Passkey: r.PostForm.Get("passkey") == "1"}
}

// loggedIn sets the session cookies of a completed login and sends the
// person on.
func (pg *pages) loggedIn(w http.ResponseWriter, res *latch.LoginResult, next string) {
	pg.s.setSessionCookies(w, res.Secret, res.CSRFToken, res.Session.ExpiresAt)
	if next == "" {
		next = "/account"
	}
	redirect(w, next)
}

func (pg *pages) security(w http.ResponseWriter, r *http.Request) {
	p, ok := pg.sessionFor(w, r, "/account/security")
	if !ok {
		return
	}
	pg.renderSecurity(w, r, p, pg.csrfToken(r, p), notices[r.URL.Query().Get("notice")], &securityPage{}, nil)
}

// renderSecurity shows the security page; a non-nil err is shown in words
// with its status.
func (pg *pages) renderSecurity(w http.ResponseWriter, r *http.Request, p *latch.Principal, csrf, notice string, sp *securityPage, err error) {
	d := &pageData{Title: "Security", Nav: "account", User: p.User.Email, CSRF: csrf, Notice: notice, Sec: sp}
	sec, serr := pg.s.Service.Security(r.Context(), p)
	if serr != nil {
		sec = &latch.Security{}
		if err == nil {
			err = serr
		}
	}
	sp.Security = sec
	for _, pk := range sec.Passkeys {
		row := passkeyRow{ID: base64.RawURLEncoding.EncodeToString(pk.CredentialID), Name: pk.Name,
			Created: pk.CreatedAt.UTC().Format("2 Jan 2006")}
		if !pk.LastUsedAt.IsZero() {
			row.LastUsed = ago(pg.s.Now().Sub(pk.LastUsedAt))
		}
		sp.Passkeys = append(sp.Passkeys, row)
	}
	sp.SignedIn, sp.Methods = ago(pg.s.Now().Sub(sec.AuthTime)), methodWords(sec.AMR)
	if !sec.ReauthBy.IsZero() {
		sp.ReauthBy = sec.ReauthBy.UTC().Format("15:04 UTC")
		sp.ReauthWindow = plainDuration(sec.ReauthBy.Sub(sec.AuthTime))
	}
	if err != nil {
		if errors.Is(err, latch.ErrReauthRequired) {
			d.ReauthNext = "/account/security"
		}
		pg.fail(w, r, "security", d, err)
		return
	}
	pg.render(w, r, 200, "security", true, d)
}

// securityForm is accountForm for the security page's forms.
func (pg *pages) securityForm(w http.ResponseWriter, r *http.Request) (*latch.Principal, bool) {
	if err := parseForm(w, r); err != nil {
		redirect(w, "/account/security")
		return nil, false
	}
	p, ok := pg.sessionFor(w, r, "/account/security")
	if !ok {
		return nil, false
	}
	if err := pg.s.Service.CheckCSRF(p, r.PostForm.Get("csrf")); err != nil {
		pg.renderSecurity(w, r, p, pg.csrfToken(r, p), "", &securityPage{}, err)
		return nil, false
	}
	return p, true
}

func (pg *pages) totpBegin(w http.ResponseWriter, r *http.Request) {
	p, ok := pg.securityForm(w, r)
	if !ok {
		return
	}
	csrf := r.PostForm.Get("csrf")
	setup, err := pg.s.Service.BeginTOTP(r.Context(), p, r.PostForm.Get("current_password"))
	if err != nil {
		pg.renderSecurity(w, r, p, csrf, "", &securityPage{}, err)
		return
	}
	sp := &securityPage{}
	sp.Setup, err = newTOTPSetup(setup.URL, setup.Secret)
	pg.renderSecurity(w, r, p, csrf, "", sp, err)
}

// newTOTPSetup draws the QR code of an otpauth:// URL.
func newTOTPSetup(url, secret string) (*totpSetup, error) {
	svg, err := totp.QRCodeSVG(url)
	if err != nil {
		return nil, err
	}
	// The SVG holds nothing of url but the modules: safe as markup.
	return &totpSetup{Secret: secret, Grouped: grouped(secret), URL: url, QR: template.HTML(svg)}, nil
}

// grouped splits a key into groups of four characters.
func grouped(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// setupFromForm is the setup the confirm form carried back, to show again
// after a wrong code: only a plausible otpauth URL, whose secret it shows.
func setupFromForm(r *http.Request) *totpSetup {
	u := r.PostForm.Get("otpauth_url")
	if !strings.HasPrefix(u, "otpauth://totp/") || len(u) > 512 {
		return nil
	}
	secret := ""
	if i := strings.Index(u, "secret="); i >= 0 {
		secret, _, _ = strings.Cut(u[i+len("secret="):], "&")
	}
	s, err := newTOTPSetup(u, secret)
	if err != nil {
		return nil
	}
	return s
}

func (pg *pages) totpConfirm(w http.ResponseWriter, r *http.Request) {
	p, ok := pg.securityForm(w, r)
	if !ok {
		return
	}
	csrf := r.PostForm.Get("csrf")
	codes, err := pg.s.Service.ConfirmTOTP(r.Context(), p, r.PostForm.Get("code"))
	if err != nil {
		pg.renderSecurity(w, r, p, csrf, "", &securityPage{Setup: setupFromForm(r)}, err)
		return
	}
	// The codes are shown on this answer only (no redirect): they are not
	// kept anywhere a later request could read them.
	pg.renderSecurity(w, r, p, csrf, notices["totp-on"], &securityPage{RecoveryCodes: codes}, nil)
}

func (pg *pages) totpDisable(w http.ResponseWriter, r *http.Request) {
	p, ok := pg.securityForm(w, r)
	if !ok {
		return
	}
	if err := pg.s.Service.DisableTOTP(r.Context(), p, r.PostForm.Get("current_password"), r.PostForm.Get("code")); err != nil {
		pg.renderSecurity(w, r, p, r.PostForm.Get("csrf"), "", &securityPage{}, err)
		return
	}
	redirect(w, "/account/security?notice=totp-off")
}

func (pg *pages) removePasskey(w http.ResponseWriter, r *http.Request) {
	p, ok := pg.securityForm(w, r)
	if !ok {
		return
	}
	id, err := base64.RawURLEncoding.DecodeString(r.PostForm.Get("id"))
	if err == nil {
		err = pg.s.Service.RemovePasskey(r.Context(), p, id, r.PostForm.Get("current_password"))
	} else {
		err = latch.ErrNotFound
	}
	if errors.Is(err, latch.ErrNotFound) {
		err = &latch.RequestError{Detail: "That passkey is not on your account: it may be removed already."}
	}
	if err != nil {
		pg.renderSecurity(w, r, p, r.PostForm.Get("csrf"), "", &securityPage{}, err)
		return
	}
	redirect(w, "/account/security?notice=passkey-removed")
}

func (pg *pages) recoveryCodes(w http.ResponseWriter, r *http.Request) {
	p, ok := pg.securityForm(w, r)
	if !ok {
		return
	}
	csrf := r.PostForm.Get("csrf")
	codes, err := pg.s.Service.NewRecoveryCodes(r.Context(), p, r.PostForm.Get("current_password"))
	if err != nil {
		pg.renderSecurity(w, r, p, csrf, "", &securityPage{}, err)
		return
	}
	pg.renderSecurity(w, r, p, csrf, notices["codes-new"], &securityPage{RecoveryCodes: codes}, nil)
}

// methodWords says how a login authenticated, from its amr.
func methodWords(amr []string) string {
	has := func(m string) bool {
		for _, x := range amr {
			if x == m {
				return true
			}
		}
		return false
	}
	var parts []string
	if has(latch.AMRPassword) {
		parts = append(parts, "your password")
	}
	if has(latch.AMROTP) {
		parts = append(parts, "a one-time code")
	}
	if has(latch.AMRHardwareKey) {
		parts = append(parts, "a passkey")
	}
	switch len(parts) {
	case 0:
		return "an earlier version of latch"
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// plainDuration says a whole number of minutes or hours as a person would.
func plainDuration(d time.Duration) string {
	if d >= time.Hour && d%time.Hour == 0 {
		return plural(int(d/time.Hour), "hour")
	}
	return plural(int(d.Round(time.Minute)/time.Minute), "minute")
}

// offerPasskeys adds the passkey buttons' script to the pages that have
// them, when passkeys are configured: the login page ("Sign in with a
// passkey"), the second step of an account with a passkey, and the
// security page.
func (pg *pages) offerPasskeys(name string, d *pageData) {
	if !pg.s.Service.PasskeysEnabled() {
		return
	}
	switch {
	case name == "login", name == "security", name == "login-mfa" && d.MFA != nil && d.MFA.Passkey:
		d.PasskeysOn = true
		d.Scripts = append(d.Scripts, "/static/passkeys.js")
	}
}
