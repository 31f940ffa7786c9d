package verify

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/latch-dev/latch/jose"
)

// fetchCall is one JWKS refetch in flight, which every caller that needs
// it waits for instead of starting its own.
type fetchCall struct {
	done chan struct{} // closed when the fetch is over, keys swapped or not
}

// fetchJWKS GETs the issuer's JWKS document.
func (v *Verifier) fetchJWKS(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	u := v.issuer + "/.well-known/jwks.json"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("verify: fetching the JWKS: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("verify: fetching the JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("verify: fetching the JWKS: GET %s: %s", u, resp.Status)
	}
	doc, err := io.ReadAll(io.LimitReader(resp.Body, jose.MaxJWKSSize+1))
	if err != nil {
		return nil, fmt.Errorf("verify: fetching the JWKS: %w", err)
	}
	if len(doc) > jose.MaxJWKSSize {
		return nil, fmt.Errorf("verify: fetching the JWKS: larger than %d bytes", jose.MaxJWKSSize)
	}
	return doc, nil
}

// refetchKeys is called by Verify on an unknown kid, with the key
// generation it verified against. It reports whether trying again may help:
// the keys changed since (through this call, a concurrent one, or one that
// finished in between). It fetches only if no fetch started in the last
// jwksRefetch; otherwise the kid is as unknown as it was.
func (v *Verifier) refetchKeys(ctx context.Context, gen uint64) bool {
	if v.keyGen.Load() != gen {
		return true
	}
	f := v.startFetch(jwksRefetch)
	if f == nil {
		return v.keyGen.Load() != gen
	}
	select {
	case <-f.done:
		return v.keyGen.Load() != gen
	case <-ctx.Done():
		return false
	}
}

// startFetch starts a JWKS refetch in the background, unless the last one
// started less than minAge ago, and returns the call to wait for: the one
// it started, or the one already running. It returns nil when rate limited.
// The fetch is not tied to any caller's context, so a client that hangs up
// does not cancel it for the others; Close does.
func (v *Verifier) startFetch(minAge time.Duration) *fetchCall {
	v.keyMu.Lock()
	defer v.keyMu.Unlock()
	if v.inflight != nil {
		return v.inflight
	}
	if v.ctx.Err() != nil {
		return nil // closed: wg.Add must not race Close's Wait
	}
	now := v.now()
	if now.Sub(v.lastFetch) < minAge {
		return nil
	}
	v.lastFetch = now
	f := &fetchCall{done: make(chan struct{})}
	v.inflight = f
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		v.reloadKeys()
		v.keyMu.Lock()
		v.inflight = nil
		v.keyMu.Unlock()
		close(f.done)
	}()
	return f
}

// reloadKeys fetches the JWKS and swaps the keys in if the document
// changed. A failed fetch or a refused document keeps the keys we have.
// Cached tokens are forgotten when the keys change: a key the issuer no
// longer publishes must stop verifying, cached or not.
func (v *Verifier) reloadKeys() {
	doc, err := v.fetchJWKS(v.ctx)
	if err != nil {
		if v.ctx.Err() == nil {
			v.log.Warn("JWKS refetch failed; keeping the current keys", "err", err)
		}
		return
	}
	// Only the one fetch in flight touches lastDoc after New.
	if bytes.Equal(doc, v.lastDoc) {
		return
	}
	if err := v.keys.ReloadJWKS(doc); err != nil {
		v.log.Error("JWKS refused; keeping the current keys", "err", err)
		return
	}
	v.lastDoc = doc
	// The key set's new snapshot retires every cached token (jose.WithCache);
	// the generation tells concurrent refetchers that the keys moved.
	v.keyGen.Add(1)
	v.log.Info("JWKS reloaded", "jwks", string(v.keys.JWKS()))
}
