package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latch-dev/latch"
)

func newUser() *latch.User {
	return &latch.User{
		ID:           newID(),
		Email:        newID() + "@example.com",
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$" + newID(),
		Role:         latch.DefaultRole,
		CreatedAt:    t0,
		UpdatedAt:    t0,
	}
}

func mustCreateUser(t *testing.T, st latch.UserStore, u *latch.User) {
	t.Helper()
	if err := st.CreateUser(ctx(t), u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
}

func testUsers(t *testing.T, s Stores, open func(*testing.T) Stores) {
	st := s.Users

	t.Run("CreateUser then lookups", func(t *testing.T) {
		u := newUser()
		u.Disabled = true
		u.EmailVerified = true
		mustCreateUser(t, st, u)
		got, err := st.UserByID(ctx(t), u.ID)
		wantErr(t, "UserByID", err, nil)
		mustEqual(t, "UserByID", got, u)
		got, err = st.UserByEmail(ctx(t), u.Email)
		wantErr(t, "UserByEmail", err, nil)
		mustEqual(t, "UserByEmail", got, u)
	})

	t.Run("CreateUser email taken", func(t *testing.T) {
		first := newUser()
		mustCreateUser(t, st, first)
		second := newUser()
		second.Email = first.Email // emails arrive normalised: equal means taken
		wantErr(t, "CreateUser with a registered email", st.CreateUser(ctx(t), second), latch.ErrEmailTaken)
		got, err := st.UserByEmail(ctx(t), first.Email)
		wantErr(t, "UserByEmail", err, nil)
		mustEqual(t, "the account holding the email", got, first)
		_, err = st.UserByID(ctx(t), second.ID)
		wantErr(t, "UserByID of the refused user", err, latch.ErrNotFound)
	})

	t.Run("lookups of unknown users", func(t *testing.T) {
		known := newUser()
		mustCreateUser(t, st, known)
		for _, c := range []struct {
			name   string
			lookup func() (*latch.User, error)
		}{
			{"UserByID unknown", func() (*latch.User, error) { return st.UserByID(ctx(t), newID()) }},
			{"UserByID empty", func() (*latch.User, error) { return st.UserByID(ctx(t), "") }},
			{"UserByEmail unknown", func() (*latch.User, error) { return st.UserByEmail(ctx(t), newID()+"@example.com") }},
			// Emails are compared exactly: normalising is the caller's job.
			{"UserByEmail other case", func() (*latch.User, error) { return st.UserByEmail(ctx(t), strings.ToUpper(known.Email)) }},
			{"UserByEmail empty", func() (*latch.User, error) { return st.UserByEmail(ctx(t), "") }},
		} {
			t.Run(c.name, func(t *testing.T) {
				u, err := c.lookup()
				wantErr(t, c.name, err, latch.ErrNotFound)
				if u != nil {
					t.Errorf("%s returned %+v with ErrNotFound, want nil", c.name, u)
				}
			})
		}
	})

	t.Run("UpdateUser", func(t *testing.T) {
		u := newUser()
		mustCreateUser(t, st, u)
		upd := clone(u)
		upd.PasswordHash = "$argon2id$v=19$m=65536,t=3,p=1$" + newID()
		upd.Role = "admin"
		upd.Disabled = true
		upd.UpdatedAt = t0.Add(time.Hour)
		// Neither the email nor the creation time is UpdateUser's to write.
		upd.Email = newID() + "@example.com"
		upd.CreatedAt = t0.Add(2 * time.Hour)
		wantErr(t, "UpdateUser", st.UpdateUser(ctx(t), upd), nil)

		want := clone(u)
		want.PasswordHash, want.Role, want.Disabled, want.UpdatedAt = upd.PasswordHash, upd.Role, upd.Disabled, upd.UpdatedAt
		got, err := st.UserByID(ctx(t), u.ID)
		wantErr(t, "UserByID", err, nil)
		mustEqual(t, "UserByID after UpdateUser", got, want)
		got, err = st.UserByEmail(ctx(t), u.Email)
		wantErr(t, "UserByEmail of the unchanged email", err, nil)
		mustEqual(t, "UserByEmail after UpdateUser", got, want)
		_, err = st.UserByEmail(ctx(t), upd.Email)
		wantErr(t, "UserByEmail of the email UpdateUser must not write", err, latch.ErrNotFound)

		// And back: Disabled must be writable both ways.
		upd.Disabled = false
		wantErr(t, "UpdateUser enabling", st.UpdateUser(ctx(t), upd), nil)
		got, err = st.UserByID(ctx(t), u.ID)
		wantErr(t, "UserByID", err, nil)
		if got.Disabled {
			t.Errorf("Disabled = true after UpdateUser with Disabled false")
		}
	})

	t.Run("UpdateEmail", func(t *testing.T) {
		u := newUser()
		mustCreateUser(t, st, u)
		upd := clone(u)
		upd.Email = newID() + "@example.com"
		upd.EmailVerified = true
		upd.UpdatedAt = t0.Add(time.Hour)
		// Nothing else is UpdateEmail's to write.
		upd.PasswordHash, upd.Role, upd.Disabled, upd.CreatedAt = "other", "admin", true, t0.Add(2*time.Hour)
		wantErr(t, "UpdateEmail", st.UpdateEmail(ctx(t), upd), nil)
		want := clone(u)
		want.Email, want.EmailVerified, want.UpdatedAt = upd.Email, true, upd.UpdatedAt
		got, err := st.UserByID(ctx(t), u.ID)
		wantErr(t, "UserByID", err, nil)
		mustEqual(t, "UserByID after UpdateEmail", got, want)
		got, err = st.UserByEmail(ctx(t), upd.Email)
		wantErr(t, "UserByEmail of the new address", err, nil)
		mustEqual(t, "UserByEmail of the new address", got, want)
		_, err = st.UserByEmail(ctx(t), u.Email)
		wantErr(t, "UserByEmail of the old address", err, latch.ErrNotFound)

		// The same address again (verifying it) is no conflict with itself.
		want.EmailVerified = false
		wantErr(t, "UpdateEmail to its own address", st.UpdateEmail(ctx(t), want), nil)
		got, err = st.UserByID(ctx(t), u.ID)
		wantErr(t, "UserByID", err, nil)
		mustEqual(t, "UserByID after UpdateEmail to its own address", got, want)

		// The old address is free for another account.
		other := newUser()
		other.Email = u.Email
		mustCreateUser(t, st, other)

		// Another account's address is taken, and nothing changes.
		taken := clone(want)
		taken.Email = other.Email
		wantErr(t, "UpdateEmail to a registered address", st.UpdateEmail(ctx(t), taken), latch.ErrEmailTaken)
		got, err = st.UserByID(ctx(t), u.ID)
		wantErr(t, "UserByID", err, nil)
		mustEqual(t, "UserByID after a refused UpdateEmail", got, want)
	})

	t.Run("UpdateEmail unknown", func(t *testing.T) {
		wantErr(t, "UpdateEmail of an unknown user", st.UpdateEmail(ctx(t), newUser()), latch.ErrNotFound)
	})

	t.Run("UpdateUser unknown", func(t *testing.T) {
		u := newUser()
		wantErr(t, "UpdateUser of an unknown user", st.UpdateUser(ctx(t), u), latch.ErrNotFound)
		_, err := st.UserByID(ctx(t), u.ID)
		wantErr(t, "UserByID after UpdateUser of an unknown user", err, latch.ErrNotFound)
	})

	t.Run("DeleteUser", func(t *testing.T) {
		u, other := newUser(), newUser()
		mustCreateUser(t, st, u)
		mustCreateUser(t, st, other)
		wantErr(t, "DeleteUser", st.DeleteUser(ctx(t), u.ID), nil)
		_, err := st.UserByID(ctx(t), u.ID)
		wantErr(t, "UserByID of a deleted user", err, latch.ErrNotFound)
		_, err = st.UserByEmail(ctx(t), u.Email)
		wantErr(t, "UserByEmail of a deleted user", err, latch.ErrNotFound)
		wantErr(t, "DeleteUser again", st.DeleteUser(ctx(t), u.ID), latch.ErrNotFound)
		wantErr(t, "DeleteUser unknown", st.DeleteUser(ctx(t), newID()), latch.ErrNotFound)
		got, err := st.UserByID(ctx(t), other.ID)
		wantErr(t, "UserByID of another user", err, nil)
		mustEqual(t, "another user after DeleteUser", got, other)
		// The email is free again.
		again := newUser()
		again.Email = u.Email
		wantErr(t, "CreateUser with a deleted user's email", st.CreateUser(ctx(t), again), nil)
	})

	t.Run("ListUsers", func(t *testing.T) {
		st := open(t).Users // the listing covers the whole store
		var want []*latch.User
		// Bytewise order: upper case before lower, "a-" before "a.".
		for _, e := range []string{"b@example.com", "a.z@example.com", "a-z@example.com", "Zed@example.com", "c@example.com"} {
			u := newUser()
			u.Email = e
			mustCreateUser(t, st, u)
			want = append(want, u)
		}
		slices.SortFunc(want, func(a, b *latch.User) int { return strings.Compare(a.Email, b.Email) })
		emails := func(us []*latch.User) []string {
			var es []string
			for _, u := range us {
				es = append(es, u.Email)
			}
			return es
		}
		for _, c := range []struct {
			name  string
			after string
			limit int
			want  []*latch.User
		}{
			{"all", "", 0, want},
			{"first page", "", 2, want[:2]},
			{"next page", want[1].Email, 2, want[2:4]},
			{"last page", want[3].Email, 2, want[4:]},
			{"past the end", want[4].Email, 2, nil},
		} {
			t.Run(c.name, func(t *testing.T) {
				got, err := st.ListUsers(ctx(t), c.after, c.limit)
				wantErr(t, "ListUsers", err, nil)
				if !slices.Equal(emails(got), emails(c.want)) {
					t.Fatalf("ListUsers(%q, %d) = %v, want %v", c.after, c.limit, emails(got), emails(c.want))
				}
				for i := range got {
					mustEqual(t, "listed user", got[i], c.want[i])
				}
			})
		}
		wantErr(t, "DeleteUser", st.DeleteUser(ctx(t), want[0].ID), nil)
		got, err := st.ListUsers(ctx(t), "", 0)
		wantErr(t, "ListUsers", err, nil)
		if !slices.Equal(emails(got), emails(want[1:])) {
			t.Errorf("ListUsers after DeleteUser = %v, want %v", emails(got), emails(want[1:]))
		}
	})

	t.Run("no aliasing", func(t *testing.T) {
		// A store must not keep the caller's struct, nor hand out its own.
		u := newUser()
		want := clone(u)
		mustCreateUser(t, st, u)
		u.Role = "mutated-after-create"
		got, err := st.UserByID(ctx(t), want.ID)
		wantErr(t, "UserByID", err, nil)
		mustEqual(t, "UserByID after the caller changed its struct", got, want)
		got.Role = "mutated-after-read"
		again, err := st.UserByID(ctx(t), want.ID)
		wantErr(t, "UserByID", err, nil)
		mustEqual(t, "UserByID after the caller changed a returned struct", again, want)
	})
}
