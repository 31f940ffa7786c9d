package http_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/password"
)

func loginBody(addr, pw string) map[string]string {
	return map[string]string{"email": addr, "password": pw}
}

// SECURITY.md 35
func TestLogin_NoEnumeration(t *testing.T) {
	ts := newTestServer(t, withLockout(1000, time.Minute))
	addr, pw := ts.newUser(t)

	cases := []struct {
		name, email, password string
	}{
		{"wrong password", addr, pw + "-wrong"},
		{"unknown email", "nobody-here@example.com", pw + "-wrong"},
		{"unknown email, the right password of another account", "nobody-else@example.com", pw},
		{"email that does not normalise", "not an address", pw},
	}
	var first *response
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := ts.Hasher.compares.Load()
			r := ts.do(t, "POST", "/v1/login", loginBody(tc.email, tc.password))
			r.want(t, 401, "invalid_credentials")
			if n := ts.Hasher.compares.Load() - before; n != 1 {
				t.Fatalf("%d password comparisons, want 1: unknown and known emails hash alike", n)
			}
			if first == nil {
				first = r
				return
			}
			if string(r.Body) != string(first.Body) {
				t.Errorf("body %s differs from the wrong-password body %s", r.Body, first.Body)
			}
			if got, want := headerSet(r.Header), headerSet(first.Header); !reflect.DeepEqual(got, want) {
				t.Errorf("headers %v differ from the wrong-password headers %v", got, want)
			}
		})
	}
}

// SECURITY.md 35 (timing: the dummy hash costs what a real one does)
func TestLogin_NoEnumerationTiming(t *testing.T) {
	// Parameters heavy enough that hashing dominates a login's time.
	ts := newTestServer(t, withLockout(1000, time.Minute),
		withParams(password.Params{Memory: 8 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}))
	addr, pw := ts.newUser(t)
	timeOf := func(email string) time.Duration {
		start := time.Now()
		ts.do(t, "POST", "/v1/login", loginBody(email, pw+"-wrong")).want(t, 401, "invalid_credentials")
		return time.Since(start)
	}
	sameMedianTime(t, "login", 9, timeOf, addr)
}

// sameMedianTime times n requests for a known address and n for unknown
// ones, alternating, and fails unless their median times are within a
// factor of two: the answer must not tell which addresses have accounts.
func sameMedianTime(t *testing.T, what string, n int, timeOf func(email string) time.Duration, known string) {
	t.Helper()
	var k, u []time.Duration
	for i := range n {
		k = append(k, timeOf(known))
		u = append(u, timeOf(fmt.Sprintf("nobody%d@example.com", i)))
	}
	slices.Sort(k)
	slices.Sort(u)
	km, um := k[n/2], u[n/2]
	if ratio := float64(um) / float64(km); ratio < 0.5 || ratio > 2 {
		t.Fatalf("median %s time: unknown address %v, known %v (ratio %.2f, want within [0.5, 2])", what, um, km, ratio)
	}
}

