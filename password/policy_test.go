package password_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/password"
)

func TestPolicy_Check(t *testing.T) {
	p := password.NewPolicy()
	const email = "bob.smith@example.com"
	tests := []struct {
		name     string
		password string
		email    string
		want     error // nil, or the exact error text
	}{
		{"7 bytes", "xq7Lm2z", email, errShort},
		{"7 bytes, 4 runes", "ééé!", email, errShort},
		{"empty", "", email, errShort},
		{"8 bytes", "xq7Lm2zP", email, nil},
		{"8 bytes, 4 runes", "éàüß", email, nil},
		{"1024 bytes", strings.Repeat("xq7Lm2zP", 128), email, nil},
		{"1025 bytes", strings.Repeat("xq7Lm2zP", 128) + "!", email, errLong},
		{"1 MiB", strings.Repeat("x", 1<<20), email, errLong},
		{"password", "password", email, errCommon},
		{"Password", "Password", email, errCommon},
		{"PASSWORD", "PASSWORD", email, errCommon},
		{"password123", "password123", email, errCommon},
		{"Password123", "Password123", email, errCommon},
		{"12345678", "12345678", email, errCommon},
		{"qwertyuiop", "qwertyuiop", email, errCommon},
		{"QwErTyUiOp", "QwErTyUiOp", email, errCommon},
		{"common with spaces", "  password  ", email, errCommon},
		{"common fullwidth", "ｐａｓｓｗｏｒｄ", email, errCommon},
		{"common from the list's tail", "password9", email, errCommon},
		{"common in a longer one", "password-but-longer-xq7", email, nil},
		{"equal to email", email, email, errEmail},
		{"equal to email, upper case", "Bob.Smith@Example.COM", email, errEmail},
		{"equal to email, white space", "  bob.smith@example.com\t", email, errEmail},
		{"equal to email, fullwidth", "ｂｏｂ.ｓｍｉｔｈ@example.com", email, errEmail},
		{"email unnormalized by caller", "bob.smith@example.com", "  Bob.Smith@EXAMPLE.com ", errEmail},
		{"email with a suffix", email + "!", email, nil},
		{"no email given", "xq7Lm2zP", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Check(tt.password, tt.email)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, latch.ErrWeakPassword) {
				t.Fatalf("Check = %v, want ErrWeakPassword", err)
			}
			// The text depends on the reason alone, so it cannot echo the password.
			if err.Error() != tt.want.Error() {
				t.Fatalf("Check = %q, want %q", err, tt.want)
			}
		})
	}
}

var (
	errShort  = errors.New("weak password: shorter than 8 bytes")
	errLong   = errors.New("weak password: longer than 1024 bytes")
	errEmail  = errors.New("weak password: equal to the email")
	errCommon = errors.New("weak password: among the most common passwords")
)

func TestNewPolicy_list(t *testing.T) {
	p := password.NewPolicy()
	if n := password.CommonCount(p); n < 10_000 {
		t.Fatalf("%d common passwords, want at least 10,000", n)
	}
	// API.md §6 names these.
	for _, pw := range []string{"password", "password123", "12345678", "qwertyuiop"} {
		if err := p.Check(pw, ""); err == nil || err.Error() != errCommon.Error() {
			t.Errorf("Check(%q) = %v, want %v", pw, err, errCommon)
		}
	}
	// Every entry long enough to pass the length check is refused, so the
	// list is read whole and the lookup finds each entry.
	list, err := os.ReadFile("common-passwords.txt")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for line := range strings.Lines(string(list)) {
		line = strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(line, "#") || len(line) < password.MinLength || len(line) > latch.MaxPasswordBytes {
			continue
		}
		checked++
		if err := p.Check(line, ""); err == nil || err.Error() != errCommon.Error() {
			t.Errorf("Check(%q) = %v, want %v", line, err, errCommon)
		}
	}
	if checked < 2_000 {
		t.Fatalf("only %d entries of 8 bytes or more checked", checked)
	}
}
