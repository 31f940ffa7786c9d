package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/jose"
)

func tokenCmd(a *app) *cobra.Command {
	return group("token", "inspect access tokens", "  latch token inspect eyJhbGciOi...", tokenInspectCmd(a))
}

// reason is one thing that makes a token invalid, in words.
type reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// inspection is the report of `latch token inspect`.
type inspection struct {
	Header  map[string]any `json:"header,omitempty"`
	Claims  map[string]any `json:"claims,omitempty"`
	Valid   bool           `json:"valid"`
	Reasons []reason       `json:"reasons"`
	Notes   []string       `json:"notes,omitempty"`
}

func (in *inspection) refuse(code, format string, args ...any) {
	in.Reasons = append(in.Reasons, reason{Code: code, Message: fmt.Sprintf(format, args...)})
}

func tokenInspectCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "inspect JWT",
		Short: "decode an access token and say in words why it is or is not valid",
		Long: `Decode an access token's header and claims (without trusting them), then
check it as latch does: the signature against the database's signing keys
(or --hs256-secret), the algorithm, typ, issuer, audience and times, the
durable revocation log (by jti, by session or family, by logout-all) and the
account. Exit status 0 when the token is valid, 1 when it is not, with every
reason: expired at T, revoked by logout at T, unknown key, bad signature,
wrong issuer... Without --issuer the token's own iss is taken as the issuer.`,
		Example: `  latch token inspect "$ACCESS_TOKEN"
  latch token inspect --issuer https://auth.example.com --json "$ACCESS_TOKEN"`,
		Args: args("JWT"),
	}
	asJSON := jsonFlag(c)
	return adminCmd(a, c, func(ctx context.Context, ad *admin, args []string) error {
		in := inspect(ctx, ad, strings.TrimSpace(args[0]), a.sources["issuer"] != fromDefault, time.Now())
		if err := emit(a.stdout, *asJSON, in, func(w io.Writer) error { return in.write(w) }); err != nil {
			return err
		}
		if !in.Valid {
			return errors.New("the token is not valid")
		}
		return nil
	})
}

// inspect decodes and checks token at now. issuerSet says whether
// --issuer was configured (else the token's iss is used).
func inspect(ctx context.Context, ad *admin, token string, issuerSet bool, now time.Time) *inspection {
	in := &inspection{Reasons: []reason{}}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		in.refuse("malformed", "not a JWT: want three base64url segments separated by dots, got %d", len(parts))
		return in
	}
	for i, dst := range []*map[string]any{&in.Header, &in.Claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err == nil {
			d := json.NewDecoder(bytes.NewReader(b))
			d.UseNumber()
			err = d.Decode(dst)
		}
		if err != nil {
			in.refuse("malformed", "the %s is not base64url-encoded JSON", []string{"header", "payload"}[i])
			return in
		}
	}
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	num := func(k string) time.Time {
		n, ok := in.Claims[k].(json.Number)
		if !ok {
			return time.Time{}
		}
		f, err := n.Float64()
		if err != nil {
			return time.Time{}
		}
		return time.Unix(int64(f), 0).UTC()
	}
	kid, iss, sub, jti, sid := str(in.Header, "kid"), str(in.Claims, "iss"), str(in.Claims, "sub"), str(in.Claims, "jti"), str(in.Claims, "sid")
	exp, iat := num("exp"), num("iat")

	issuer := ad.cfg.issuer(ad.cfg.Addr)
	if !issuerSet {
		issuer = strings.TrimSuffix(iss, "/")
		in.Notes = append(in.Notes, "--issuer is not set: the token's own iss is taken as the issuer")
		if issuer == "" {
			issuer = "-" // NewVerifier needs one; the token has none, so it is refused below
		}
	}
	audience := ad.cfg.Audience
	if audience == "" {
		audience = issuer
	}
	v, err := jose.NewVerifier(ad.keys.set, issuer, audience)
	if err != nil {
		in.refuse("config", "cannot build a verifier: %v", err)
		return in
	}
	v.Now = func() time.Time { return now }
	if _, err := v.Verify(ctx, token); err != nil {
		in.explain(err, kid, iss, issuer, audience, exp, now, ad.keys.set.Alg())
	}

	revs, err := ad.st.revs.RevocationsSince(ctx, 0, now, 0)
	if err != nil {
		in.refuse("unavailable", "cannot read the revocation log: %v", err)
	} else {
		in.revocations(revs, jti, sid, sub, iat)
	}
	if sub != "" {
		u, err := ad.st.users.UserByID(ctx, sub)
		switch {
		case errors.Is(err, latch.ErrNotFound):
			in.refuse("no_account", "the account %q no longer exists", sub)
		case err != nil:
			in.refuse("unavailable", "cannot read the account: %v", err)
		case u.Disabled:
			in.refuse("disabled", "the account %s <%s> is disabled", u.ID, u.Email)
		default:
			in.Notes = append(in.Notes, fmt.Sprintf("account %s <%s>, role %s now", u.ID, u.Email, u.Role))
		}
	}
	in.Valid = len(in.Reasons) == 0
	if in.Valid {
		in.Notes = append(in.Notes, fmt.Sprintf("signed by key %s (%s); expires %s", kid, ad.keys.set.Alg(), when(exp, now)))
	}
	return in
}

