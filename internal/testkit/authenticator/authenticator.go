// Package authenticator is a software WebAuthn authenticator with the
// browser around it, for tests: it answers the options latch's begin
// endpoints return as navigator.credentials.create and .get would, and
// hands back what PublicKeyCredential.toJSON() gives a page's script.
//
// Credentials are P-256 keys (ES256) with "none" attestation; the
// authenticator data carries the rpId hash, the flags UP, UV (unless
// NoUserVerification), AT at registration, and a signature counter that
// moves forward by one on each use. Every field a test may want to bend
// (the origin the "browser" reports, the rp ID the authenticator hashes,
// a credential's counter or user handle) is exported.
package authenticator

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// Errors a browser would raise (InvalidStateError, NotAllowedError).
var (
	ErrExcluded     = errors.New("authenticator: it holds a credential the options exclude")
	ErrNoCredential = errors.New("authenticator: no credential for these options")
)

// Credential is one key pair the authenticator holds.
type Credential struct {
	ID         []byte
	RPID       string
	UserHandle []byte
	Key        *ecdsa.PrivateKey
	// Counter is the signature counter: the next use signs Counter+1.
	Counter uint32
}

// IDString is the credential ID as the browser's credential.id gives it
// (base64url).
func (c *Credential) IDString() string { return b64.EncodeToString(c.ID) }

// Authenticator is a platform authenticator in a browser; safe for
// concurrent use.
type Authenticator struct {
	// Origin is the page's origin, which the browser writes into the
	// client data.
	Origin string
	// RPID, when set, is hashed into the authenticator data instead of
	// the options' rp ID (a phishing proxy's authenticator would do so).
	RPID string
	// NoUserVerification leaves the UV flag clear: presence only.
	NoUserVerification bool
	// OmitUserHandle leaves response.userHandle out of assertions (as
	// some security keys do in a second step).
	OmitUserHandle bool
	// ExtensionResults, when set, is the clientExtensionResults of every
	// answer, requested or not (some clients add outputs unprompted).
	ExtensionResults map[string]any

	mu    sync.Mutex
	creds []*Credential
}

// New returns an authenticator in a browser at origin.
func New(origin string) *Authenticator { return &Authenticator{Origin: origin} }

// Credentials lists what the authenticator holds, oldest first.
func (a *Authenticator) Credentials() []*Credential {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.creds)
}

// Import makes the authenticator hold c too (a copy of a key taken from
// another authenticator, say).
func (a *Authenticator) Import(c *Credential) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.creds = append(a.creds, c)
}

var b64 = base64.RawURLEncoding

// bytesJSON is a base64url member of options.
type bytesJSON []byte

func (b *bytesJSON) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	v, err := b64.DecodeString(s)
	*b = v
	return err
}

type descriptor struct {
	Type string    `json:"type"`
	ID   bytesJSON `json:"id"`
}

type param struct {
	Type string `json:"type"`
	Alg  int    `json:"alg"`
}

