package email_test

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/email"
)

// addr returns an address of exactly n bytes (n ≥ 68): a 64-byte local part
// and a domain of labels of at most 63 bytes.
func addr(n int) string {
	local := strings.Repeat("l", 64)
	rest := n - len(local) - 1 // bytes left for the domain
	var labels []string
	for rest > 0 {
		l := min(63, rest)
		if rest-l == 1 { // leave room for at least one byte after a dot
			l--
		}
		labels = append(labels, strings.Repeat("d", l))
		rest -= l
		if rest > 0 {
			rest-- // the dot
		}
	}
	return local + "@" + strings.Join(labels, ".")
}

func TestNormalize(t *testing.T) {
	valid := []struct{ in, want string }{
		{"user@example.com", "user@example.com"},
		{"User@Example.COM", "user@example.com"},
		{"  user@example.com \u00a0\u3000", "user@example.com"},
		{"\tuser@example.com", "user@example.com"},   // surrounding white space is trimmed (API.md)
		{"user@example.com\r\n", "user@example.com"}, // ... line breaks included
		{"ＡＢＣ@example.com", "abc@example.com"},
		{"ｂｏｂ＠ｅｘａｍｐｌｅ．ｃｏｍ", "bob@example.com"},
		{"ﬁle@example.com", "file@example.com"},             // ligature
		{"KELVIN\u212a@example.com", "kelvink@example.com"}, // Kelvin sign
		{"e\u0301lise@example.com", "élise@example.com"},    // composed by NFKC
		{"first.last+tag@sub.example.co.uk", "first.last+tag@sub.example.co.uk"},
		{"!#$%&'*+-/=?^_`{|}~@example.com", "!#$%&'*+-/=?^_`{|}~@example.com"},
		{"a@b.co", "a@b.co"},
		{"user@xn--bcher-kva.example", "user@xn--bcher-kva.example"},
		{"user@bücher.example", "user@bücher.example"},
		{"Δοκιμή@παράδειγμα.δοκιμή", "δοκιμή@παράδειγμα.δοκιμή"},
		{"用户@例子.广告", "用户@例子.广告"},
		{"user@123.example.com", "user@123.example.com"},
		{"user@a-b.example", "user@a-b.example"},
		{addr(254), addr(254)},
		{strings.ToUpper(addr(254)), addr(254)},
		{strings.Repeat("l", 64) + "@example.com", strings.Repeat("l", 64) + "@example.com"},
		{"u@" + strings.Repeat("d", 63) + ".com", "u@" + strings.Repeat("d", 63) + ".com"},
	}
	for _, tt := range valid {
		t.Run("valid "+abbrev(tt.in), func(t *testing.T) {
			got, err := email.Normalize(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("Normalize(%q) = %q, %v; want %q, nil", tt.in, got, err, tt.want)
			}
		})
	}

	invalid := []struct{ name, in string }{
		{"empty", ""},
		{"white space only", "   "},
		{"display name", "Bob <bob@example.com>"},
		{"angle brackets", "<bob@example.com>"},
		{"double @", "user@@example.com"},
		{"two @", "user@host@example.com"},
		{"no local part", "@example.com"},
		{"no domain", "user@"},
		{"no @", "plainaddress"},
		{"space in local part", "user name@example.com"},
		{"space in domain", "user@exa mple.com"},
		{"header injection", "user@example.com\r\nBcc: x@y.z"},
		{"NUL", "user\x00@example.com"},
		{"DEL", "user\x7f@example.com"},
		{"C1 control", "user\u0085@example.com"},
		{"invalid UTF-8", "user\xff@example.com"},
		{"quoted local part", `"john doe"@example.com`},
		{"quoted @", `"a@b"@example.com`},
		{"comment", "user(comment)@example.com"},
		{"backslash", `us\er@example.com`},
		{"comma", "a@example.com,b@example.com"},
		{"leading dot", ".user@example.com"},
		{"trailing dot", "user.@example.com"},
		{"double dot", "us..er@example.com"},
		{"local part 65 bytes", strings.Repeat("l", 65) + "@example.com"},
		{"single-label domain", "user@localhost"},
		{"trailing dot in domain", "user@example.com."},
		{"leading dot in domain", "user@.example.com"},
		{"double dot in domain", "user@example..com"},
		{"IPv4 literal", "user@[192.168.0.1]"},
		{"IPv6 literal", "user@[IPv6:2001:db8::1]"},
		{"bare IPv4", "user@192.168.0.1"},
		{"label leading hyphen", "user@-example.com"},
		{"label trailing hyphen", "user@example-.com"},
		{"underscore in domain", "user@ex_ample.com"},
		{"label 64 bytes", "u@" + strings.Repeat("d", 64) + ".com"},
		{"255 bytes", addr(255)},
		{"huge", strings.Repeat("a", 1<<20) + "@example.com"},
		{"zero-width space", "us\u200ber@example.com"},
		{"zero-width space in domain", "user@exam\u200bple.com"},
		{"right-to-left override", "user\u202e@example.com"},
		{"line separator", "user\u2028@example.com"},
		{"symbol", "user☃@example.com"},
		{"NFKC makes a space", "user\u00a8@example.com"},       // diaeresis → space + combining mark
		{"NFKC makes a second @", "user\ufe6bx@example.com"},   // small commercial at
		{"NFKC makes a display name", "Bob ＜bob@example.com＞"}, // fullwidth < >
	}
	for _, tt := range invalid {
		t.Run("invalid "+tt.name, func(t *testing.T) {
			got, err := email.Normalize(tt.in)
			if !errors.Is(err, latch.ErrInvalidEmail) {
				t.Fatalf("Normalize(%q) = %q, %v; want ErrInvalidEmail", abbrev(tt.in), got, err)
			}
			if got != "" {
				t.Fatalf("Normalize(%q) returned %q with its error", abbrev(tt.in), got)
			}
			// The address is personal data; errors end up in logs.
			if len(tt.in) >= 8 && strings.Contains(err.Error(), tt.in) {
				t.Fatalf("error echoes the input: %v", err)
			}
		})
	}
}

