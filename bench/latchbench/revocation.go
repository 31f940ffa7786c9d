package latchbench

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/latch-dev/latch/verify"
)

// refuseTimeout bounds the wait for one refusal.
const refuseTimeout = 5 * time.Second

// place is somewhere a revoked credential must be refused; refused polls it
// once.
type place struct {
	name    string
	refused func(ctx context.Context) (bool, error)
	skipped string
}

// revocationRows measures logout → refused, for a session (mode
// "session") or an access token ("token"), on the same instance, on every
// other instance, and (tokens, with --client) at a verifier following the
// first instance's revocation stream. Each round logs in afresh, checks
// every place accepts the credential, logs out on the first instance and
// polls every place at once until it refuses.
func (r *runner) revocationRows(ctx context.Context, mode string) []Delay {
	base := r.opts.URLs[0]
	var v *verify.Verifier
	verifierSkip := ""
	switch {
	case mode == "session":
		verifierSkip = "a session cookie is not for resource servers (they verify tokens)"
	case r.opts.Client == "":
		verifierSkip = "needs --client ID:SECRET (the revocation stream)"
	default:
		id, secret, _ := strings.Cut(r.opts.Client, ":")
		opts := []verify.Option{verify.WithClient(id, secret), verify.WithLogger(slog.New(slog.DiscardHandler))}
		// The verifier is made for the issuer (the iss of the tokens); when
		// that is not the URL measured (a deployment behind a proxy, or
		// several instances sharing one issuer), its requests go to the URL.
		iss, err := r.issuer(ctx, base)
		if err == nil && iss != base {
			opts = append(opts, verify.WithHTTPClient(&http.Client{Transport: rewrite{from: iss, to: base}}))
		}
		if err == nil {
			v, err = verify.New(ctx, iss, opts...)
		}
		if err != nil {
			verifierSkip = fmt.Sprintf("verify.New: %v", err)
		} else {
			defer v.Close()
		}
	}
	var (
		hdr  http.Header
		cred func() (http.Header, string, error) // a fresh credential: its header, and the token for the verifier
	)
	rounds := r.opts.Rounds
	u := r.users[len(r.users)-1]
	if mode == "session" {
		cred = func() (http.Header, string, error) {
			s, err := r.c.loginSession(ctx, base, u)
			if err != nil {
				return nil, "", err
			}
			return http.Header{"Cookie": {s.cookieHeader}, "X-Csrf-Token": {s.csrf}}, "", nil
		}
	} else {
		cred = func() (http.Header, string, error) {
			t, err := r.c.loginToken(ctx, base, u)
			if err != nil {
				return nil, "", err
			}
			return http.Header{"Authorization": {"Bearer " + t.access}}, t.access, nil
		}
	}
	var tok string
	httpPlace := func(name, url string) place {
		return place{name: name, refused: func(ctx context.Context) (bool, error) {
			st, err := r.c.status(ctx, url+"/v1/whoami", hdr)
			switch {
			case err != nil:
				return false, err
			case st == http.StatusUnauthorized:
				return true, nil
			case st == http.StatusOK:
				return false, nil
			}
			return false, fmt.Errorf("whoami on %s: status %d", url, st)
		}}
	}
	places := []place{httpPlace("same instance", base)}
	for i, url := range r.opts.URLs[1:] {
		places = append(places, httpPlace(fmt.Sprintf("instance %d (another)", i+2), url))
	}
	if len(r.opts.URLs) == 1 {
		places = append(places, place{name: "another instance", skipped: "needs a second --url"})
	}
	vp := place{name: "verifier following the stream", skipped: verifierSkip}
	if v != nil {
		vp.refused = func(ctx context.Context) (bool, error) {
			_, err := v.Verify(ctx, tok)
			return err != nil, nil
		}
	}
	places = append(places, vp)

	took := make([][]time.Duration, len(places))
	errs := make([]string, len(places))
	for range rounds {
		var err error
		if hdr, tok, err = cred(); err != nil {
			errs[0] = err.Error()
			break
		}
		// Every place accepts the credential first.
		for i, p := range places {
			if p.refused == nil || errs[i] != "" {
				continue
			}
			if err := waitAccepted(ctx, p); err != nil {
				errs[i] = err.Error()
			}
		}
		logout := http.Header{}
		for k, vs := range hdr {
			logout[k] = vs
		}
		res, err := r.c.do(ctx, "POST", base+"/v1/logout", logout, nil)
		revoked := time.Now()
		if err != nil || res.status != http.StatusNoContent {
			errs[0] = fmt.Sprintf("logout: %v %d", err, res.status)
			break
		}
		var wg sync.WaitGroup
		for i, p := range places {
			if p.refused == nil || errs[i] != "" {
				continue
			}
			wg.Go(func() {
				d, err := waitRefused(ctx, p, revoked)
				if err != nil {
					errs[i] = err.Error()
					return
				}
				took[i] = append(took[i], d)
			})
		}
		wg.Wait()
		if ctx.Err() != nil {
			break
		}
	}
	out := make([]Delay, len(places))
	for i, p := range places {
		out[i] = summarize(p.name, took[i])
		switch {
		case p.skipped != "":
			out[i].Skipped = p.skipped
		case errs[i] != "":
			out[i].Skipped = errs[i]
		}
	}
	return out
}

