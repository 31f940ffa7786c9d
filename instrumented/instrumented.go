// Package instrumented times the stores: each wraps a latch store and
// reports the duration and the faults of every call, by store and method,
// to an Observer (the Prometheus metrics of package http, wired by cmd).
// A wrapper is a store that wraps a store, like the caches: the Service
// never knows it is there, and a wrapped SessionStore keeps exactly the
// optional capabilities (latch.SessionUser, SessionCounter, SessionEvictor)
// of the store it wraps.
package instrumented

import (
	"context"
	"errors"
	"time"

	"github.com/latch-dev/latch"
)

// Observer returns the recorder of one method of one store. It is called
// once per method when a store is wrapped; the recorder is then called
// after every call with its duration and its fault: nil for a success and
// for the answers a store contract defines as normal (ErrNotFound,
// ErrEmailTaken, ErrRefreshReused) and for a caller that went away
// (context.Canceled), the error otherwise.
type Observer func(store, method string) func(d time.Duration, fault error)

// recorder times one method.
type recorder func(d time.Duration, fault error)

func (r recorder) done(start time.Time, err error) {
	if err != nil && (errors.Is(err, latch.ErrNotFound) || errors.Is(err, latch.ErrEmailTaken) ||
		errors.Is(err, latch.ErrRefreshReused) || errors.Is(err, context.Canceled)) {
		err = nil
	}
	r(time.Since(start), err)
}

var (
	_ latch.UserStore       = (*UserStore)(nil)
	_ latch.RevocationStore = (*RevocationStore)(nil)
	_ latch.SessionStore    = (*SessionStore)(nil)
)

// UserStore is a timed latch.UserStore.
type UserStore struct {
	next                                                  latch.UserStore
	create, byID, byEmail, update, updateEmail, del, list recorder
}

// Users wraps next, reporting to obs as store name.
func Users(next latch.UserStore, name string, obs Observer) *UserStore {
	return &UserStore{next: next,
		create: recorder(obs(name, "CreateUser")), byID: recorder(obs(name, "UserByID")),
		byEmail: recorder(obs(name, "UserByEmail")), update: recorder(obs(name, "UpdateUser")),
		updateEmail: recorder(obs(name, "UpdateEmail")), del: recorder(obs(name, "DeleteUser")),
		list: recorder(obs(name, "ListUsers"))}
}

// CreateUser implements latch.UserStore.
func (s *UserStore) CreateUser(ctx context.Context, u *latch.User) error {
	start := time.Now()
	err := s.next.CreateUser(ctx, u)
	s.create.done(start, err)
	return err
}

// UserByID implements latch.UserStore.
func (s *UserStore) UserByID(ctx context.Context, id string) (*latch.User, error) {
	start := time.Now()
	u, err := s.next.UserByID(ctx, id)
	s.byID.done(start, err)
	return u, err
}

// UserByEmail implements latch.UserStore.
func (s *UserStore) UserByEmail(ctx context.Context, email string) (*latch.User, error) {
	start := time.Now()
	u, err := s.next.UserByEmail(ctx, email)
	s.byEmail.done(start, err)
	return u, err
}

// UpdateUser implements latch.UserStore.
func (s *UserStore) UpdateUser(ctx context.Context, u *latch.User) error {
	start := time.Now()
	err := s.next.UpdateUser(ctx, u)
	s.update.done(start, err)
	return err
}

// UpdateEmail implements latch.UserStore.
func (s *UserStore) UpdateEmail(ctx context.Context, u *latch.User) error {
	start := time.Now()
	err := s.next.UpdateEmail(ctx, u)
	s.updateEmail.done(start, err)
	return err
}

// DeleteUser implements latch.UserStore.
func (s *UserStore) DeleteUser(ctx context.Context, id string) error {
	start := time.Now()
	err := s.next.DeleteUser(ctx, id)
	s.del.done(start, err)
	return err
}

// ListUsers implements latch.UserStore.
func (s *UserStore) ListUsers(ctx context.Context, after string, limit int) ([]*latch.User, error) {
	start := time.Now()
	us, err := s.next.ListUsers(ctx, after, limit)
	s.list.done(start, err)
	return us, err
}

// RevocationStore is a timed latch.RevocationStore.
type RevocationStore struct {
	next                latch.RevocationStore
	add, since, expired recorder
}

// Revocations wraps next, reporting to obs as store name.
func Revocations(next latch.RevocationStore, name string, obs Observer) *RevocationStore {
	return &RevocationStore{next: next, add: recorder(obs(name, "AddRevocations")),
		since: recorder(obs(name, "RevocationsSince")), expired: recorder(obs(name, "DeleteExpiredRevocations"))}
}

// AddRevocations implements latch.RevocationStore.
func (s *RevocationStore) AddRevocations(ctx context.Context, revs []*latch.Revocation) error {
	start := time.Now()
	err := s.next.AddRevocations(ctx, revs)
	s.add.done(start, err)
	return err
}

// RevocationsSince implements latch.RevocationStore.
func (s *RevocationStore) RevocationsSince(ctx context.Context, after int64, now time.Time, limit int) ([]*latch.Revocation, error) {
	start := time.Now()
	revs, err := s.next.RevocationsSince(ctx, after, now, limit)
	s.since.done(start, err)
	return revs, err
}

// DeleteExpiredRevocations implements latch.RevocationStore.
func (s *RevocationStore) DeleteExpiredRevocations(ctx context.Context, now time.Time) (int, error) {
	start := time.Now()
	n, err := s.next.DeleteExpiredRevocations(ctx, now)
	s.expired.done(start, err)
	return n, err
}
