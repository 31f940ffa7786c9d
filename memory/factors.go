package memory

import (
	"bytes"
	"context"
	"slices"
	"sync"

	"github.com/latch-dev/latch"
)

var _ latch.FactorStore = (*FactorStore)(nil)

// FactorStore is a latch.FactorStore in memory.
type FactorStore struct {
	mu       sync.Mutex
	totp     map[string]*latch.TOTPFactor   // by user ID
	codes    map[string]map[string]struct{} // user ID → set of string(hash)
	passkeys []*latch.Passkey
}

func copyTOTP(f *latch.TOTPFactor) *latch.TOTPFactor {
	c := *f
	c.Secret = bytes.Clone(f.Secret)
	return &c
}

func copyPasskey(p *latch.Passkey) *latch.Passkey {
	c := *p
	c.CredentialID = bytes.Clone(p.CredentialID)
	c.Data = bytes.Clone(p.Data)
	return &c
}

// TOTP implements latch.FactorStore.
func (s *FactorStore) TOTP(_ context.Context, userID string) (*latch.TOTPFactor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.totp[userID]
	if !ok {
		return nil, latch.ErrNotFound
	}
	return copyTOTP(f), nil
}

// PutTOTP implements latch.FactorStore.
func (s *FactorStore) PutTOTP(_ context.Context, f *latch.TOTPFactor) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.totp == nil {
		s.totp = map[string]*latch.TOTPFactor{}
	}
	s.totp[f.UserID] = copyTOTP(f)
	return nil
}

// UseTOTPStep implements latch.FactorStore.
func (s *FactorStore) UseTOTPStep(_ context.Context, userID string, step int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.totp[userID]
	if !ok || !f.Confirmed || step <= f.LastStep {
		return latch.ErrNotFound
	}
	f.LastStep = step
	return nil
}

// DeleteTOTP implements latch.FactorStore.
func (s *FactorStore) DeleteTOTP(_ context.Context, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.totp[userID]; !ok {
		return latch.ErrNotFound
	}
	delete(s.totp, userID)
	return nil
}

// ReplaceRecoveryCodes implements latch.FactorStore.
func (s *FactorStore) ReplaceRecoveryCodes(_ context.Context, userID string, hashes [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.codes == nil {
		s.codes = map[string]map[string]struct{}{}
	}
	set := make(map[string]struct{}, len(hashes))
	for _, h := range hashes {
		set[string(h)] = struct{}{}
	}
	s.codes[userID] = set
	return nil
}

// UseRecoveryCode implements latch.FactorStore.
func (s *FactorStore) UseRecoveryCode(_ context.Context, userID string, hash []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.codes[userID]
	if _, ok := set[string(hash)]; !ok {
		return latch.ErrNotFound
	}
	delete(set, string(hash))
	return nil
}

// RecoveryCodesLeft implements latch.FactorStore.
func (s *FactorStore) RecoveryCodesLeft(_ context.Context, userID string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.codes[userID]), nil
}

// CreatePasskey implements latch.FactorStore.
func (s *FactorStore) CreatePasskey(_ context.Context, p *latch.Passkey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.passkeyIndex("", p.CredentialID) >= 0 {
		return latch.ErrCredentialTaken
	}
	s.passkeys = append(s.passkeys, copyPasskey(p))
	return nil
}

// passkeyIndex finds a passkey by credential ID, of userID unless it is
// empty; -1 when there is none.
func (s *FactorStore) passkeyIndex(userID string, id []byte) int {
	return slices.IndexFunc(s.passkeys, func(p *latch.Passkey) bool {
		return bytes.Equal(p.CredentialID, id) && (userID == "" || p.UserID == userID)
	})
}

// Passkeys implements latch.FactorStore.
func (s *FactorStore) Passkeys(_ context.Context, userID string) ([]*latch.Passkey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*latch.Passkey
	for _, p := range s.passkeys {
		if p.UserID == userID {
			out = append(out, copyPasskey(p))
		}
	}
	slices.SortFunc(out, func(a, b *latch.Passkey) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return bytes.Compare(a.CredentialID, b.CredentialID)
	})
	return out, nil
}

// PasskeyByCredentialID implements latch.FactorStore.
func (s *FactorStore) PasskeyByCredentialID(_ context.Context, id []byte) (*latch.Passkey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.passkeyIndex("", id)
	if i < 0 {
		return nil, latch.ErrNotFound
	}
	return copyPasskey(s.passkeys[i]), nil
}

// RenamePasskey implements latch.FactorStore.
func (s *FactorStore) RenamePasskey(_ context.Context, userID string, id []byte, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.passkeyIndex(userID, id)
	if i < 0 {
		return latch.ErrNotFound
	}
	c := copyPasskey(s.passkeys[i])
	c.Name = name
	s.passkeys[i] = c
	return nil
}

// UsePasskey implements latch.FactorStore.
func (s *FactorStore) UsePasskey(_ context.Context, p *latch.Passkey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.passkeyIndex(p.UserID, p.CredentialID)
	if i < 0 {
		return latch.ErrNotFound
	}
	c := copyPasskey(s.passkeys[i])
	if !latch.CounterMovedForward(c.SignCount, p.SignCount) {
		return latch.ErrInvalidPasskey
	}
	c.Data, c.SignCount, c.LastUsedAt = bytes.Clone(p.Data), p.SignCount, p.LastUsedAt
	s.passkeys[i] = c
	return nil
}

// DeletePasskey implements latch.FactorStore.
func (s *FactorStore) DeletePasskey(_ context.Context, userID string, id []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.passkeyIndex(userID, id)
	if i < 0 {
		return latch.ErrNotFound
	}
	s.passkeys = slices.Delete(s.passkeys, i, i+1)
	return nil
}

// DeleteFactors implements latch.FactorStore.
func (s *FactorStore) DeleteFactors(_ context.Context, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.totp, userID)
	delete(s.codes, userID)
	s.passkeys = slices.DeleteFunc(s.passkeys, func(p *latch.Passkey) bool { return p.UserID == userID })
	return nil
}