// explain turns the verifier's refusal into words.
func (in *inspection) explain(err error, kid, iss, issuer, audience string, exp, now time.Time, alg string) {
	switch {
	case errors.Is(err, jose.ErrMalformed):
		in.refuse("malformed", "malformed: %v", err)
	case errors.Is(err, jose.ErrAlgorithm):
		in.refuse("algorithm", "algorithm %q is not the deployment's (%s)", in.Header["alg"], alg)
	case errors.Is(err, jose.ErrHeader):
		in.refuse("header", "the header has a member latch never signs: %v", err)
	case errors.Is(err, jose.ErrTyp):
		in.refuse("typ", "typ %q: not an access token (want at+jwt)", in.Header["typ"])
	case errors.Is(err, jose.ErrKid):
		if strings.Contains(err.Error(), "retired") {
			in.refuse("unknown_key", "key %q was retired longer ago than the access token lifetime", kid)
		} else {
			in.refuse("unknown_key", "unknown key %q: not one of the database's signing keys (another deployment, or deleted)", kid)
		}
	case errors.Is(err, jose.ErrSignature):
		in.refuse("bad_signature", "bad signature: not signed by the private half of key %q (forged or altered)", kid)
	case errors.Is(err, jose.ErrIssuer):
		in.refuse("wrong_issuer", "wrong issuer: the token says %q, this deployment is %q", iss, issuer)
	case errors.Is(err, jose.ErrAudience):
		in.refuse("wrong_audience", "wrong audience: %v is not for %q", in.Claims["aud"], audience)
	case errors.Is(err, jose.ErrExpired):
		in.refuse("expired", "expired %s (leeway %s)", when(exp, now), latch.Leeway)
	case errors.Is(err, jose.ErrNotYetValid):
		in.refuse("not_yet_valid", "not valid yet (nbf in the future)")
	case errors.Is(err, jose.ErrIssuedAt):
		in.refuse("issued_in_future", "issued in the future (iat): a clock is wrong")
	case errors.Is(err, jose.ErrClaims):
		in.refuse("claims", "a required claim is missing or malformed (exp, iat, sub, jti, sid)")
	default:
		in.refuse("invalid", "%v", err)
	}
}

// revocations finds the entries of the log that refuse the token, checked
// against RevocationList, the set every instance consults.
func (in *inspection) revocations(revs []*latch.Revocation, jti, sid, sub string, iat time.Time) {
	var list latch.RevocationList
	list.Add(revs...)
	found := false
	for _, r := range revs {
		at := r.CreatedAt.UTC().Format(time.RFC3339)
		switch {
		case r.Kind == latch.RevokeJTI && jti != "" && r.Value == jti:
			in.refuse("revoked_jti", "revoked by jti at %s (this one token: a bearer logout or RFC 7009 revocation)", at)
		case r.Kind == latch.RevokeSID && sid != "" && r.Value == sid:
			in.refuse("revoked_session", "revoked by logout at %s: its session or refresh family %s was ended (logout, device revoke, admin revoke or refresh-token reuse)", at, sid)
		case r.Kind == latch.RevokeSub && sub != "" && r.Value == sub && iat.Before(r.NotBefore):
			in.refuse("revoked_user", "revoked by logout-all at %s: every token of the user issued before %s", at, r.NotBefore.UTC().Format(time.RFC3339))
		default:
			continue
		}
		found = true
	}
	if list.Revoked(jti, sid, sub, iat) && !found {
		in.refuse("revoked", "revoked (the revocation set refuses it)")
	}
}

// when is a time and how far it is from now, in words.
func when(t, now time.Time) string {
	if t.IsZero() {
		return "at no stated time"
	}
	d := t.Sub(now).Round(time.Second)
	if d < 0 {
		return fmt.Sprintf("at %s (%s ago)", t.Format(time.RFC3339), -d)
	}
	return fmt.Sprintf("at %s (in %s)", t.Format(time.RFC3339), d)
}

func (in *inspection) write(w io.Writer) error {
	for _, part := range []struct {
		name string
		m    map[string]any
	}{{"header", in.Header}, {"claims", in.Claims}} {
		if part.m == nil {
			continue
		}
		b, err := json.Marshal(part.m)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%-8s %s\n", part.name+":", b)
	}
	if in.Valid {
		fmt.Fprintln(w, "valid:   yes")
	} else {
		fmt.Fprintln(w, "valid:   NO")
		for _, r := range in.Reasons {
			fmt.Fprintf(w, "  - %s\n", r.Message)
		}
	}
	for _, n := range in.Notes {
		fmt.Fprintf(w, "note:    %s\n", n)
	}
	return nil
}
