package main

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/jose"
)

// reloadingVerifier verifies with the current key set and, when a token
// names a kid it does not know, reloads the keys from the database (at most
// once a second) and tries again: a key rotated on another instance signs
// tokens here the moment that instance starts using it, not 10 s later.
type reloadingVerifier struct {
	next   latch.TokenVerifier
	reload func(context.Context) error

	mu   sync.Mutex
	last time.Time
}

func (v *reloadingVerifier) Verify(ctx context.Context, token string) (*latch.AccessClaims, error) {
	c, err := v.next.Verify(ctx, token)
	if err == nil || !errors.Is(err, jose.ErrKid) {
		return c, err
	}
	v.mu.Lock()
	due := time.Since(v.last) >= time.Second
	if due {
		v.last = time.Now()
	}
	v.mu.Unlock()
	if !due {
		return nil, err
	}
	if rerr := v.reload(ctx); rerr != nil {
		return nil, err
	}
	return v.next.Verify(ctx, token)
}