func waitAccepted(ctx context.Context, p place) error {
	deadline := time.Now().Add(refuseTimeout)
	for {
		refused, err := p.refused(ctx)
		if err != nil {
			return err
		}
		if !refused {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not accept a fresh credential", p.name)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitRefused polls p in a tight loop until it refuses; it returns the
// time since revoked.
func waitRefused(ctx context.Context, p place, revoked time.Time) (time.Duration, error) {
	for {
		refused, err := p.refused(ctx)
		if err != nil {
			return 0, err
		}
		if refused {
			return time.Since(revoked), nil
		}
		if time.Since(revoked) > refuseTimeout {
			return 0, fmt.Errorf("%s still accepts the revoked credential after %v", p.name, refuseTimeout)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// refreshRevocation measures how a logout (bearer) reaches the refresh
// token of the same family on the same instance: one refresh attempt right
// after each logout, which must be refused.
func (r *runner) refreshRevocation(ctx context.Context) []Delay {
	base := r.opts.URLs[0]
	u := r.users[len(r.users)-1]
	var took []time.Duration
	skipped := ""
	for range r.opts.Rounds {
		t, err := r.c.loginToken(ctx, base, u)
		if err != nil {
			skipped = err.Error()
			break
		}
		res, err := r.c.do(ctx, "POST", base+"/v1/logout", http.Header{"Authorization": {"Bearer " + t.access}}, nil)
		revoked := time.Now()
		if err != nil || res.status != http.StatusNoContent {
			skipped = fmt.Sprintf("logout: %v %d", err, res.status)
			break
		}
		res, err = r.c.do(ctx, "POST", base+"/v1/token/refresh", nil, map[string]string{"refresh_token": t.refresh})
		if err != nil {
			skipped = err.Error()
			break
		}
		if res.status != http.StatusUnauthorized {
			skipped = fmt.Sprintf("a refresh right after logout answered %d, not 401", res.status)
			break
		}
		took = append(took, time.Since(revoked))
	}
	d := summarize("refresh token, same instance (first attempt after logout)", took)
	d.Skipped = skipped
	return []Delay{d}
}

func summarize(where string, ds []time.Duration) Delay {
	d := Delay{Where: where, Rounds: len(ds)}
	if len(ds) == 0 {
		return d
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	pct := func(p float64) time.Duration { return s[max(int(math.Ceil(p*float64(len(s))))-1, 0)] }
	d.P50, d.P99, d.Max = ms(pct(0.5)), ms(pct(0.99)), ms(s[len(s)-1])
	return d
}

// issuer reads the issuer of base from its RFC 8414 metadata.
func (r *runner) issuer(ctx context.Context, base string) (string, error) {
	res, err := r.c.do(ctx, "GET", base+"/.well-known/oauth-authorization-server", nil, nil)
	if err != nil {
		return "", err
	}
	var m struct {
		Issuer string `json:"issuer"`
	}
	if res.status != http.StatusOK || json.Unmarshal(res.body, &m) != nil || m.Issuer == "" {
		return "", apiError("authorization server metadata", res)
	}
	return strings.TrimSuffix(m.Issuer, "/"), nil
}

// rewrite sends requests for the issuer's origin to the measured URL.
type rewrite struct{ from, to string }

func (rw rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	u := req.URL.String()
	if strings.HasPrefix(u, rw.from) {
		nu, err := url.Parse(rw.to + strings.TrimPrefix(u, rw.from))
		if err != nil {
			return nil, err
		}
		req = req.Clone(req.Context())
		req.URL, req.Host = nu, ""
	}
	return http.DefaultTransport.RoundTrip(req)
}
