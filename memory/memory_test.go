package memory_test

import (
	"testing"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/memory"
	"github.com/latch-dev/latch/storetest"
)

func TestStores(t *testing.T) {
	storetest.Run(t, func(*testing.T) storetest.Stores {
		return storetest.Stores{
			Users:         new(memory.UserStore),
			Sessions:      new(memory.SessionStore),
			Revocations:   new(memory.RevocationStore),
			Keys:          new(memory.KeyStore),
			AccountTokens: new(memory.AccountTokenStore),
			Outbox:        new(memory.Outbox),
			Factors:       new(memory.FactorStore),
		}
	})
}

// The session cache is a SessionStore like any other: it passes the suite
// in front of the memory store.
func TestSessionCache_Conformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Stores {
		c := memory.NewSessionCache(new(memory.SessionStore))
		t.Cleanup(func() { _ = c.Close() })
		return storetest.Stores{
			Users:       new(memory.UserStore),
			Sessions:    c,
			Revocations: new(memory.RevocationStore),
			Keys:        new(memory.KeyStore),
		}
	})
}

func TestThrottles(t *testing.T) {
	storetest.RunThrottles(t, storetest.Throttles{
		LoginThrottle: func(_ *testing.T, maxFailures int, window time.Duration) latch.LoginThrottle {
			return memory.NewLoginThrottle(maxFailures, window)
		},
		RateLimiter: func(_ *testing.T, perSecond float64) latch.RateLimiter { return memory.NewRateLimiter(perSecond) },
	})
}
