package jose

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/latch-dev/latch"
)

// maxNumericDate is the largest exp, iat or nbf accepted: the end of year
// 9999, beyond which time.Time no longer round-trips through JSON.
const maxNumericDate = 253402300799

// claims is what Verify hands golang-jwt to decode the payload into.
// golang-jwt decodes the payload before it checks the signature; claims
// only keeps a copy then, and decodes it on first use, which is in
// golang-jwt's validator, after the signature verified. So nothing an
// unsigned payload says is even parsed, and a payload of the wrong shape is
// refused for what it is (ErrClaims, ErrIssuer, ErrAudience) only once we
// know we signed it.
type claims struct {
	raw     []byte
	decoded bool
	err     error // from decoding raw: a *verifyError
	p       payload
}

// payload is the claims as JSON. NumericDates are *float64, never
// json.Number, which would take "exp":"1700000000" for a number.
type payload struct {
	Iss  string   `json:"iss"`
	Sub  string   `json:"sub"`
	Aud  claimAud `json:"aud"`
	Exp  *float64 `json:"exp"`
	Iat  *float64 `json:"iat"`
	Nbf  *float64 `json:"nbf"`
	Jti  string   `json:"jti"`
	Sid  string   `json:"sid"`
	Role string   `json:"role"`
	AMR  []string `json:"amr"`
	// AuthTime is optional: tokens from before latch carried it lack it.
	AuthTime *float64 `json:"auth_time"`
}

var (
	_ jwt.ClaimsValidator = (*claims)(nil)
	_ json.Unmarshaler    = (*claims)(nil)
)

// UnmarshalJSON implements json.Unmarshaler: it keeps a copy of the payload
// for later (see claims). A payload that is not a JSON object is malformed
// whoever signed it.
func (c *claims) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || b[0] != '{' {
		return errors.New("payload is not a JSON object")
	}
	c.raw = bytes.Clone(b)
	return nil
}

// decode parses the payload once.
func (c *claims) decode() {
	if c.decoded {
		return
	}
	c.decoded = true
	if c.raw == nil {
		return // "null": every claim is missing
	}
	if err := json.Unmarshal(c.raw, &c.p); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field == "iss" {
			c.err = refuse(ErrIssuer, "not a string")
		} else {
			c.err = refuse(ErrClaims, "wrong JSON type")
		}
	}
}

// GetExpirationTime implements jwt.Claims.
func (c *claims) GetExpirationTime() (*jwt.NumericDate, error) {
	c.decode()
	return numericDate(c.p.Exp), nil
}

// GetIssuedAt implements jwt.Claims.
func (c *claims) GetIssuedAt() (*jwt.NumericDate, error) {
	c.decode()
	return numericDate(c.p.Iat), nil
}

// GetNotBefore implements jwt.Claims.
func (c *claims) GetNotBefore() (*jwt.NumericDate, error) {
	c.decode()
	return numericDate(c.p.Nbf), nil
}

// GetIssuer implements jwt.Claims.
func (c *claims) GetIssuer() (string, error) {
	c.decode()
	return c.p.Iss, nil
}

// GetSubject implements jwt.Claims.
func (c *claims) GetSubject() (string, error) {
	c.decode()
	return c.p.Sub, nil
}

// GetAudience implements jwt.Claims.
func (c *claims) GetAudience() (jwt.ClaimStrings, error) {
	c.decode()
	return c.p.Aud.v, nil
}

// Validate implements jwt.ClaimsValidator: golang-jwt calls it after the
// signature verified, next to its own time, issuer and audience checks, and
// Verify reports its error first.
func (c *claims) Validate() error {
	c.decode()
	p := &c.p
	switch {
	case c.err != nil:
		return c.err
	case !validDate(p.Exp):
		return refuse(ErrClaims, "exp")
	case !validDate(p.Iat):
		return refuse(ErrClaims, "iat")
	case p.Nbf != nil && !validDate(p.Nbf):
		return refuse(ErrClaims, "nbf")
	case p.AuthTime != nil && !validDate(p.AuthTime):
		return refuse(ErrClaims, "auth_time")
	case p.Sub == "":
		return refuse(ErrClaims, "sub")
	case p.Jti == "":
		return refuse(ErrClaims, "jti")
	case p.Sid == "":
		return refuse(ErrClaims, "sid")
	case p.Iss == "":
		return refuse(ErrIssuer, "missing")
	case p.Aud.bad || len(p.Aud.v) == 0:
		return refuse(ErrAudience, "missing or not strings")
	}
	return nil
}

// accessClaims converts verified claims to the domain type.
func (c *claims) accessClaims() *latch.AccessClaims {
	p := &c.p
	out := &latch.AccessClaims{
		Issuer:    p.Iss,
		Subject:   p.Sub,
		Audience:  p.Aud.v,
		ExpiresAt: toTime(p.Exp),
		IssuedAt:  toTime(p.Iat),
		ID:        p.Jti,
		SessionID: p.Sid,
		Role:      p.Role,
		AMR:       p.AMR,
	}
	if p.AuthTime != nil {
		out.AuthTime = toTime(p.AuthTime)
	}
	if p.Nbf != nil {
		out.NotBefore = toTime(p.Nbf)
	}
	return out
}

// validDate reports whether a NumericDate is present and sane: not
// negative, not past year 9999 (1e300 would overflow int64 seconds).
func validDate(f *float64) bool {
	return f != nil && *f >= 0 && *f <= maxNumericDate
}

func toTime(f *float64) time.Time {
	sec, frac := math.Modf(*f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

// numericDate gives golang-jwt's validator a date only when it is valid;
// an invalid one is reported by Validate.
func numericDate(f *float64) *jwt.NumericDate {
	if !validDate(f) {
		return nil
	}
	return &jwt.NumericDate{Time: toTime(f)}
}

// claimAud is the aud claim: one string or an array of strings (RFC 7519
// §4.1.3). It records a wrong type instead of failing, so that an aud of
// the wrong type is refused as ErrAudience, not as a generic type error.
type claimAud struct {
	v   []string
	bad bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (a *claimAud) UnmarshalJSON(b []byte) error {
	*a = claimAud{} // a repeated member replaces, as encoding/json does
	switch {
	case len(b) > 0 && b[0] == '"':
		var s string
		if json.Unmarshal(b, &s) != nil {
			a.bad = true
			return nil
		}
		a.v = []string{s}
	case len(b) > 0 && b[0] == '[':
		if json.Unmarshal(b, &a.v) != nil {
			*a = claimAud{bad: true}
		}
	default:
		a.bad = true
	}
	return nil
}
