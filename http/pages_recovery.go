package http

import (
	"errors"
	"net/http"

	"github.com/latch-dev/latch"
)

// The pages of API.md §8 that need no second factor: /forgot, /reset and
// /verify-email. A GET of a link only shows a form with the link's secret
// in a hidden field, so mail scanners that follow links spend nothing;
// the POST spends it. Those pages answer Referrer-Policy: no-referrer.

func (pg *pages) forgotForm(w http.ResponseWriter, r *http.Request) {
	pg.render(w, r, 200, "forgot", true, &pageData{Title: "Forgot your password?", Nav: "login",
		Notice: notices[r.URL.Query().Get("notice")]})
}

// forgot answers every plausible address the same way: a redirect to the
// same notice (post-redirect-get).
func (pg *pages) forgot(w http.ResponseWriter, r *http.Request) {
	d := &pageData{Title: "Forgot your password?", Nav: "login"}
	if err := parseForm(w, r); err != nil {
		pg.fail(w, r, "forgot", d, err)
		return
	}
	d.Email = r.PostForm.Get("email")
	if err := pg.allowIPAs("recovery:", r); err != nil {
		pg.fail(w, r, "forgot", d, err)
		return
	}
	if err := pg.s.Service.ForgotPassword(r.Context(), d.Email); err != nil {
		pg.fail(w, r, "forgot", d, err)
		return
	}
	redirect(w, "/forgot?notice=reset-sent")
}

func (pg *pages) resetForm(w http.ResponseWriter, r *http.Request) {
	d := &pageData{Title: "Choose a new password", Nav: "login", Token: r.URL.Query().Get("token"), NoReferrer: true}
	if d.Token == "" || len(d.Token) > 256 {
		d.Token, d.Error = "", "This link is incomplete. Open the whole link from the email, or ask for a new one."
	}
	pg.render(w, r, 200, "reset", true, d)
}

// reset spends the link and sends the person to the login page: a reset
// never logs anyone in.
func (pg *pages) reset(w http.ResponseWriter, r *http.Request) {
	d := &pageData{Title: "Choose a new password", Nav: "login", NoReferrer: true}
	if err := parseForm(w, r); err != nil {
		pg.fail(w, r, "reset", d, err)
		return
	}
	d.Token = r.PostForm.Get("token")
	if err := pg.allowIPAs("recovery:", r); err != nil {
		pg.fail(w, r, "reset", d, err)
		return
	}
	if err := pg.s.Service.ResetPassword(r.Context(), d.Token, r.PostForm.Get("new_password")); err != nil {
		if errors.Is(err, latch.ErrInvalidToken) {
			d.Token = "" // a dead link: no form, only the way to a new one
		}
		pg.fail(w, r, "reset", d, err)
		return
	}
	redirect(w, "/login?notice=password-reset")
}

func (pg *pages) verifyForm(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := &pageData{Title: "Confirm your email address", Nav: "account", Token: q.Get("token"), NoReferrer: true,
		Notice: notices[q.Get("notice")]}
	if len(d.Token) > 256 {
		d.Token = ""
	}
	if d.Token == "" && d.Notice == "" {
		d.Error = "This link is incomplete. Open the whole link from the email."
	}
	pg.render(w, r, 200, "verify-email", true, d)
}

func (pg *pages) verify(w http.ResponseWriter, r *http.Request) {
	d := &pageData{Title: "Confirm your email address", Nav: "account", NoReferrer: true}
	if err := parseForm(w, r); err != nil {
		pg.fail(w, r, "verify-email", d, err)
		return
	}
	if err := pg.allowIPAs("recovery:", r); err != nil {
		pg.fail(w, r, "verify-email", d, err)
		return
	}
	if err := pg.s.Service.VerifyEmail(r.Context(), r.PostForm.Get("token")); err != nil {
		pg.fail(w, r, "verify-email", d, err)
		return
	}
	redirect(w, "/verify-email?notice=email-verified")
}
