// Package memory implements latch's stores in process memory: for tests,
// for development (--db memory:), and for the state of one node that need
// not outlive it (login throttling, rate limits).
//
// Every type's zero value is ready to use and safe for concurrent use.
// Stores copy what they are given and what they return, so callers may
// reuse their structs and buffers. Nothing is persisted: a restart forgets
// every account, session and revocation.
package memory

import (
	"bytes"
	"slices"
	"time"

	"github.com/latch-dev/latch"
)

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func copyUser(u *latch.User) *latch.User {
	c := *u
	return &c
}

func copySession(s *latch.Session) *latch.Session {
	c := *s
	c.TokenHash = bytes.Clone(s.TokenHash)
	c.CSRFHash = bytes.Clone(s.CSRFHash)
	c.PrevHash = bytes.Clone(s.PrevHash)
	c.AMR = slices.Clone(s.AMR)
	return &c
}

func copyKey(k *latch.SigningKey) *latch.SigningKey {
	c := *k
	c.Private = bytes.Clone(k.Private)
	c.Public = bytes.Clone(k.Public)
	return &c
}