func TestAddrHelper(t *testing.T) {
	for _, n := range []int{254, 255} {
		if got := len(addr(n)); got != n {
			t.Fatalf("len(addr(%d)) = %d", n, got)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"user@example.com", " User@Example.COM ", "ＡＢＣ@example.com", "Bob <bob@example.com>",
		"user@@example.com", "user@example.com\r\nBcc: x@y.z", `"q"@example.com`, "e\u0301@example.com",
		"İ@example.com", "ǅ@example.com", "ß@example.com", "\u0345@example.com", addr(254), addr(255),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := email.Normalize(s)
		if err != nil {
			if !errors.Is(err, latch.ErrInvalidEmail) {
				t.Fatalf("Normalize(%q) err = %v, want ErrInvalidEmail", s, err)
			}
			return
		}
		if len(n) > email.MaxLength || !utf8.ValidString(n) || strings.Count(n, "@") != 1 {
			t.Fatalf("Normalize(%q) = %q: not a valid address", s, n)
		}
		// Valid by its own rules: already folded (NFKC, lower case), no
		// white space or control character left, the parts within their
		// limits, a domain of at least two labels.
		local, domain, _ := strings.Cut(n, "@")
		if norm.NFKC.String(n) != n || strings.ToLower(n) != n || strings.ContainsFunc(n, unicode.IsSpace) ||
			strings.ContainsFunc(n, unicode.IsControl) || local == "" || len(local) > email.MaxLocalLength ||
			strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") ||
			!strings.Contains(domain, ".") {
			t.Fatalf("Normalize(%q) = %q: breaks its own rules", s, n)
		}
		for _, label := range strings.Split(domain, ".") {
			if label == "" || len(label) > email.MaxLabelLength || label[0] == '-' || label[len(label)-1] == '-' {
				t.Fatalf("Normalize(%q) = %q: bad domain label %q", s, n, label)
			}
		}
		again, err := email.Normalize(n)
		if err != nil || again != n {
			t.Fatalf("Normalize(Normalize(%q)) = %q, %v; want %q, nil", s, again, err, n)
		}
	})
}

// abbrev shortens long inputs in test names and messages.
func abbrev(s string) string {
	if len(s) > 40 {
		return s[:20] + "…" + s[len(s)-10:]
	}
	return s
}
