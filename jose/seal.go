package jose

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/latch-dev/latch"
)

// MinMasterKey is the shortest --master-key accepted, in bytes. HKDF is not
// a password hash: the master key must be a random secret (for example
// 32 bytes from `openssl rand -base64 32`), and a short one is refused at
// start rather than silently protecting keys with a guessable secret.
const MinMasterKey = 16

// sealInfo is the HKDF info string. It separates this key from anything
// else that might ever be derived from the same master key; changing it
// makes every sealed key unreadable.
const sealInfo = "latch signing-key seal v1"

// secretInfo derives the key that seals account secrets (TOTP keys), so
// that no sealed secret can be passed off as a sealed signing key or the
// other way round.
const secretInfo = "latch account-secret seal v1"

// sealV1 is the first byte of a sealed blob, so the format can change
// without guessing what an old row holds.
const sealV1 byte = 1

// ErrKeyEncrypted is wrapped when a sealed signing key is opened without a
// master key.
var ErrKeyEncrypted = errors.New("signing key is encrypted")

// ErrWrongMasterKey is wrapped when a sealed signing key does not open: the
// master key is wrong, or the blob was altered or moved to another key row.
var ErrWrongMasterKey = errors.New("wrong master key")

// sealError names the key that failed, so an operator knows which row and
// which flag to look at.
type sealError struct {
	kid string
	err error
}

func (e *sealError) Error() string {
	if e.err == ErrKeyEncrypted {
		return "signing key " + e.kid + " is encrypted: set --master-key"
	}
	return "signing key " + e.kid + ": wrong master key (or the sealed key was altered or moved to another row)"
}

func (e *sealError) Unwrap() error { return e.err }

// Sealer encrypts private signing keys at rest with AES-256-GCM under a key
// derived from --master-key, so a copy of the database alone cannot mint
// tokens. The key ID is the additional data: a sealed blob copied onto
// another key row does not open. A nil *Sealer means "no master key": Seal
// leaves keys in clear and Open refuses sealed ones with a clear error. It is
// safe for concurrent use.
type Sealer struct {
	aead    cipher.AEAD // signing keys
	secrets cipher.AEAD // account secrets (SealSecret)
}

var _ latch.SecretSealer = (*Sealer)(nil)

// newAEAD derives an AES-256-GCM key from masterKey for one purpose.
func newAEAD(masterKey, info string) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, []byte(masterKey), nil, info, 32)
	if err != nil {
		return nil, fmt.Errorf("jose: derive sealing key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("jose: sealing cipher: %w", err)
	}
	// Random 96-bit nonces: a master key seals a few keys and one secret
	// per account with a second factor, far below the 2^32 messages where
	// collisions start to matter.
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("jose: sealing cipher: %w", err)
	}
	return aead, nil
}

// NewSealer derives the sealing key from masterKey with HKDF-SHA256. An
// empty or short master key is an error: the caller decides whether a master
// key is configured at all (nil *Sealer), not this function.
func NewSealer(masterKey string) (*Sealer, error) {
	if len(masterKey) < MinMasterKey {
		return nil, fmt.Errorf("jose: --master-key must be at least %d bytes of random data", MinMasterKey)
	}
	aead, err := newAEAD(masterKey, sealInfo)
	if err != nil {
		return nil, err
	}
	secrets, err := newAEAD(masterKey, secretInfo)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead, secrets: secrets}, nil
}

// Seal returns a copy of k with Private encrypted and Sealed set. With a nil
// Sealer it returns an unchanged copy: without --master-key keys are stored
// in clear. Sealing an already sealed key is an error.
func (s *Sealer) Seal(k *latch.SigningKey) (*latch.SigningKey, error) {
	if k.Sealed {
		return nil, fmt.Errorf("jose: signing key %s is already sealed", k.ID)
	}
	out := *k
	if s == nil {
		return &out, nil
	}
	blob := make([]byte, 1, 1+len(k.Private)+s.aead.Overhead())
	blob[0] = sealV1
	out.Private = s.aead.Seal(blob, nil, k.Private, []byte(k.ID))
	out.Sealed = true
	return &out, nil
}

// Open returns a copy of k with Private decrypted. An unsealed key is
// returned as is (it was stored before a master key was configured).
// A sealed key with a nil Sealer wraps ErrKeyEncrypted; one that does not
// open wraps ErrWrongMasterKey.
func (s *Sealer) Open(k *latch.SigningKey) (*latch.SigningKey, error) {
	out := *k
	if !k.Sealed {
		return &out, nil
	}
	if s == nil {
		return nil, &sealError{kid: k.ID, err: ErrKeyEncrypted}
	}
	if len(k.Private) == 0 || k.Private[0] != sealV1 {
		return nil, &sealError{kid: k.ID, err: ErrWrongMasterKey}
	}
	plain, err := s.aead.Open(nil, nil, k.Private[1:], []byte(k.ID))
	if err != nil {
		return nil, &sealError{kid: k.ID, err: ErrWrongMasterKey}
	}
	out.Private = plain
	out.Sealed = false
	return &out, nil
}

// SealSecret implements latch.SecretSealer: AES-256-GCM under a key of its
// own derived from the master key, with aad (the record the secret belongs
// to) as additional data.
func (s *Sealer) SealSecret(plain, aad []byte) ([]byte, error) {
	blob := make([]byte, 1, 1+len(plain)+s.secrets.Overhead())
	blob[0] = sealV1
	return s.secrets.Seal(blob, nil, plain, aad), nil
}

// OpenSecret implements latch.SecretSealer. A secret sealed under another
// master key, for another record, or altered wraps ErrWrongMasterKey.
func (s *Sealer) OpenSecret(sealed, aad []byte) ([]byte, error) {
	if len(sealed) == 0 || sealed[0] != sealV1 {
		return nil, fmt.Errorf("jose: sealed secret: %w", ErrWrongMasterKey)
	}
	plain, err := s.secrets.Open(nil, nil, sealed[1:], aad)
	if err != nil {
		return nil, fmt.Errorf("jose: sealed secret: %w", ErrWrongMasterKey)
	}
	return plain, nil
}
