// Package webauthn runs the passkey ceremonies of latch.WebAuthn with
// github.com/go-webauthn/webauthn: the options a browser's
// navigator.credentials.create and .get take, and the verification of what
// it answers (client data, rpId hash, flags, attestation, signature,
// counter).
//
// One RelyingParty serves one relying party ID (--webauthn-rp-id) and the
// exact origins latch's pages run on (--webauthn-origins). New refuses what
// no browser would accept: an IP address or a name with a scheme or port
// as the ID, an origin that is neither https nor http on localhost, an
// origin whose host is not the ID or below it. Registration asks for a
// discoverable credential (resident key required), user verification
// preferred and no attestation; the user handle is the account's ID.
//
// A Passkey's Data is the library's credential record as JSON (public key,
// flags, transports, authenticator); ceremony state is its SessionData as
// JSON. Neither holds a secret: a leaked database lets nobody sign.
package webauthn

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	gowebauthn "github.com/go-webauthn/webauthn/webauthn"

	"github.com/latch-dev/latch"
)

var _ latch.WebAuthn = (*RelyingParty)(nil)

// Config describes the relying party.
type Config struct {
	// RPID is the relying party ID: a host name without scheme or port,
	// the host of every origin or a parent domain of it. Required.
	RPID string
	// RPName is the name some authenticators show. Default: RPID.
	RPName string
	// Origins are the exact origins (scheme://host[:port]) the browser
	// runs the ceremonies on: https, or http on localhost. Required.
	Origins []string
	// Timeout is how long the browser waits for the person. Default:
	// latch.PasskeyCeremonyTTL, the life of the ceremony on the server.
	Timeout time.Duration
}

// RelyingParty implements latch.WebAuthn.
type RelyingParty struct {
	wa      *gowebauthn.WebAuthn
	rpID    string
	origins []string
}

// New checks cfg and returns the relying party. Its errors name the
// setting at fault (RPID, Origins) and say what a browser would accept.
func New(cfg Config) (*RelyingParty, error) {
	rpID := strings.ToLower(strings.TrimSpace(cfg.RPID))
	if rpID == "" {
		return nil, errors.New("RPID is required")
	}
	if err := protocol.ValidateRPID(rpID); err != nil {
		return nil, fmt.Errorf("RPID %q: %v (want a host name such as example.com: no scheme, port or IP address)", cfg.RPID, err)
	}
	if strings.HasPrefix(rpID, ".") || strings.HasSuffix(rpID, ".") || strings.Contains(rpID, "..") {
		return nil, fmt.Errorf("RPID %q: want a host name such as example.com", cfg.RPID)
	}
	if len(cfg.Origins) == 0 {
		return nil, errors.New("Origins: at least one origin is required")
	}
	origins := make([]string, 0, len(cfg.Origins))
	for _, o := range cfg.Origins {
		norm, err := checkOrigin(o, rpID)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(origins, norm) {
			origins = append(origins, norm)
		}
	}
	if cfg.RPName == "" {
		cfg.RPName = rpID
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = latch.PasskeyCeremonyTTL
	}
	timeouts := gowebauthn.TimeoutConfig{Timeout: cfg.Timeout, TimeoutUVD: cfg.Timeout}
	wa, err := gowebauthn.New(&gowebauthn.Config{
		RPID: rpID, RPDisplayName: cfg.RPName, RPOrigins: origins,
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification:   protocol.VerificationPreferred,
		},
		// The ceremony's life is the AccountToken's, on the Service's clock.
		Timeouts: gowebauthn.TimeoutsConfig{Login: timeouts, Registration: timeouts},
		// latch asks for no extension and reads no output; one a browser or
		// password manager adds unprompted (credProps, say: the
		// specification lets clients, w3c/webauthn#1289) must not fail a
		// login.
		ExtensionsUnsolicitedOutputPolicy: protocol.UnsolicitedOutputPolicyIgnore,
	})
	if err != nil {
		return nil, fmt.Errorf("webauthn: %w", err)
	}
	return &RelyingParty{wa: wa, rpID: rpID, origins: origins}, nil
}

// RPID is the relying party ID in force.
func (rp *RelyingParty) RPID() string { return rp.rpID }

// Origins are the origins in force, normalised.
func (rp *RelyingParty) Origins() []string { return slices.Clone(rp.origins) }

