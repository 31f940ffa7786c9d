// Package testenv holds the one rule for tests that need a service of the
// machine (PostgreSQL, Redis, their server binaries): in CI (CI=true) a
// missing service fails the test; elsewhere it skips it, loudly.
package testenv

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

var notices sync.Map // what -> struct{}: one banner per service per test binary

// Unavailable fails the test when CI=true, and otherwise skips it with a
// banner on stderr (once per what) that no one can miss.
func Unavailable(t testing.TB, what, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: a missing %s is a failure, not a skip)", msg, what)
	}
	if _, seen := notices.LoadOrStore(what, struct{}{}); !seen {
		fmt.Fprintf(os.Stderr, "\n*** SKIPPING TESTS THAT NEED %s: %s ***\n\n", what, msg)
	}
	t.Skipf("!!! SKIPPED: %s (with CI=true this fails)", msg)
}
