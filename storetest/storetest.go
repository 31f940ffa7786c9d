// Package storetest is the conformance suite every latch store must pass,
// after the idea of testing/slogtest: one set of tests, written against the
// contracts in the doc comments of latch.UserStore, latch.SessionStore,
// latch.RevocationStore, latch.KeyStore, latch.AccountTokenStore,
// latch.Outbox and latch.FactorStore, and of the optional
// latch.SessionUser and latch.SessionCounter where the session store
// implements them, run by each store package from its own tests:
//
//	func TestStores(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) storetest.Stores {
//			db := open(t) // a fresh, empty database
//			return storetest.Stores{Users: db, Sessions: db, Revocations: db, Keys: db}
//		})
//	}
//
// Every record the suite writes carries random IDs, emails, hashes and key
// algorithms, so most tests share one store; a test whose assertion covers
// the whole store (a deletion count, the revocation log) opens its own.
//
// Times are fixed (no time.Now) and whole microseconds, so that stores
// keeping microsecond timestamps, like PostgreSQL, pass as well as those
// keeping nanoseconds.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latch-dev/latch"
)

// Stores is what a store package hands the suite. A nil field skips the
// tests of that interface, for packages that implement only some of them;
// so does a session store without an optional capability.
type Stores struct {
	Users       latch.UserStore
	Sessions    latch.SessionStore
	Revocations latch.RevocationStore
	Keys        latch.KeyStore
	// AccountTokens and Outbox are the records of API.md §8.
	AccountTokens latch.AccountTokenStore
	Outbox        latch.Outbox
	// Factors keeps second factors; its tests create their accounts in
	// Users, which must be set with it.
	Factors latch.FactorStore
}

// Run runs the suite as subtests of t. open must return stores over a new,
// empty database each time it is called, and release it in t.Cleanup; Run
// calls it once per group of tests that can share a store, and again for
// each test that needs a store of its own.
func Run(t *testing.T, open func(t *testing.T) Stores) {
	t.Helper()
	groups := []struct {
		name string
		has  func(Stores) bool
		run  func(t *testing.T, shared Stores, open func(*testing.T) Stores)
	}{
		{"UserStore", func(s Stores) bool { return s.Users != nil }, testUsers},
		{"SessionStore", func(s Stores) bool { return s.Sessions != nil }, testSessions},
		{"RotateRefresh", func(s Stores) bool { return s.Sessions != nil }, testRotateRefresh},
		{"SessionUser", func(s Stores) bool { _, ok := s.Sessions.(latch.SessionUser); return ok }, testUseSession},
		{"SessionCounter", func(s Stores) bool { _, ok := s.Sessions.(latch.SessionCounter); return ok }, testCountLiveSessions},
		{"RevocationStore", func(s Stores) bool { return s.Revocations != nil }, testRevocations},
		{"KeyStore", func(s Stores) bool { return s.Keys != nil }, testKeys},
		{"AccountTokenStore", func(s Stores) bool { return s.AccountTokens != nil }, testAccountTokens},
		{"Outbox", func(s Stores) bool { return s.Outbox != nil }, testOutbox},
		{"FactorStore", func(s Stores) bool { return s.Factors != nil && s.Users != nil }, testFactors},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			shared := open(t)
			if !g.has(shared) {
				t.Skipf("no %s to test", g.name)
			}
			g.run(t, shared, open)
		})
	}
}

// t0 is the suite's "now": fixed, in whole microseconds, far enough in the
// future that no store mistakes it for a zero or sentinel time.
var t0 = time.Date(2031, time.March, 14, 15, 9, 26, 535_897_000, time.UTC)

// newID returns a random identifier, so that tests sharing a store never
// see each other's records.
func newID() string { return strings.ToLower(rand.Text()) }

// newHash returns a random 32-byte value standing for a SHA-256 token hash.
func newHash() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand documents it)
	return b
}

// ctx is the context of every store call: the test's, cancelled when it ends.
func ctx(t *testing.T) context.Context { return t.Context() }

// wantErr fails t unless errors.Is(err, target); a nil target wants no error.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	switch {
	case target == nil && err != nil:
		t.Fatalf("%s: unexpected error: %v", what, err)
	case target != nil && !isErr(err, target):
		t.Fatalf("%s: error = %v, want %v", what, err, target)
	}
}

// isErr is errors.Is with a nil target matching only a nil error.
func isErr(err, target error) bool {
	if target == nil {
		return err == nil
	}
	return errors.Is(err, target)
}

// mustEqual fails t when got and want, pointers to the same struct type
// (latch.User, latch.Session, latch.Revocation, latch.SigningKey), differ
// in any field. Times compare with Equal (a store may return another
// location or drop the monotonic reading) and byte slices with bytes.Equal
// (a store may return nil for empty).
func mustEqual[T any](t *testing.T, what string, got, want *T) {
	t.Helper()
	if got == nil || want == nil {
		if got != want {
			t.Fatalf("%s: got %v, want %v", what, got, want)
		}
		return
	}
	if d := diff(got, want); d != "" {
		t.Fatalf("%s: mismatch (got, want):\n%s", what, d)
	}
}

// diff lists the fields in which two pointers to one struct type differ.
func diff(got, want any) string {
	gv, wv := reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem()
	var b strings.Builder
	for i := range gv.NumField() {
		g, w := gv.Field(i).Interface(), wv.Field(i).Interface()
		if !equalField(g, w) {
			fmt.Fprintf(&b, "\t%s: %s, %s\n", gv.Type().Field(i).Name, show(g), show(w))
		}
	}
	return b.String()
}

func equalField(a, b any) bool {
	switch a := a.(type) {
	case time.Time:
		return a.Equal(b.(time.Time))
	case []byte:
		return bytes.Equal(a, b.([]byte))
	case []string:
		return slices.Equal(a, b.([]string))
	}
	return a == b
}

func show(v any) string {
	switch v := v.(type) {
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	case []byte:
		if len(v) == 0 {
			return "[]"
		}
		return fmt.Sprintf("%x", v)
	}
	return fmt.Sprintf("%#v", v)
}

// clone returns a shallow copy of *p, for building the expected state of a
// record from the one written; the suite never mutates byte slices in place,
// except where it tests that stores copy them.
func clone[T any](p *T) *T {
	c := *p
	return &c
}
