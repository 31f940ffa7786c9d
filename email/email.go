// Package email normalizes and validates email addresses, once, before latch
// stores or compares them (SECURITY.md 40, API.md invalid_email).
//
// Normalization makes one account of every spelling a person would call the
// same address: "  Bob@Example.COM" and "ｂｏｂ@ｅｘａｍｐｌｅ.ｃｏｍ" are
// bob@example.com. Validation accepts a plausible subset of the RFC 5322
// addr-spec, deliberately narrower than the RFC: no quoted local parts, no
// comments, no IP literals, no display names. Those forms are rare in sign-up
// forms and are where parsers disagree, which is how one address becomes two
// accounts or a header gets injected.
package email

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/latch-dev/latch"
)

// Length limits in bytes, from RFC 5321 (the path limit of 256 less the
// angle brackets, and the local-part limit) and RFC 1035 (labels).
const (
	MaxLength      = 254
	MaxLocalLength = 64
	MaxLabelLength = 63
)

// maxInput bounds the raw input, before any normalization work. NFKC can
// shrink text (composing a letter and its accent), but not by anything like
// this factor, so no address that would pass is refused by it.
const maxInput = 4 * 1024

// Normalize returns the canonical form of an email address, or an error
// wrapping latch.ErrInvalidEmail that says why (without repeating the
// address, which is personal data and ends up in logs).
//
// The canonical form is s with surrounding Unicode white space trimmed, in
// NFKC, lower-cased. It must then be at most [MaxLength] bytes of the form
// local@domain where:
//   - the local part is 1 to [MaxLocalLength] bytes of dot-atom text: ASCII
//     letters, digits and !#$%&'*+-/=?^_`{|}~, or non-ASCII letters, marks and
//     digits (RFC 6531), with dots between, never leading, trailing or doubled;
//   - the domain has at least two dot-separated labels, each 1 to
//     [MaxLabelLength] bytes of letters (any script, for IDN), marks, digits
//     and hyphens, neither starting nor ending with a hyphen, and a top-level
//     label that is not all digits (so no bare IPv4 address).
//
// Surrounding white space (tabs and line breaks included) is trimmed, as
// API.md asks; input that is not valid UTF-8 or has a control character
// left inside the address is refused rather than cleaned: "a@b.c\r\nBcc:
// x@y.z" is an injection attempt, not a typo.
//
// Normalize is idempotent: Normalize of a result is that result.
func Normalize(s string) (string, error) {
	if len(s) > maxInput {
		return "", invalid("input longer than %d bytes", maxInput)
	}
	if !utf8.ValidString(s) {
		return "", invalid("not valid UTF-8")
	}
	s = strings.TrimSpace(s)
	if strings.ContainsFunc(s, unicode.IsControl) {
		return "", invalid("contains a control character")
	}
	n := fold(s)
	// Lower-casing can, for a few characters, yield text that NFKC would
	// change again. Folding until nothing changes keeps Normalize idempotent,
	// so an address stored normalized always matches itself; text that does
	// not settle after a second round is no address anyone types.
	if m := fold(n); m != n {
		if n = m; fold(n) != n {
			return "", invalid("no stable normal form")
		}
	}
	if err := validate(n); err != nil {
		return "", err
	}
	return n, nil
}

// fold is NFKC then lower case, in that order: NFKC turns compatibility
// characters (fullwidth, ligatures, ...) into ones ToLower knows.
func fold(s string) string {
	return strings.ToLower(norm.NFKC.String(s))
}

// validate checks a normalized address.
func validate(s string) error {
	switch {
	case s == "":
		return invalid("empty")
	case len(s) > MaxLength:
		return invalid("longer than %d bytes", MaxLength)
	case strings.ContainsFunc(s, unicode.IsControl):
		// NFKC maps nothing to a control character, but this is cheap to
		// re-check and the promise is about the output.
		return invalid("contains a control character")
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok {
		return invalid("no @")
	}
	if strings.Contains(domain, "@") {
		return invalid("more than one @")
	}
	if err := validateLocal(local); err != nil {
		return err
	}
	return validateDomain(domain)
}

func validateLocal(local string) error {
	switch {
	case local == "":
		return invalid("empty local part")
	case len(local) > MaxLocalLength:
		return invalid("local part longer than %d bytes", MaxLocalLength)
	case local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, ".."):
		return invalid("local part has a leading, trailing or double dot")
	}
	for _, r := range local {
		if r != '.' && !isAtext(r) {
			// Spaces, quotes, '<', '(', ',', '\', ... : display names,
			// comments and quoted strings all end here.
			return invalid("local part has a character outside dot-atom text")
		}
	}
	return nil
}

// isAtext reports whether r is atext (RFC 5322 3.2.3), extended to non-ASCII
// letters, marks and digits as RFC 6531 allows. Other non-ASCII characters
// (symbols, spaces, invisible format characters) are refused: they make
// look-alike addresses and no real mailbox needs them.
func isAtext(r rune) bool {
	if r >= utf8.RuneSelf {
		return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsDigit(r)
	}
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' ||
		strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)
}

func validateDomain(domain string) error {
	if domain == "" {
		return invalid("empty domain")
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return invalid("domain has a single label")
	}
	for _, l := range labels {
		switch {
		case l == "":
			return invalid("domain has an empty label")
		case len(l) > MaxLabelLength:
			return invalid("domain label longer than %d bytes", MaxLabelLength)
		case l[0] == '-' || l[len(l)-1] == '-':
			return invalid("domain label starts or ends with a hyphen")
		}
		for _, r := range l {
			if !isLabelRune(r) {
				// '[' of an IP literal, '_', spaces, '>' of "<a@b.c>", ...
				return invalid("domain has a character other than a letter, digit or hyphen")
			}
		}
	}
	if tld := labels[len(labels)-1]; strings.Trim(tld, "0123456789") == "" {
		return invalid("top-level domain is numeric")
	}
	return nil
}

// isLabelRune reports whether r may appear in a domain label: LDH (RFC 1035)
// plus non-ASCII letters, marks and digits for internationalized names.
func isLabelRune(r rune) bool {
	if r >= utf8.RuneSelf {
		return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsDigit(r)
	}
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-'
}

// invalid returns an error wrapping latch.ErrInvalidEmail with the reason.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", latch.ErrInvalidEmail, fmt.Sprintf(format, args...))
}
