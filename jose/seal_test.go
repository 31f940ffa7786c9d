package jose_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/latch-dev/latch/jose"
)

func TestSealer_secrets(t *testing.T) {
	s, err := jose.NewSealer("0123456789abcdef0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	other, err := jose.NewSealer("another master key, 32 bytes....")
	if err != nil {
		t.Fatal(err)
	}
	plain, aad := []byte("12345678901234567890"), []byte("latch totp user-1")
	sealed, err := s.SealSecret(plain, aad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, plain) {
		t.Fatal("the sealed secret contains the plain one")
	}
	again, _ := s.SealSecret(plain, aad)
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals of one secret are equal: the nonce is not random")
	}
	got, err := s.OpenSecret(sealed, aad)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("OpenSecret = %q, %v", got, err)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	for name, open := range map[string]func() ([]byte, error){
		"another record":     func() ([]byte, error) { return s.OpenSecret(sealed, []byte("latch totp user-2")) },
		"another master key": func() ([]byte, error) { return other.OpenSecret(sealed, aad) },
		"altered":            func() ([]byte, error) { return s.OpenSecret(tampered, aad) },
		"empty":              func() ([]byte, error) { return s.OpenSecret(nil, aad) },
	} {
		if _, err := open(); !errors.Is(err, jose.ErrWrongMasterKey) {
			t.Errorf("%s: err = %v, want ErrWrongMasterKey", name, err)
		}
	}
}
