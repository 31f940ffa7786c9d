package password

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParsePHC: the PHC parser accepts exactly the canonical strings
// encodePHC writes. A malformed string never panics and its error wraps
// ErrMalformedHash; an accepted one is its own encoding (one spelling per
// hash), and its parameters pass Validate.
func FuzzParsePHC(f *testing.F) {
	for _, s := range []string{
		"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
		"$argon2id$v=19$m=64,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=019456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaA", "$argon2i$v=19$m=1,t=1,p=1$a$b",
		"$argon2id$v=19$m=4294967297,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$t=2,m=19456,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaA", "$argon2id$v=19$m=19456,t=2,p=1$c29t\nZXNhbHQ$aGFzaA",
		"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA==$aGFzaA", "", "$", "$$$$$",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := parsePHC(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("parsePHC(%q) error %v does not wrap ErrMalformedHash", s, err)
			}
			if _, perr := ParseParams(s); perr == nil {
				t.Fatalf("ParseParams(%q) accepts what parsePHC refuses", s)
			}
			return
		}
		if enc := encodePHC(p, salt, key); enc != s {
			t.Fatalf("parsePHC(%q) accepted a string that encodes back as %q", s, enc)
		}
		if err := p.Validate(); err != nil || int(p.SaltLen) != len(salt) || int(p.KeyLen) != len(key) {
			t.Fatalf("parsePHC(%q) = %+v: %v", s, p, err)
		}
	})
}

// FuzzFormatPHC: parse(format(x)) == x for every x within the bounds
// Validate accepts; format of an invalid x never parses.
func FuzzFormatPHC(f *testing.F) {
	f.Add(uint32(19456), uint32(2), uint8(1), bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 32))
	f.Add(uint32(64), uint32(1), uint8(1), make([]byte, 8), make([]byte, 16))
	f.Add(uint32(7), uint32(0), uint8(0), []byte{}, []byte{0xff})
	f.Add(uint32(1<<31), uint32(1<<31), uint8(255), make([]byte, 65), make([]byte, 1025))
	f.Fuzz(func(t *testing.T, m, tm uint32, th uint8, salt, key []byte) {
		x := Params{Memory: m, Time: tm, Threads: th, SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))}
		s := encodePHC(x, salt, key)
		p, gotSalt, gotKey, err := parsePHC(s)
		if x.Validate() != nil || len(s) > maxPHCLen {
			if err == nil {
				t.Fatalf("parsePHC accepted %q, made of invalid parameters %+v", s, x)
			}
			return
		}
		if err != nil {
			t.Fatalf("parsePHC(encodePHC(%+v)) = %v", x, err)
		}
		if p != x || !bytes.Equal(gotSalt, salt) || !bytes.Equal(gotKey, key) {
			t.Fatalf("parsePHC(encodePHC(%+v)) = %+v, salt %x, key %x", x, p, gotSalt, gotKey)
		}
	})
}