// checkOrigin normalises one origin and checks that a browser could run a
// ceremony of rpID on it.
func checkOrigin(o, rpID string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(o))
	if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("Origins: %q: want scheme://host[:port] and nothing more", o)
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname())
	switch {
	case scheme == "https":
	case scheme == "http" && (host == "localhost" || strings.HasSuffix(host, ".localhost")):
	case scheme == "http":
		return "", fmt.Errorf("Origins: %q: browsers allow WebAuthn over plain http only on localhost; use https", o)
	default:
		return "", fmt.Errorf("Origins: %q: want an https:// origin", o)
	}
	if host != rpID && !strings.HasSuffix(host, "."+rpID) {
		return "", fmt.Errorf("Origins: %q is not on the relying party %q: the host must be the RPID or a subdomain of it", o, rpID)
	}
	return scheme + "://" + strings.ToLower(u.Host), nil
}

// user is a latch account as the library sees it.
type user struct {
	id    []byte
	name  string
	creds []gowebauthn.Credential
}

func (u *user) WebAuthnID() []byte                           { return u.id }
func (u *user) WebAuthnName() string                         { return u.name }
func (u *user) WebAuthnDisplayName() string                  { return u.name }
func (u *user) WebAuthnCredentials() []gowebauthn.Credential { return u.creds }

// credential decodes a passkey's record; the store's counter wins over the
// one inside the record.
func credential(pk *latch.Passkey) (*gowebauthn.Credential, error) {
	var c gowebauthn.Credential
	if err := json.Unmarshal(pk.Data, &c); err != nil {
		return nil, fmt.Errorf("webauthn: a stored passkey record does not decode: %w", err)
	}
	if !bytes.Equal(c.ID, pk.CredentialID) {
		return nil, errors.New("webauthn: a stored passkey record is not its credential's")
	}
	c.Authenticator.SignCount = pk.SignCount
	return &c, nil
}

// ceremony packs the first step's answer.
func ceremony(options any, session *gowebauthn.SessionData) (*latch.WebAuthnCeremony, error) {
	opts, err := json.Marshal(options)
	if err != nil {
		return nil, fmt.Errorf("webauthn: encoding options: %w", err)
	}
	state, err := json.Marshal(session)
	if err != nil {
		return nil, fmt.Errorf("webauthn: encoding state: %w", err)
	}
	return &latch.WebAuthnCeremony{Options: opts, State: state, Challenge: session.Challenge}, nil
}

// session decodes a ceremony's state.
func session(state []byte) (gowebauthn.SessionData, error) {
	var s gowebauthn.SessionData
	if err := json.Unmarshal(state, &s); err != nil {
		return s, fmt.Errorf("webauthn: a ceremony's state does not decode: %w", err)
	}
	return s, nil
}

// refused is a response that does not verify: ErrInvalidPasskey, with the
// library's reason for the log.
func refused(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return fmt.Errorf("%w: %s: %s", latch.ErrInvalidPasskey, pe.Details, pe.DevInfo)
	}
	return fmt.Errorf("%w: %v", latch.ErrInvalidPasskey, err)
}

// BeginRegistration implements latch.WebAuthn.
func (rp *RelyingParty) BeginRegistration(u *latch.User, exclude []*latch.Passkey) (*latch.WebAuthnCeremony, error) {
	excl := make([]protocol.CredentialDescriptor, 0, len(exclude))
	for _, pk := range exclude {
		c, err := credential(pk)
		if err != nil {
			return nil, err
		}
		excl = append(excl, c.Descriptor())
	}
	creation, s, err := rp.wa.BeginRegistration(&user{id: []byte(u.ID), name: u.Email}, gowebauthn.WithExclusions(excl))
	if err != nil {
		return nil, fmt.Errorf("webauthn: %w", err)
	}
	return ceremony(creation, s)
}

// FinishRegistration implements latch.WebAuthn.
func (rp *RelyingParty) FinishRegistration(state []byte, u *latch.User, r *latch.WebAuthnResponse) (*latch.Passkey, error) {
	s, err := session(state)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(r.Raw)
	if err != nil {
		return nil, refused(err)
	}
	c, err := rp.wa.CreateCredential(&user{id: []byte(u.ID), name: u.Email}, s, parsed)
	if err != nil {
		return nil, refused(err)
	}
	data, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("webauthn: encoding a credential: %w", err)
	}
	return &latch.Passkey{CredentialID: c.ID, Data: data, SignCount: c.Authenticator.SignCount}, nil
}

// requestOptions are the library's assertion options with allowCredentials
// always present: an empty list says "any passkey of this site" as plainly
// as an absent one, and scripts need not test for it.
type requestOptions struct {
	protocol.PublicKeyCredentialRequestOptions
	AllowedCredentials []protocol.CredentialDescriptor `json:"allowCredentials"`
}