// SECURITY.md 36
func TestLogin_LockoutPerAccount(t *testing.T) {
	const window = 15 * time.Minute
	ts := newTestServer(t, withLockout(5, window))

	lockOut := func(t *testing.T, emails []string) {
		t.Helper()
		for i := range 5 {
			// A fresh X-Forwarded-For each time: the lock must not be keyed on it.
			r := ts.do(t, "POST", "/v1/login", loginBody(emails[i%len(emails)], "wrong-password-123"),
				header("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i)))
			r.want(t, 401, "invalid_credentials")
			ts.Clock.Advance(time.Second)
		}
	}
	retryAfter := func(t *testing.T, r *response) int {
		t.Helper()
		n, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || n < 1 {
			t.Fatalf("Retry-After %q, want whole seconds >= 1", r.Header.Get("Retry-After"))
		}
		return n
	}

	t.Run("known account, lock lifts when the window passes", func(t *testing.T) {
		addr, pw := ts.newUser(t)
		lockOut(t, []string{addr, strings.ToUpper(addr), "  " + addr + " "}) // one account, however spelt
		r := ts.do(t, "POST", "/v1/login", loginBody(addr, pw), header("X-Forwarded-For", "203.0.113.9"))
		r.want(t, 429, "rate_limited")
		if len(r.setCookies()) != 0 {
			t.Fatal("a locked login set cookies")
		}
		// The oldest failure was 5 s ago: the lock lifts when it leaves the window.
		if n := retryAfter(t, r); n != int((window-5*time.Second)/time.Second) {
			t.Fatalf("Retry-After %d, want %d", n, int((window-5*time.Second)/time.Second))
		}
		ts.Clock.Advance(window - 6*time.Second)
		ts.do(t, "POST", "/v1/login", loginBody(addr, pw)).want(t, 429, "rate_limited")
		ts.Clock.Advance(time.Second)
		ts.MustLogin(t, addr, pw)
	})

	t.Run("unknown account locks the same way", func(t *testing.T) {
		known, _ := ts.newUser(t)
		lockOut(t, []string{known})
		lockOut(t, []string{"ghost@example.com"})
		k := ts.do(t, "POST", "/v1/login", loginBody(known, "wrong-password-123"))
		u := ts.do(t, "POST", "/v1/login", loginBody("ghost@example.com", "wrong-password-123"))
		k.want(t, 429, "rate_limited")
		u.want(t, 429, "rate_limited")
		if string(k.Body) != string(u.Body) {
			t.Fatalf("locked bodies differ: %s vs %s", k.Body, u.Body)
		}
		kh, uh := headerSet(k.Header), headerSet(u.Header)
		kh.Del("Retry-After")
		uh.Del("Retry-After")
		if !reflect.DeepEqual(kh, uh) {
			t.Fatalf("locked headers differ: %v vs %v", kh, uh)
		}
		ts.Clock.Advance(window)
	})

	t.Run("other accounts from the same address are not locked", func(t *testing.T) {
		victim, _ := ts.newUser(t)
		other, opw := ts.newUser(t)
		lockOut(t, []string{victim})
		ts.MustLogin(t, other, opw)
		ts.Clock.Advance(window)
	})

	t.Run("a success resets the count", func(t *testing.T) {
		addr, pw := ts.newUser(t)
		for range 4 {
			ts.do(t, "POST", "/v1/login", loginBody(addr, "wrong-password-123")).want(t, 401, "invalid_credentials")
		}
		ts.MustLogin(t, addr, pw)
		for range 4 {
			ts.do(t, "POST", "/v1/login", loginBody(addr, "wrong-password-123")).want(t, 401, "invalid_credentials")
		}
		ts.MustLogin(t, addr, pw)
	})
}

// SECURITY.md 36 (the current password of a password change is a credential check too)
func TestPasswordChange_SharesTheLockout(t *testing.T) {
	const window = 15 * time.Minute
	ts := newTestServer(t, withLockout(5, window))
	addr, pw := ts.newUser(t)
	s := ts.MustLogin(t, addr, pw) // a stolen session guessing the password
	change := func(current string) *response {
		return ts.do(t, "POST", "/v1/password", map[string]string{"current_password": current, "new_password": "the-new-password-1"}, as(s))
	}
	for i := range 5 {
		change(fmt.Sprintf("guess-number-%d", i)).want(t, 403, "wrong_password")
	}
	r := change(pw)
	r.want(t, 429, "rate_limited")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	ts.do(t, "POST", "/v1/login", loginBody(addr, pw)).want(t, 429, "rate_limited")
	ts.Clock.Advance(window)
	// The lock has lifted; the stolen session is too old for a change now
	// (--reauth-window), and a fresh login may make it.
	change(pw).want(t, 403, "reauth_required")
	s = ts.MustLogin(t, addr, pw)
	change(pw).want(t, 204, "")
}

// SECURITY.md 36 (the per-IP bucket, keyed on the peer address)
func TestLogin_IPRateLimit(t *testing.T) {
	ts := newTestServer(t, withIPRate(1), withLockout(1000, time.Minute)) // 1/s, burst 3
	addr, pw := ts.newUser(t)
	ts.Clock.Advance(10 * time.Second) // the signup took a token

	fromPeer := func(peer, path string, body any, xff string) *httptest.ResponseRecorder {
		req, err := ts.newRequest("POST", path, body, header("X-Forwarded-For", xff))
		if err != nil {
			t.Fatal(err)
		}
		return ts.serve(t, req, peer)
	}
	for i := range 3 {
		if rec := fromPeer("192.0.2.1:1000", "/v1/login", loginBody(addr, pw), fmt.Sprint("10.0.0.", i)); rec.Code != 200 {
			t.Fatalf("attempt %d within the burst: %d", i+1, rec.Code)
		}
	}
	for _, path := range []string{"/v1/login", "/v1/signup"} {
		rec := fromPeer("192.0.2.1:1001", path, loginBody(addr, pw), "10.0.0.99") // a new port, a forged XFF
		if rec.Code != 429 || rec.Header().Get("Retry-After") != "1" {
			t.Fatalf("%s beyond the burst: %d Retry-After %q, want 429 with Retry-After 1", path, rec.Code, rec.Header().Get("Retry-After"))
		}
	}
	if rec := fromPeer("192.0.2.2:1000", "/v1/login", loginBody(addr, pw), ""); rec.Code != 200 {
		t.Fatalf("another peer: %d, want 200", rec.Code)
	}
	ts.Clock.Advance(time.Second)
	if rec := fromPeer("192.0.2.1:1000", "/v1/login", loginBody(addr, pw), ""); rec.Code != 200 {
		t.Fatalf("a second later: %d, want 200", rec.Code)
	}
}

// SECURITY.md 37
func TestPassword_Length(t *testing.T) {
	ts := newTestServer(t)
	pw := func(n int, last byte) string { return strings.Repeat("Zq7", n/3+1)[:n-1] + string(last) }

	t.Run("signup bounds", func(t *testing.T) {
		for _, tc := range []struct {
			n      int
			status int
		}{
			{0, 400}, {1, 400}, {7, 400}, {8, 201}, {73, 201}, {1024, 201}, {1025, 400}, {60 << 10, 400},
		} {
			p := ""
			if tc.n > 0 {
				p = pw(tc.n, 'x')
			}
			before := ts.Hasher.hashes.Load()
			r := ts.do(t, "POST", "/v1/signup", loginBody(fmt.Sprintf("len%d@example.com", tc.n), p))
			if r.Status != tc.status {
				t.Fatalf("%d-byte password: %d, want %d: %s", tc.n, r.Status, tc.status, r.Body)
			}
			if tc.status == 400 {
				if r.code() != "weak_password" {
					t.Fatalf("%d-byte password: code %q, want weak_password", tc.n, r.code())
				}
				if ts.Hasher.hashes.Load() != before {
					t.Fatalf("%d-byte password was hashed before it was refused", tc.n)
				}
			}
		}
	})

	t.Run("never truncated", func(t *testing.T) {
		for _, n := range []int{72, 73, 100, 1024} {
			addr := fmt.Sprintf("trunc%d@example.com", n)
			ts.MustSignup(t, addr, pw(n, 'a'))
			ts.do(t, "POST", "/v1/login", loginBody(addr, pw(n, 'b'))).want(t, 401, "invalid_credentials")
			ts.do(t, "POST", "/v1/login", loginBody(addr, pw(n, 'a')+"extra")).want(t, 401, "invalid_credentials")
			ts.MustLogin(t, addr, pw(n, 'a'))
		}
	})

	t.Run("compared as received", func(t *testing.T) {
		addr, p := "asreceived@example.com", "Ｓecret-Pass 42" // fullwidth S, inner space
		ts.MustSignup(t, addr, p)
		for _, variant := range []string{"Secret-Pass 42", " Ｓecret-Pass 42", "Ｓecret-Pass 42 ", "ｓecret-pass 42"} {
			ts.do(t, "POST", "/v1/login", loginBody(addr, variant)).want(t, 401, "invalid_credentials")
		}
		ts.MustLogin(t, addr, p)
	})

	t.Run("over-long login input refused before hashing", func(t *testing.T) {
		addr := "trunc1024@example.com"
		before := ts.Hasher.compares.Load()
		for _, n := range []int{1025, 60 << 10} {
			ts.do(t, "POST", "/v1/login", loginBody(addr, pw(n, 'a'))).want(t, 401, "invalid_credentials")
			ts.do(t, "POST", "/v1/login", loginBody("unknown-long@example.com", pw(n, 'a'))).want(t, 401, "invalid_credentials")
		}
		if n := ts.Hasher.compares.Load() - before; n != 0 {
			t.Fatalf("%d comparisons of over-long passwords, want 0", n)
		}
		ts.Clock.Advance(time.Hour) // lift the lock those failures set
	})
}

// SECURITY.md 38
func TestPassword_CommonRefused(t *testing.T) {
	ts := newTestServer(t)
	// Every refusal is the same document: none can echo its password.
	ref := ts.do(t, "POST", "/v1/signup", loginBody("short@example.com", "short"))
	ref.want(t, 400, "weak_password")
	for i, p := range []string{
		"password", "password123", "12345678", "qwertyuiop",
		"PASSWORD123", " password ", "ｐａｓｓｗｏｒｄ", // folded the way emails are
		"common-pw@example.com", // equal to the email
	} {
		before := ts.Hasher.hashes.Load()
		addr := fmt.Sprintf("common%d@example.com", i)
		if strings.Contains(p, "@") {
			addr = p
		}
		r := ts.do(t, "POST", "/v1/signup", loginBody(addr, p))
		r.want(t, 400, "weak_password")
		if ts.Hasher.hashes.Load() != before {
			t.Fatalf("%q was hashed before it was refused", p)
		}
		if string(r.Body) != string(ref.Body) {
			t.Fatalf("refusal of %q is %s, want the generic %s", p, r.Body, ref.Body)
		}
	}

	t.Run("password change", func(t *testing.T) {
		addr, pw := ts.newUser(t)
		s := ts.MustLogin(t, addr, pw)
		ts.do(t, "POST", "/v1/password", map[string]string{"current_password": pw, "new_password": "password123"}, as(s)).
			want(t, 400, "weak_password")
		ts.MustLogin(t, addr, pw)
	})
}

// SECURITY.md 39
func TestPassword_Argon2id(t *testing.T) {
	t.Run("default parameters", func(t *testing.T) {
		ts := newTestServer(t, withDefaultParams())
		addr, pw := ts.newUser(t)
		u, err := ts.Users.UserByEmail(context.Background(), addr)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$") {
			t.Fatalf("stored hash %q is not an argon2id PHC string", u.PasswordHash)
		}
		p, err := password.ParseParams(u.PasswordHash)
		if err != nil {
			t.Fatal(err)
		}
		if p.Memory < 19*1024 || p.Time < 2 || p.Threads != 1 {
			t.Fatalf("stored parameters m=%d t=%d p=%d, want m >= 19456, t >= 2, p = 1", p.Memory, p.Time, p.Threads)
		}
		if strings.Contains(u.PasswordHash, pw) {
			t.Fatal("the stored hash contains the password")
		}
		ts.MustLogin(t, addr, pw)
	})

	t.Run("rehash on login when parameters rise", func(t *testing.T) {
		stronger := password.Params{Memory: 256, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
		ts := newTestServer(t, withParams(stronger))
		weak, err := password.New(password.Config{Params: smallParams})
		if err != nil {
			t.Fatal(err)
		}
		const addr, pw = "old-hash@example.com", "an-old-password-42"
		old, err := weak.Hash(context.Background(), pw)
		if err != nil {
			t.Fatal(err)
		}
		now := ts.Clock.Now()
		if err := ts.Users.CreateUser(context.Background(), &latch.User{ID: "old-user", Email: addr, PasswordHash: old,
			Role: latch.DefaultRole, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		stored := func() string {
			u, err := ts.Users.UserByID(context.Background(), "old-user")
			if err != nil {
				t.Fatal(err)
			}
			return u.PasswordHash
		}

		ts.do(t, "POST", "/v1/login", loginBody(addr, pw+"x")).want(t, 401, "invalid_credentials")
		if stored() != old {
			t.Fatal("a failed login changed the stored hash")
		}
		ts.MustLogin(t, addr, pw)
		upgraded := stored()
		p, err := password.ParseParams(upgraded)
		if err != nil {
			t.Fatal(err)
		}
		if p != stronger {
			t.Fatalf("after login the stored parameters are %+v, want %+v", p, stronger)
		}
		ts.MustLogin(t, addr, pw)
		if stored() != upgraded {
			t.Fatal("a login with current parameters rehashed again")
		}
	})
}

// SECURITY.md 40
func TestEmail_Normalisation(t *testing.T) {
	ts := newTestServer(t)
	const pw = "normalised-pw-42"
	r := ts.do(t, "POST", "/v1/signup", loginBody("  Alice.Example@Example.COM ", pw))
	r.want(t, 201, "")
	if got := r.str(t, "user.email"); got != "alice.example@example.com" {
		t.Fatalf("stored email %q, want alice.example@example.com", got)
	}
	id := r.str(t, "user.id")

	spellings := []string{
		"alice.example@example.com",
		"ALICE.EXAMPLE@EXAMPLE.COM",
		"\u00a0alice.example@example.com\u2003", // Unicode spaces
		"ａｌｉｃｅ.ｅｘａｍｐｌｅ@ｅｘａｍｐｌｅ.ｃｏｍ",             // fullwidth: NFKC
	}
	for _, s := range spellings {
		t.Run(s, func(t *testing.T) {
			ts.do(t, "POST", "/v1/signup", loginBody(s, pw)).want(t, 409, "email_taken")
			if got := ts.MustLogin(t, s, pw).UserID; got != id {
				t.Fatalf("login as %q is user %s, want %s", s, got, id)
			}
		})
	}

	t.Run("254 bytes", func(t *testing.T) {
		long := strings.Repeat("b", 64) + "@" + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63) + "." + strings.Repeat("e", 57) + ".com"
		if len(long) != 254 {
			t.Fatalf("built a %d-byte address", len(long))
		}
		ts.do(t, "POST", "/v1/signup", loginBody(long, pw)).want(t, 201, "")
	})
	for _, tc := range []struct{ name, email string }{
		{"CR LF inside", "bob@example.com\r\nBcc: x@example.com"},
		{"NUL", "bob\x00@example.com"},
		{"tab inside", "bo\tb@example.com"},
		{"invalid UTF-8", "b\xffob@example.com"},
		{"no at sign", "bob.example.com"},
		{"255 bytes", strings.Repeat("b", 64) + "@" + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63) + "." + strings.Repeat("e", 58) + ".com"},
		{"empty", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do(t, "POST", "/v1/signup", loginBody(tc.email, pw))
			r.want(t, 400, "invalid_email")
			if tc.email != "" && strings.Contains(string(r.Body), tc.email) {
				t.Fatalf("the error echoes the address: %s", r.Body)
			}
		})
	}

	t.Run("throttle keys stay bounded", func(t *testing.T) {
		huge := strings.Repeat("x", 60<<10) + "@example.com" // does not normalise
		ts.do(t, "POST", "/v1/login", loginBody(huge, pw)).want(t, 401, "invalid_credentials")
		if n := ts.Throttle.longest.Load(); n > 300 {
			t.Fatalf("the login throttle keeps a %d-byte key for one address", n)
		}
	})
}
