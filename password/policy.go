package password

import (
	_ "embed"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"

	"golang.org/x/text/unicode/norm"

	"github.com/latch-dev/latch"
)

// MinLength is the shortest password accepted, in bytes as received. The
// longest is latch.MaxPasswordBytes, defined once for the domain, the
// hasher and this policy: it keeps hashing cheap to refuse and leaves no
// password silently truncated (the bcrypt 72-byte trap).
const MinLength = 8

// commonList is common-passwords.txt: one password per line, '#' comments.
//
//go:embed common-passwords.txt
var commonList string

// Policy decides which passwords latch accepts (API.md weak_password). Build
// it with [NewPolicy]; it is immutable and safe for concurrent use.
type Policy struct {
	// common holds the sorted 64-bit hashes (seeded per process) of the
	// folded common passwords: 80 KB without a pointer for the garbage
	// collector to follow, where a map of the strings is 400 KB of them
	// that every collection cycle of the server would scan. Two passwords
	// share a hash with probability 2^-64; the cost of one doing so is a
	// password refused as common.
	common []uint64
	seed   maphash.Seed
}

// NewPolicy returns a Policy with the embedded list of common passwords,
// parsed once here (about 10,000 entries, a millisecond or so) so that Check
// only searches a sorted array.
func NewPolicy() *Policy {
	p := &Policy{seed: maphash.MakeSeed(), common: make([]uint64, 0, 10_500)}
	for line := range strings.Lines(commonList) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p.common = append(p.common, maphash.String(p.seed, fold(line)))
	}
	slices.Sort(p.common)
	p.common = slices.Compact(p.common)
	return p
}

// Check returns nil when password is acceptable for the account whose
// normalized email is normalizedEmail, and otherwise an error wrapping
// latch.ErrWeakPassword whose text gives the reason and never the password.
//
// The length is measured on the password exactly as received, before
// anything else, so over-long input costs nothing. The comparisons with the
// email and with the list are made on the password folded the way emails are
// normalized (trimmed, NFKC, lower-cased): "  Password " and "ｐａｓｓｗｏｒｄ"
// are as guessable as "password". That folding is only for these checks; the
// password is hashed and compared exactly as received.
func (p *Policy) Check(password, normalizedEmail string) error {
	switch {
	case len(password) < MinLength:
		return fmt.Errorf("%w: shorter than %d bytes", latch.ErrWeakPassword, MinLength)
	case len(password) > latch.MaxPasswordBytes:
		return fmt.Errorf("%w: longer than %d bytes", latch.ErrWeakPassword, latch.MaxPasswordBytes)
	}
	f := fold(password)
	// Folding the email as well costs little and keeps the check right
	// should a caller pass it unnormalized.
	if normalizedEmail != "" && f == fold(normalizedEmail) {
		return fmt.Errorf("%w: equal to the email", latch.ErrWeakPassword)
	}
	if _, ok := slices.BinarySearch(p.common, maphash.String(p.seed, f)); ok {
		return fmt.Errorf("%w: among the most common passwords", latch.ErrWeakPassword)
	}
	return nil
}

// fold normalizes s as emails are: surrounding white space trimmed, NFKC,
// lower case. It is repeated here rather than imported from the email
// package, which also validates, to keep the two packages independent.
func fold(s string) string {
	return strings.ToLower(norm.NFKC.String(strings.TrimSpace(s)))
}
