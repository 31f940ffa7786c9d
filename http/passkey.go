package http

import (
	"encoding/base64"
	"encoding/json"
	"net/http"

	"github.com/latch-dev/latch"
)

// The passkey routes (API.md §8). The begin answers are the WebAuthn
// options as they are, {"publicKey": {...}} with binary members in
// base64url; the finish requests carry the browser's PublicKeyCredential
// (its toJSON form) as "credential".

// passkeyJSON is a passkey as its owner sees it: id is the credential ID in
// base64url, as the browser's credential.id.
type passkeyJSON struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	CreatedAt  string  `json:"created_at"`
	LastUsedAt *string `json:"last_used_at"` // null until first used
}

func passkeyDoc(pk *latch.Passkey) passkeyJSON {
	doc := passkeyJSON{ID: base64.RawURLEncoding.EncodeToString(pk.CredentialID), Name: pk.Name, CreatedAt: rfc3339(pk.CreatedAt)}
	if !pk.LastUsedAt.IsZero() {
		used := rfc3339(pk.LastUsedAt)
		doc.LastUsedAt = &used
	}
	return doc
}

type credentialJSON struct {
	Credential passkeyJSON `json:"credential"`
}

// writeOptions answers a begin step with the WebAuthn options.
func writeOptions(w http.ResponseWriter, options []byte) {
	noStore(w)
	writeJSON(w, 200, json.RawMessage(options))
}

// credentialID reads the {id} of a passkey route; one that is not
// base64url is as unknown as any other.
func credentialID(r *http.Request) ([]byte, error) {
	id, err := base64.RawURLEncoding.DecodeString(r.PathValue("id"))
	if err != nil || len(id) == 0 {
		return nil, latch.ErrNotFound
	}
	return id, nil
}

func (s *Server) beginPasskeyRegistration(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	if !s.decode(w, r, &req, true) {
		return
	}
	p, ok := s.authed(w, r)
	if !ok {
		return
	}
	opts, err := s.Service.BeginPasskeyRegistration(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeOptions(w, opts)
}

func (s *Server) finishPasskeyRegistration(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Credential *json.RawMessage `json:"credential" latch:"required"`
		Name       string           `json:"name"`
	}
	if !s.decode(w, r, &req, false) {
		return
	}
	p, ok := s.authed(w, r)
	if !ok {
		return
	}
	pk, err := s.Service.FinishPasskeyRegistration(r.Context(), p, *req.Credential, req.Name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 201, credentialJSON{Credential: passkeyDoc(pk)})
}

func (s *Server) listPasskeys(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authed(w, r)
	if !ok {
		return
	}
	pks, err := s.Service.Passkeys(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	docs := make([]passkeyJSON, len(pks))
	for i, pk := range pks {
		docs[i] = passkeyDoc(pk)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, 200, struct {
		Credentials []passkeyJSON `json:"credentials"`
	}{docs})
}

func (s *Server) renamePasskey(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name *string `json:"name" latch:"required"`
	}
	if !s.decode(w, r, &req, false) {
		return
	}
	p, ok := s.authed(w, r)
	if !ok {
		return
	}
	id, err := credentialID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pk, err := s.Service.RenamePasskey(r.Context(), p, id, *req.Name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, credentialJSON{Credential: passkeyDoc(pk)})
}

func (s *Server) removePasskey(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Current string `json:"current_password"`
	}
	if !s.decode(w, r, &req, true) {
		return
	}
	p, ok := s.authed(w, r)
	if !ok {
		return
	}
	id, err := credentialID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.Service.RemovePasskey(r.Context(), p, id, req.Current); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(204)
}

func (s *Server) beginPasskeyLogin(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	if !s.decode(w, r, &req, true) {
		return
	}
	opts, err := s.Service.BeginPasskeyLogin(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeOptions(w, opts)
}

func (s *Server) finishPasskeyLogin(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Credential      *json.RawMessage `json:"credential" latch:"required"`
		Mode            string           `json:"mode"`
		RefreshDelivery string           `json:"refresh_delivery"`
	}
	if !s.decode(w, r, &req, false) {
		return
	}
	mode, delivery, err := loginMode(req.Mode, req.RefreshDelivery)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.Service.FinishPasskeyLogin(r.Context(), latch.PasskeyLoginRequest{
		Credential: *req.Credential, Mode: mode, UserAgent: r.UserAgent(), IP: clientIP(r),
		PlantedSecret: cookie(r, s.cookies.session), Carry: delivery,
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeLogin(w, res)
}

func (s *Server) beginMFAPasskey(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Token *string `json:"mfa_token" latch:"required"`
	}
	if !s.decode(w, r, &req, false) {
		return
	}
	opts, err := s.Service.BeginMFAPasskey(r.Context(), *req.Token)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeOptions(w, opts)
}

func (s *Server) finishMFAPasskey(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Token      *string          `json:"mfa_token" latch:"required"`
		Credential *json.RawMessage `json:"credential" latch:"required"`
	}
	if !s.decode(w, r, &req, false) {
		return
	}
	res, err := s.Service.CompleteMFA(r.Context(), latch.MFARequest{Token: *req.Token, Passkey: *req.Credential,
		UserAgent: r.UserAgent(), IP: clientIP(r)})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeLogin(w, res)
}
