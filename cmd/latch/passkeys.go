package main

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/latch-dev/latch/webauthn"
)

// relyingParty builds the passkey relying party (API.md §8) from
// --webauthn-rp-id and --webauthn-origins; what they leave out is derived:
// the origin from --public-url, else the issuer (its scheme://host[:port]),
// the ID from the first origin's host name.
//
// Values given on the command line that no browser would accept are an
// error naming the flags (Config.validate checks them before anything
// starts, with the issuer as far as it is known). Derived values that would not
// work turn passkeys off and say why (off), since nothing asked for them:
// the default issuer, http://127.0.0.1:8080, is an IP address, which no
// relying party ID may be, and plain http works only on localhost.
func relyingParty(cfg *Config, issuer string) (rp *webauthn.RelyingParty, off string, err error) {
	base := cfg.PublicURL
	if base == "" {
		base = issuer
	}
	var origins []string
	for _, o := range strings.Split(cfg.WebAuthnOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	if len(origins) == 0 {
		u, err := url.Parse(base)
		if err != nil || u.Host == "" {
			return nil, fmt.Sprintf("%q has no origin to derive from", base), nil
		}
		origins = []string{u.Scheme + "://" + u.Host}
	}
	rpID := cfg.WebAuthnRPID
	if rpID == "" {
		if u, err := url.Parse(origins[0]); err == nil {
			rpID = u.Hostname()
		}
	}
	rp, err = webauthn.New(webauthn.Config{RPID: rpID, Origins: origins})
	switch {
	case err == nil:
		return rp, "", nil
	case cfg.WebAuthnRPID != "" || cfg.WebAuthnOrigins != "":
		return nil, "", fmt.Errorf("--webauthn-rp-id %q, --webauthn-origins %q: %v", rpID, strings.Join(origins, ","), err)
	default:
		return nil, fmt.Sprintf("derived from %s: %v", base, err), nil
	}
}