// BeginLogin implements latch.WebAuthn.
func (rp *RelyingParty) BeginLogin(allow []*latch.Passkey) (*latch.WebAuthnCeremony, error) {
	var (
		a   *protocol.CredentialAssertion
		s   *gowebauthn.SessionData
		err error
	)
	if len(allow) == 0 {
		a, s, err = rp.wa.BeginDiscoverableLogin()
	} else {
		u := &user{id: []byte(allow[0].UserID)}
		for _, pk := range allow {
			c, err := credential(pk)
			if err != nil {
				return nil, err
			}
			if pk.UserID != allow[0].UserID {
				return nil, errors.New("webauthn: the passkeys of one login belong to one account")
			}
			u.creds = append(u.creds, *c)
		}
		a, s, err = rp.wa.BeginLogin(u)
	}
	if err != nil {
		return nil, fmt.Errorf("webauthn: %w", err)
	}
	opts := struct {
		PublicKey requestOptions `json:"publicKey"`
	}{requestOptions{a.Response, a.Response.AllowedCredentials}}
	if opts.PublicKey.AllowedCredentials == nil {
		opts.PublicKey.AllowedCredentials = []protocol.CredentialDescriptor{}
	}
	return ceremony(opts, s)
}

// FinishLogin implements latch.WebAuthn.
func (rp *RelyingParty) FinishLogin(state []byte, r *latch.WebAuthnResponse, pk *latch.Passkey) (*latch.PasskeyUse, error) {
	s, err := session(state)
	if err != nil {
		return nil, err
	}
	c, err := credential(pk)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(r.Raw)
	if err != nil {
		return nil, refused(err)
	}
	if !bytes.Equal(parsed.RawID, pk.CredentialID) {
		return nil, refused(errors.New("the assertion is by another credential than the passkey given"))
	}
	u := &user{id: []byte(pk.UserID), creds: []gowebauthn.Credential{*c}}
	var got *gowebauthn.Credential
	if len(s.UserID) == 0 {
		// Passwordless: the user handle must be the passkey's account.
		_, got, err = rp.wa.ValidatePasskeyLogin(func(rawID, userHandle []byte) (gowebauthn.User, error) {
			if !bytes.Equal(rawID, pk.CredentialID) || !bytes.Equal(userHandle, u.id) {
				return nil, errors.New("the user handle is not the passkey's account")
			}
			return u, nil
		}, s, parsed)
	} else {
		// The second step of a login (WebAuthn §7.2 step 1): the
		// credential must be one the options allowed; the library would
		// also want every allowed one in u, which the caller has looked
		// up as the account's already.
		if !slices.ContainsFunc(s.AllowedCredentialIDs, func(id []byte) bool { return bytes.Equal(id, pk.CredentialID) }) {
			return nil, refused(errors.New("the credential is not one the ceremony allowed"))
		}
		s.AllowedCredentialIDs = nil
		got, err = rp.wa.ValidateLogin(u, s, parsed)
	}
	if err != nil {
		return nil, refused(err)
	}
	up := *pk
	up.SignCount = got.Authenticator.SignCount
	if up.Data, err = json.Marshal(got); err != nil {
		return nil, fmt.Errorf("webauthn: encoding a credential: %w", err)
	}
	return &latch.PasskeyUse{Passkey: &up, UserVerified: parsed.Response.AuthenticatorData.Flags.HasUserVerified(),
		CloneWarning: got.Authenticator.CloneWarning}, nil
}

// ReadResponse implements latch.WebAuthn.
func (rp *RelyingParty) ReadResponse(response []byte) (*latch.WebAuthnResponse, error) {
	var peek struct {
		RawID    protocol.URLEncodedBase64 `json:"rawId"`
		Response struct {
			ClientDataJSON protocol.URLEncodedBase64 `json:"clientDataJSON"`
			UserHandle     protocol.URLEncodedBase64 `json:"userHandle"`
		} `json:"response"`
	}
	notOne := &latch.RequestError{Detail: "credential is not a WebAuthn response (the JSON of a PublicKeyCredential)."}
	if err := json.Unmarshal(response, &peek); err != nil || len(peek.RawID) == 0 {
		return nil, notOne
	}
	var cd protocol.CollectedClientData
	if err := json.Unmarshal(peek.Response.ClientDataJSON, &cd); err != nil || cd.Challenge == "" {
		return nil, notOne
	}
	return &latch.WebAuthnResponse{Challenge: cd.Challenge, CredentialID: peek.RawID,
		UserHandle: peek.Response.UserHandle, Raw: response}, nil
}
