package http

import "net/http"

// The account page's email forms (API.md §8): a confirmation link for the
// current address, and a change of address confirmed from the new one.

func (pg *pages) requestVerification(w http.ResponseWriter, r *http.Request) {
	p, ok := pg.accountForm(w, r)
	if !ok {
		return
	}
	if err := pg.s.Service.RequestVerification(r.Context(), p); err != nil {
		pg.renderAccount(w, r, p, r.PostForm.Get("csrf"), "", err)
		return
	}
	redirect(w, "/account?notice=verification-sent")
}

func (pg *pages) changeEmail(w http.ResponseWriter, r *http.Request) {
	p, ok := pg.accountForm(w, r)
	if !ok {
		return
	}
	err := pg.s.Service.ChangeEmail(r.Context(), p, r.PostForm.Get("new_email"), r.PostForm.Get("current_password"))
	if err != nil {
		pg.renderAccount(w, r, p, r.PostForm.Get("csrf"), "", err)
		return
	}
	redirect(w, "/account?notice=email-change-sent")
}
