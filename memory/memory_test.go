package memory_test

import (
	"testing"

	"github.com/latch-dev/latch/memory"
	"github.com/latch-dev/latch/storetest"
)

func TestStores(t *testing.T) {
	storetest.Run(t, func(*testing.T) storetest.Stores {
		return storetest.Stores{
			Users:       new(memory.UserStore),
			Sessions:    new(memory.SessionStore),
			Revocations: new(memory.RevocationStore),
			Keys:        new(memory.KeyStore),
		}
	})
}