type creationOptions struct {
	PublicKey struct {
		RP struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"rp"`
		User struct {
			ID   bytesJSON `json:"id"`
			Name string    `json:"name"`
		} `json:"user"`
		Challenge bytesJSON    `json:"challenge"`
		Params    []param      `json:"pubKeyCredParams"`
		Exclude   []descriptor `json:"excludeCredentials"`
	} `json:"publicKey"`
}

type requestOptions struct {
	PublicKey struct {
		Challenge bytesJSON    `json:"challenge"`
		RPID      string       `json:"rpId"`
		Allow     []descriptor `json:"allowCredentials"`
	} `json:"publicKey"`
}

// clientData is the browser's CollectedClientData, serialised in the
// order browsers use.
func (a *Authenticator) clientData(typ string, challenge []byte) []byte {
	cd, _ := json.Marshal(struct {
		Type        string `json:"type"`
		Challenge   string `json:"challenge"`
		Origin      string `json:"origin"`
		CrossOrigin bool   `json:"crossOrigin"`
	}{typ, b64.EncodeToString(challenge), a.Origin, false})
	return cd
}

// Flags of the authenticator data.
const (
	flagUP = 0x01
	flagUV = 0x04
	flagAT = 0x40
)

func (a *Authenticator) authData(rpID string, flags byte, counter uint32) []byte {
	if a.RPID != "" {
		rpID = a.RPID
	}
	h := sha256.Sum256([]byte(rpID))
	if !a.NoUserVerification {
		flags |= flagUV
	}
	d := append(h[:], flags|flagUP)
	return binary.BigEndian.AppendUint32(d, counter)
}

// coseKey is an EC2 P-256 public key in COSE (RFC 9053): kty 2, alg -7,
// crv 1, x, y.
func coseKey(k *ecdsa.PublicKey) ([]byte, error) {
	raw, err := k.Bytes() // 0x04 | x | y
	if err != nil {
		return nil, err
	}
	return cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: raw[1:33], -3: raw[33:65]})
}

// Create answers creation options as navigator.credentials.create does:
// a new discoverable credential for the options' user, "none" attestation.
// ErrExcluded when it holds a credential the options exclude.
func (a *Authenticator) Create(options []byte) ([]byte, error) { return a.create(options, nil) }

func (a *Authenticator) create(options []byte, reuse *Credential) ([]byte, error) {
	var o creationOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, fmt.Errorf("authenticator: creation options: %w", err)
	}
	pk := o.PublicKey
	if len(pk.Challenge) == 0 || pk.RP.ID == "" || len(pk.User.ID) == 0 {
		return nil, errors.New("authenticator: creation options lack a challenge, rp.id or user.id")
	}
	if !slices.Contains(pk.Params, param{"public-key", -7}) {
		return nil, errors.New("authenticator: ES256 is not among pubKeyCredParams")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c := reuse
	if c == nil {
		for _, c := range a.creds {
			for _, x := range pk.Exclude {
				if c.RPID == pk.RP.ID && slices.Equal(c.ID, x.ID) {
					return nil, ErrExcluded
				}
			}
		}
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		c = &Credential{ID: make([]byte, 16), RPID: pk.RP.ID, UserHandle: slices.Clone(pk.User.ID), Key: key}
		if _, err := rand.Read(c.ID); err != nil {
			return nil, err
		}
		a.creds = append(a.creds, c)
	}
	key := c.Key
	cose, err := coseKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	auth := a.authData(pk.RP.ID, flagAT, c.Counter)
	auth = append(auth, make([]byte, 16)...) // AAGUID: none
	auth = binary.BigEndian.AppendUint16(auth, uint16(len(c.ID)))
	auth = append(auth, c.ID...)
	auth = append(auth, cose...)
	att, err := cbor.Marshal(struct {
		Fmt      string         `cbor:"fmt"`
		AttStmt  map[string]any `cbor:"attStmt"`
		AuthData []byte         `cbor:"authData"`
	}{"none", map[string]any{}, auth})
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(c.ID), "rawId": b64.EncodeToString(c.ID), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": a.extensionResults(),
		"response": map[string]any{
			"clientDataJSON":     b64.EncodeToString(a.clientData("webauthn.create", pk.Challenge)),
			"attestationObject":  b64.EncodeToString(att),
			"authenticatorData":  b64.EncodeToString(auth),
			"publicKey":          b64.EncodeToString(der),
			"publicKeyAlgorithm": -7,
			"transports":         []string{"internal", "hybrid"},
		},
	})
}

// CreateFor answers creation options with c, a credential the
// authenticator holds already, whatever they exclude: a client that
// ignores excludeCredentials.
func (a *Authenticator) CreateFor(options []byte, c *Credential) ([]byte, error) {
	return a.create(options, c)
}

func (a *Authenticator) extensionResults() map[string]any {
	if a.ExtensionResults == nil {
		return map[string]any{}
	}
	return a.ExtensionResults
}

// Get answers request options as navigator.credentials.get does: with the
// first credential it holds that the options allow, or, when they allow
// any (a discoverable login), the newest it holds for the rp ID.
// ErrNoCredential when it has none of them.
func (a *Authenticator) Get(options []byte) ([]byte, error) {
	var o requestOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, fmt.Errorf("authenticator: request options: %w", err)
	}
	a.mu.Lock()
	var pick *Credential
	for i := len(a.creds) - 1; i >= 0; i-- {
		c := a.creds[i]
		if c.RPID != o.PublicKey.RPID {
			continue
		}
		if len(o.PublicKey.Allow) == 0 || slices.ContainsFunc(o.PublicKey.Allow, func(d descriptor) bool { return slices.Equal(d.ID, c.ID) }) {
			pick = c
		}
		if pick != nil && len(o.PublicKey.Allow) == 0 {
			break
		}
	}
	a.mu.Unlock()
	if pick == nil {
		return nil, ErrNoCredential
	}
	return a.GetWith(options, pick)
}

// GetWith answers request options with c, whatever the options allow.
func (a *Authenticator) GetWith(options []byte, c *Credential) ([]byte, error) {
	var o requestOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, fmt.Errorf("authenticator: request options: %w", err)
	}
	if len(o.PublicKey.Challenge) == 0 {
		return nil, errors.New("authenticator: request options lack a challenge")
	}
	a.mu.Lock()
	c.Counter++
	auth := a.authData(c.RPID, 0, c.Counter)
	a.mu.Unlock()
	cd := a.clientData("webauthn.get", o.PublicKey.Challenge)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(slices.Clone(auth), h[:]...)) // ES256 signs the SHA-256 of authData ‖ hash(clientData)
	sig, err := ecdsa.SignASN1(rand.Reader, c.Key, digest[:])
	if err != nil {
		return nil, err
	}
	resp := map[string]any{
		"clientDataJSON":    b64.EncodeToString(cd),
		"authenticatorData": b64.EncodeToString(auth),
		"signature":         b64.EncodeToString(sig),
	}
	if !a.OmitUserHandle {
		resp["userHandle"] = b64.EncodeToString(c.UserHandle)
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(c.ID), "rawId": b64.EncodeToString(c.ID), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": a.extensionResults(),
		"response": resp,
	})
}
