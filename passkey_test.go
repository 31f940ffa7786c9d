package latch_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/internal/testkit/authenticator"
	"github.com/latch-dev/latch/memory"
	"github.com/latch-dev/latch/webauthn"
)

// The relying party of the domain tests.
const (
	rpID     = "latch.test"
	rpOrigin = "https://latch.test"
)

// eventLog records what the Service reports.
type eventLog struct {
	mu     sync.Mutex
	events []latch.Event
}

func (l *eventLog) record(_ context.Context, e latch.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

// of returns the events of kind.
func (l *eventLog) of(kind latch.EventKind) []latch.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []latch.Event
	for _, e := range l.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// withPasskeys gives the Service second factors and a relying party, as
// `latch serve` does, and records its events in log (when not nil).
func withPasskeys(t testing.TB, factors *memory.FactorStore, log *eventLog) domainOption {
	t.Helper()
	rp, err := webauthn.New(webauthn.Config{RPID: rpID, Origins: []string{rpOrigin}})
	if err != nil {
		t.Fatal(err)
	}
	return func(c *latch.Config, d *latch.Deps, s *domainSetup) {
		withMFA(factors)(c, d, s)
		d.WebAuthn = rp
		if log != nil {
			d.OnEvent = log.record
		}
	}
}

// passkeyAccount is an account whose person holds a platform authenticator.
type passkeyAccount struct {
	email string
	user  *latch.User
	auth  *authenticator.Authenticator
	p     *latch.Principal // the session of the password login that added the passkey
	pk    *latch.Passkey
}

// addPasskey registers a passkey of a's authenticator for p's account.
func (d *domain) addPasskey(t testing.TB, p *latch.Principal, a *authenticator.Authenticator, name string) *latch.Passkey {
	t.Helper()
	ctx := context.Background()
	opts, err := d.BeginPasskeyRegistration(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := d.FinishPasskeyRegistration(ctx, p, resp, name)
	if err != nil {
		t.Fatal(err)
	}
	return pk
}

// enrolPasskey signs up, logs in with the password and adds a passkey.
func enrolPasskey(t testing.TB, d *domain, addr string) *passkeyAccount {
	t.Helper()
	u := d.signup(t, addr, mfaPassword)
	p := d.principal(t, d.login(t, addr, mfaPassword, latch.KindSession))
	a := &passkeyAccount{email: addr, user: u, auth: authenticator.New(rpOrigin), p: p}
	a.pk = d.addPasskey(t, p, a.auth, "")
	return a
}

// passwordless runs both steps of a passkey login with a's authenticator.
func (d *domain) passwordless(t testing.TB, a *authenticator.Authenticator, mode latch.SessionKind) (*latch.LoginResult, error) {
	t.Helper()
	ctx := context.Background()
	opts, err := d.BeginPasskeyLogin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	return d.FinishPasskeyLogin(ctx, latch.PasskeyLoginRequest{Credential: resp, Mode: mode, Carry: "body"})
}

func TestPasskey_register(t *testing.T) {
	factors, log := &memory.FactorStore{}, &eventLog{}
	d := newDomain(t, withPasskeys(t, factors, log))
	ctx := context.Background()
	a := enrolPasskey(t, d, "ada@example.com")
	if a.pk.Name != "Passkey 1" || a.pk.UserID != a.user.ID || !a.pk.CreatedAt.Equal(d.Clock.Now()) || !a.pk.LastUsedAt.IsZero() {
		t.Fatalf("passkey %+v", a.pk)
	}
	if e := log.of(latch.EventPasskeyAdded); len(e) != 1 || e[0].UserID != a.user.ID || e[0].Detail != "Passkey 1" {
		t.Fatalf("passkey_added events %+v", e)
	}

	// The same authenticator again: the options exclude its credential.
	opts, err := d.BeginPasskeyRegistration(ctx, a.p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.auth.Create(opts); !errors.Is(err, authenticator.ErrExcluded) {
		t.Fatalf("a second credential on one authenticator: %v", err)
	}
	// Another one, named; the list is oldest first.
	d.Clock.Advance(time.Second)
	laptop := d.addPasskey(t, a.p, authenticator.New(rpOrigin), "  Laptop  ")
	pks, err := d.Passkeys(ctx, a.p)
	if err != nil || len(pks) != 2 || pks[0].Name != "Passkey 1" || pks[1].Name != "Laptop" || laptop.Name != "Laptop" {
		t.Fatalf("passkeys %v, %v", pks, err)
	}
	d.Clock.Advance(time.Second)
	if third := d.addPasskey(t, a.p, authenticator.New(rpOrigin), ""); third.Name != "Passkey 3" {
		t.Fatalf("the third default name is %q", third.Name)
	}

	// A password login now owes a second factor: the passkey.
	if ch := d.challenge(t, a.email, latch.KindSession); !slices.Equal(ch.Methods, []string{"webauthn"}) {
		t.Fatalf("methods %v", ch.Methods)
	}
}

func TestPasskey_registrationRefusals(t *testing.T) {
	d := newDomain(t, withPasskeys(t, &memory.FactorStore{}, nil))
	ctx := context.Background()
	d.signup(t, "ada@example.com", mfaPassword)
	d.signup(t, "bob@example.com", mfaPassword)
	ada := d.principal(t, d.login(t, "ada@example.com", mfaPassword, latch.KindSession))
	bob := d.principal(t, d.login(t, "bob@example.com", mfaPassword, latch.KindToken))
	created := func(a *authenticator.Authenticator) []byte {
		t.Helper()
		opts, err := d.BeginPasskeyRegistration(ctx, ada)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := a.Create(opts)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	resp := created(authenticator.New(rpOrigin))
	if _, err := d.FinishPasskeyRegistration(ctx, bob, resp, ""); !errors.Is(err, latch.ErrInvalidToken) {
		t.Fatalf("another account finishing ada's ceremony: %v", err)
	}
	if _, err := d.FinishPasskeyRegistration(ctx, ada, resp, "x\x00y"); !errors.Is(err, latch.ErrInvalidRequest) {
		t.Fatalf("a name with a control character: %v", err)
	}
	if _, err := d.FinishPasskeyRegistration(ctx, ada, resp, strings.Repeat("é", 65)); !errors.Is(err, latch.ErrInvalidRequest) {
		t.Fatalf("a 65-character name: %v", err)
	}
	if _, err := d.FinishPasskeyRegistration(ctx, ada, resp, strings.Repeat("é", 64)); err != nil {
		t.Fatalf("a 64-character name: %v", err)
	}
	if _, err := d.FinishPasskeyRegistration(ctx, ada, resp, ""); !errors.Is(err, latch.ErrInvalidToken) {
		t.Fatalf("the same ceremony twice: %v", err)
	}
	if _, err := d.FinishPasskeyRegistration(ctx, ada, []byte(`{"id": "x"}`), ""); !errors.Is(err, latch.ErrInvalidRequest) {
		t.Fatalf("not a WebAuthn response: %v", err)
	}

	for name, bend := range map[string]func(a *authenticator.Authenticator){
		"another origin": func(a *authenticator.Authenticator) { a.Origin = "https://latch.example" },
		"another rp ID":  func(a *authenticator.Authenticator) { a.RPID = "latch.example" },
	} {
		a := authenticator.New(rpOrigin)
		bend(a)
		if _, err := d.FinishPasskeyRegistration(ctx, ada, created(a), ""); !errors.Is(err, latch.ErrInvalidRequest) {
			t.Errorf("%s: %v, want ErrInvalidRequest", name, err)
		}
	}

	resp = created(authenticator.New(rpOrigin))
	d.Clock.Advance(latch.PasskeyCeremonyTTL)
	if _, err := d.FinishPasskeyRegistration(ctx, ada, resp, ""); !errors.Is(err, latch.ErrInvalidToken) {
		t.Fatalf("after the ceremony's life: %v", err)
	}
}

func TestPasskey_passwordless(t *testing.T) {
	factors, log := &memory.FactorStore{}, &eventLog{}
	d := newDomain(t, withPasskeys(t, factors, log))
	ctx := context.Background()
	a := enrolPasskey(t, d, "ada@example.com")

	for _, mode := range []latch.SessionKind{latch.KindSession, latch.KindToken} {
		d.Clock.Advance(time.Minute)
		res, err := d.passwordless(t, a.auth, mode)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if res.User.ID != a.user.ID || res.Session.Kind != mode || res.Carry != "body" {
			t.Fatalf("%s: user %s, kind %s, carry %q", mode, res.User.ID, res.Session.Kind, res.Carry)
		}
		p := d.principal(t, res)
		if !slices.Equal(p.AMR(), []string{"hwk", "mfa"}) || p.AuthTime().Unix() != d.Clock.Now().Unix() {
			t.Fatalf("%s: amr %v auth_time %v", mode, p.AMR(), p.AuthTime())
		}
		if mode == latch.KindToken && !slices.Equal(res.Access.Claims.AMR, []string{"hwk", "mfa"}) {
			t.Fatalf("access token amr %v", res.Access.Claims.AMR)
		}
	}
	stored, err := factors.PasskeyByCredentialID(ctx, a.pk.CredentialID)
	if err != nil || stored.SignCount != 2 || !stored.LastUsedAt.Equal(d.Clock.Now()) {
		t.Fatalf("stored passkey after two logins: %+v, %v", stored, err)
	}

	// Presence without verification: something held, one factor.
	a.auth.NoUserVerification = true
	res, err := d.passwordless(t, a.auth, latch.KindToken)
	if err != nil {
		t.Fatal(err)
	}
	if amr := d.principal(t, res).AMR(); !slices.Equal(amr, []string{"hwk"}) {
		t.Fatalf("amr without UV: %v", amr)
	}
	if e := log.of(latch.EventLogin); e[len(e)-1].Outcome != latch.OutcomeSuccess || e[len(e)-1].Detail != "token hwk" {
		t.Fatalf("the last login event %+v", e[len(e)-1])
	}
}

func TestPasskey_passwordlessRefusals(t *testing.T) {
	ctx := context.Background()
	type setup struct {
		d *domain
		a *passkeyAccount
	}
	for _, c := range []struct {
		name string
		// run returns the outcome of a login it bends.
		run  func(t *testing.T, s setup) error
		want error
	}{
		{"replay of an assertion", func(t *testing.T, s setup) error {
			opts, _ := s.d.BeginPasskeyLogin(ctx)
			resp, _ := s.a.auth.Get(opts)
			if _, err := s.d.FinishPasskeyLogin(ctx, latch.PasskeyLoginRequest{Credential: resp, Mode: latch.KindSession}); err != nil {
				t.Fatal(err)
			}
			_, err := s.d.FinishPasskeyLogin(ctx, latch.PasskeyLoginRequest{Credential: resp, Mode: latch.KindSession})
			return err
		}, latch.ErrInvalidToken},
		{"a ceremony past its life", func(t *testing.T, s setup) error {
			opts, _ := s.d.BeginPasskeyLogin(ctx)
			resp, _ := s.a.auth.Get(opts)
			s.d.Clock.Advance(latch.PasskeyCeremonyTTL)
			_, err := s.d.FinishPasskeyLogin(ctx, latch.PasskeyLoginRequest{Credential: resp, Mode: latch.KindSession})
			return err
		}, latch.ErrInvalidToken},
		{"a challenge latch never issued", func(t *testing.T, s setup) error {
			other := newDomain(t, withPasskeys(t, &memory.FactorStore{}, nil))
			opts, _ := other.BeginPasskeyLogin(ctx)
			resp, _ := s.a.auth.Get(opts)
			_, err := s.d.FinishPasskeyLogin(ctx, latch.PasskeyLoginRequest{Credential: resp, Mode: latch.KindSession})
			return err
		}, latch.ErrInvalidToken},
		{"a ceremony of a registration", func(t *testing.T, s setup) error {
			opts, _ := s.d.BeginPasskeyRegistration(ctx, s.a.p)
			resp, _ := s.a.auth.GetWith(opts, s.a.auth.Credentials()[0])
			_, err := s.d.FinishPasskeyLogin(ctx, latch.PasskeyLoginRequest{Credential: resp, Mode: latch.KindSession})
			return err
		}, latch.ErrInvalidToken},
		{"an unknown credential", func(t *testing.T, s setup) error {
			_, err := s.d.passwordless(t, strangerKey(t), latch.KindSession)
			return err
		}, latch.ErrInvalidPasskey},
		{"another origin", func(t *testing.T, s setup) error {
			s.a.auth.Origin = "https://latch.example"
			_, err := s.d.passwordless(t, s.a.auth, latch.KindSession)
			return err
		}, latch.ErrInvalidPasskey},
		{"another rp ID", func(t *testing.T, s setup) error {
			s.a.auth.RPID = "latch.example"
			_, err := s.d.passwordless(t, s.a.auth, latch.KindSession)
			return err
		}, latch.ErrInvalidPasskey},
		{"another account's user handle", func(t *testing.T, s setup) error {
			bob := enrolPasskey(t, s.d, "bob@example.com")
			s.a.auth.Credentials()[0].UserHandle = []byte(bob.user.ID)
			_, err := s.d.passwordless(t, s.a.auth, latch.KindSession)
			return err
		}, latch.ErrInvalidPasskey},
		{"a disabled account", func(t *testing.T, s setup) error {
			if err := s.d.SetDisabled(ctx, s.a.user.ID, true); err != nil {
				t.Fatal(err)
			}
			_, err := s.d.passwordless(t, s.a.auth, latch.KindSession)
			return err
		}, latch.ErrAccountDisabled},
		{"an unknown mode", func(t *testing.T, s setup) error {
			_, err := s.d.FinishPasskeyLogin(ctx, latch.PasskeyLoginRequest{Credential: []byte("{}"), Mode: "cookie"})
			return err
		}, latch.ErrInvalidRequest},
		{"not a WebAuthn response", func(t *testing.T, s setup) error {
			_, err := s.d.FinishPasskeyLogin(ctx, latch.PasskeyLoginRequest{Credential: []byte(`{"rawId": "AAAA"}`), Mode: latch.KindToken})
			return err
		}, latch.ErrInvalidRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := newDomain(t, withPasskeys(t, &memory.FactorStore{}, nil))
			s := setup{d: d, a: enrolPasskey(t, d, "ada@example.com")}
			if err := c.run(t, s); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

// A signature counter that goes backwards is a copy of the key in other
// hands, or a broken authenticator: the login is refused and reported.
func TestPasskey_clonedCounter(t *testing.T) {
	factors, log := &memory.FactorStore{}, &eventLog{}
	d := newDomain(t, withPasskeys(t, factors, log))
	ctx := context.Background()
	a := enrolPasskey(t, d, "ada@example.com")
	for range 3 {
		if _, err := d.passwordless(t, a.auth, latch.KindSession); err != nil {
			t.Fatal(err)
		}
	}
	clone := authenticator.New(rpOrigin)
	orig := a.auth.Credentials()[0]
	copied := *orig
	copied.Counter = 1 // the copy was taken after the first use
	clone.Import(&copied)
	if _, err := d.passwordless(t, clone, latch.KindSession); !errors.Is(err, latch.ErrInvalidPasskey) {
		t.Fatalf("the clone's login: %v, want ErrInvalidPasskey", err)
	}
	if e := log.of(latch.EventPasskeyCloned); len(e) != 1 || e[0].UserID != a.user.ID {
		t.Fatalf("clone events %+v", e)
	}
	if stored, _ := factors.PasskeyByCredentialID(ctx, a.pk.CredentialID); stored.SignCount != 3 {
		t.Fatalf("stored counter %d after the refused clone, want 3 kept", stored.SignCount)
	}
	// The original, whose counter is ahead, still logs in.
	if _, err := d.passwordless(t, a.auth, latch.KindSession); err != nil {
		t.Fatalf("the original after the clone was refused: %v", err)
	}
}

// readTogether is the memory factor store with a barrier: once armed,
// reads of a passkey by credential ID wait for one another, so that the
// logins of a race all check their assertion against the same stored
// counter before any of them records its use.
type readTogether struct {
	*memory.FactorStore
	armed   atomic.Bool
	arrived sync.WaitGroup
}

func (r *readTogether) PasskeyByCredentialID(ctx context.Context, id []byte) (*latch.Passkey, error) {
	p, err := r.FactorStore.PasskeyByCredentialID(ctx, id)
	if r.armed.Load() {
		r.arrived.Done()
		r.arrived.Wait()
	}
	return p, err
}

// A key and its copy, used at once with one counter value: both pass the
// library's check against the counter as read, and the store's check as it
// writes lets one of them in.
func TestPasskey_racingClone(t *testing.T) {
	factors, log := &memory.FactorStore{}, &eventLog{}
	barrier := &readTogether{FactorStore: factors}
	d := newDomain(t, withPasskeys(t, factors, log), withDeps(func(deps *latch.Deps) { deps.Factors = barrier }))
	a := enrolPasskey(t, d, "ada@example.com")
	clone := authenticator.New(rpOrigin)
	copied := *a.auth.Credentials()[0]
	clone.Import(&copied) // the same counter as the original
	ctx := context.Background()
	var reqs []latch.PasskeyLoginRequest
	for _, auth := range []*authenticator.Authenticator{a.auth, clone} {
		opts, err := d.BeginPasskeyLogin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := auth.Get(opts)
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, latch.PasskeyLoginRequest{Credential: resp, Mode: latch.KindSession, Carry: "body"})
	}
	barrier.arrived.Add(len(reqs))
	barrier.armed.Store(true)
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Go(func() { _, errs[i] = d.FinishPasskeyLogin(ctx, r) })
	}
	wg.Wait()
	var ok int
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, latch.ErrInvalidPasskey):
			t.Fatalf("login: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of 2 logins with one counter value succeeded (%v), want 1", ok, errs)
	}
	if e := log.of(latch.EventPasskeyCloned); len(e) != 1 || e[0].UserID != a.user.ID {
		t.Fatalf("clone events %+v, want one", e)
	}
}

// mfaPasskey runs the WebAuthn pair of a second step with a's
// authenticator.
func (d *domain) mfaPasskey(t testing.TB, token string, a *authenticator.Authenticator) (*latch.LoginResult, error) {
	t.Helper()
	ctx := context.Background()
	opts, err := d.BeginMFAPasskey(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	return d.CompleteMFA(ctx, latch.MFARequest{Token: token, Passkey: resp})
}

func TestPasskey_secondFactor(t *testing.T) {
	d := newDomain(t, withPasskeys(t, &memory.FactorStore{}, nil))
	ctx := context.Background()
	a := enrolPasskey(t, d, "ada@example.com")
	for _, mode := range []latch.SessionKind{latch.KindSession, latch.KindToken} {
		ch := d.challenge(t, a.email, mode)
		opts, err := d.BeginMFAPasskey(ctx, ch.Token)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(opts), `"allowCredentials":[{"type":"public-key","id":"`) {
			t.Fatalf("second-step options %s", opts)
		}
		a.auth.OmitUserHandle = mode == latch.KindToken // a security key may send none
		res, err := d.mfaPasskey(t, ch.Token, a.auth)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if res.Carry != "body" || res.Session.Kind != mode {
			t.Fatalf("carry %q kind %s", res.Carry, res.Session.Kind)
		}
		if amr := d.principal(t, res).AMR(); !slices.Equal(amr, []string{"pwd", "hwk", "mfa"}) {
			t.Fatalf("amr %v", amr)
		}
		if _, err := d.BeginMFAPasskey(ctx, ch.Token); !errors.Is(err, latch.ErrInvalidToken) {
			t.Fatalf("the spent mfa_token: %v", err)
		}
	}
	if _, err := d.BeginMFAPasskey(ctx, "not-a-token"); !errors.Is(err, latch.ErrInvalidToken) {
		t.Fatalf("an unknown mfa_token: %v", err)
	}
}

func TestPasskey_secondFactorRefusals(t *testing.T) {
	ctx := context.Background()
	t.Run("a ceremony of another mfa_token, or of a passwordless login", func(t *testing.T) {
		d := newDomain(t, withPasskeys(t, &memory.FactorStore{}, nil))
		a := enrolPasskey(t, d, "ada@example.com")
		first, second := d.challenge(t, a.email, latch.KindSession), d.challenge(t, a.email, latch.KindSession)
		opts, _ := d.BeginMFAPasskey(ctx, first.Token)
		resp, _ := a.auth.Get(opts)
		if _, err := d.CompleteMFA(ctx, latch.MFARequest{Token: second.Token, Passkey: resp}); !errors.Is(err, latch.ErrInvalidToken) {
			t.Fatalf("another mfa_token's ceremony: %v", err)
		}
		opts, _ = d.BeginPasskeyLogin(ctx)
		resp, _ = a.auth.Get(opts)
		if _, err := d.CompleteMFA(ctx, latch.MFARequest{Token: second.Token, Passkey: resp}); !errors.Is(err, latch.ErrInvalidToken) {
			t.Fatalf("a passwordless ceremony: %v", err)
		}
		if _, err := d.mfaPasskey(t, second.Token, a.auth); err != nil {
			t.Fatalf("the mfa_token survives assertions to other ceremonies: %v", err)
		}
	})
	t.Run("failed assertions count as wrong factors", func(t *testing.T) {
		d := newDomain(t, withPasskeys(t, &memory.FactorStore{}, nil))
		a := enrolPasskey(t, d, "ada@example.com")
		bob := enrolPasskey(t, d, "bob@example.com")
		ch := d.challenge(t, a.email, latch.KindSession)
		for i, bend := range []func() ([]byte, func()){
			func() ([]byte, func()) {
				a.auth.Origin = "https://latch.example"
				return nil, func() { a.auth.Origin = rpOrigin }
			},
			func() ([]byte, func()) { a.auth.RPID = "latch.example"; return nil, func() { a.auth.RPID = "" } },
			func() ([]byte, func()) { // bob's passkey, to ada's ceremony
				opts, _ := d.BeginMFAPasskey(ctx, ch.Token)
				resp, _ := bob.auth.GetWith(opts, bob.auth.Credentials()[0])
				return resp, func() {}
			},
			func() ([]byte, func()) { // a signature that does not verify
				opts, _ := d.BeginMFAPasskey(ctx, ch.Token)
				resp, _ := a.auth.Get(opts)
				return corrupt(resp), func() {}
			},
			func() ([]byte, func()) { // a credential latch does not know
				opts, _ := d.BeginMFAPasskey(ctx, ch.Token)
				k := strangerKey(t)
				resp, _ := k.GetWith(opts, k.Credentials()[0])
				return resp, func() {}
			},
		} {
			resp, restore := bend()
			var err error
			if resp == nil {
				_, err = d.mfaPasskey(t, ch.Token, a.auth)
			} else {
				_, err = d.CompleteMFA(ctx, latch.MFARequest{Token: ch.Token, Passkey: resp})
			}
			restore()
			if !errors.Is(err, latch.ErrInvalidPasskey) {
				t.Fatalf("bad assertion %d: %v, want ErrInvalidPasskey", i+1, err)
			}
		}
		// Five wrong factors kill the mfa_token and lock the account.
		if _, err := d.Login(ctx, latch.LoginRequest{Email: a.email, Password: mfaPassword, Mode: latch.KindSession}); !errors.Is(err, latch.ErrRateLimited) {
			t.Fatalf("a password login after five failed assertions: %v, want locked", err)
		}
		_ = d.Throttle.Reset(ctx, a.email)
		if _, err := d.BeginMFAPasskey(ctx, ch.Token); !errors.Is(err, latch.ErrInvalidToken) {
			t.Fatalf("the mfa_token after %d failed assertions: %v", latch.MFAAttempts, err)
		}
		// A passkey login is no password guess: the lockout does not stop it.
		for range 5 {
			_, _ = d.Login(ctx, latch.LoginRequest{Email: a.email, Password: "wrong", Mode: latch.KindSession})
		}
		if _, err := d.passwordless(t, a.auth, latch.KindSession); err != nil {
			t.Fatalf("a passwordless login of a locked account: %v", err)
		}
	})
	t.Run("an account without passkeys", func(t *testing.T) {
		d := newDomain(t, withPasskeys(t, &memory.FactorStore{}, nil))
		acct := enrol(t, d, "ada@example.com") // TOTP only
		ch := d.challenge(t, acct.email, latch.KindSession)
		if _, err := d.BeginMFAPasskey(ctx, ch.Token); !errors.Is(err, latch.ErrInvalidRequest) {
			t.Fatalf("BeginMFAPasskey: %v", err)
		}
	})
}

// strangerKey is an authenticator holding a credential for the relying
// party that was registered elsewhere: unknown to the domain under test.
func strangerKey(t *testing.T) *authenticator.Authenticator {
	t.Helper()
	other := newDomain(t, withPasskeys(t, &memory.FactorStore{}, nil))
	eve := enrolPasskey(t, other, "eve@example.com")
	return eve.auth
}

// corrupt changes a character of the signature of an assertion.
func corrupt(resp []byte) []byte {
	s := string(resp)
	i := strings.Index(s, `"signature":"`) + len(`"signature":"`) + 10
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return []byte(s[:i] + string(c) + s[i+1:])
}

func TestPasskey_rename(t *testing.T) {
	log := &eventLog{}
	d := newDomain(t, withPasskeys(t, &memory.FactorStore{}, log))
	ctx := context.Background()
	a := enrolPasskey(t, d, "ada@example.com")
	bob := enrolPasskey(t, d, "bob@example.com")
	pk, err := d.RenamePasskey(ctx, a.p, a.pk.CredentialID, " Phone ")
	if err != nil || pk.Name != "Phone" {
		t.Fatalf("rename: %+v, %v", pk, err)
	}
	if pks, _ := d.Passkeys(ctx, a.p); pks[0].Name != "Phone" {
		t.Fatalf("after rename: %q", pks[0].Name)
	}
	if e := log.of(latch.EventPasskeyRenamed); len(e) != 1 || e[0].Detail != "Phone" {
		t.Fatalf("rename events %+v", e)
	}
	for _, c := range []struct {
		name string
		id   []byte
		to   string
		want error
	}{
		{"empty", a.pk.CredentialID, "  ", latch.ErrInvalidRequest},
		{"too long", a.pk.CredentialID, strings.Repeat("x", 65), latch.ErrInvalidRequest},
		{"a newline", a.pk.CredentialID, "a\nb", latch.ErrInvalidRequest},
		{"another account's", bob.pk.CredentialID, "Mine now", latch.ErrNotFound},
		{"unknown", []byte("nothing"), "x", latch.ErrNotFound},
	} {
		if _, err := d.RenamePasskey(ctx, a.p, c.id, c.to); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestPasskey_remove(t *testing.T) {
	factors, log := &memory.FactorStore{}, &eventLog{}
	d := newDomain(t, withPasskeys(t, factors, log))
	ctx := context.Background()
	a := enrolPasskey(t, d, "ada@example.com")
	second := d.addPasskey(t, a.p, authenticator.New(rpOrigin), "Spare")
	bob := enrolPasskey(t, d, "bob@example.com")

	if err := d.RemovePasskey(ctx, a.p, bob.pk.CredentialID, ""); !errors.Is(err, latch.ErrNotFound) {
		t.Fatalf("another account's passkey: %v", err)
	}
	// Not the last factor: no password needed, but one given is checked.
	if err := d.RemovePasskey(ctx, a.p, second.CredentialID, "wrong"); !errors.Is(err, latch.ErrWrongPassword) {
		t.Fatalf("a wrong password given: %v", err)
	}
	if err := d.RemovePasskey(ctx, a.p, second.CredentialID, ""); err != nil {
		t.Fatalf("the spare: %v", err)
	}
	if e := log.of(latch.EventPasskeyRemoved); len(e) != 1 || e[0].Detail != "Spare" {
		t.Fatalf("removal events %+v", e)
	}

	// The last factor: the password login that added it used no second
	// factor, so it must log in again, with the passkey.
	if err := d.RemovePasskey(ctx, a.p, a.pk.CredentialID, mfaPassword); !errors.Is(err, latch.ErrReauthRequired) {
		t.Fatalf("the last factor from a password-only login: %v", err)
	}
	res, err := d.mfaPasskey(t, d.challenge(t, a.email, latch.KindSession).Token, a.auth)
	if err != nil {
		t.Fatal(err)
	}
	p := d.principal(t, res)
	recovery, err := d.NewRecoveryCodes(ctx, p, mfaPassword)
	if err != nil || len(recovery) != latch.RecoveryCodeCount {
		t.Fatalf("recovery codes with a passkey as the only factor: %d, %v", len(recovery), err)
	}
	if err := d.RemovePasskey(ctx, p, a.pk.CredentialID, ""); !errors.Is(err, latch.ErrInvalidRequest) {
		t.Fatalf("the last factor without the password: %v", err)
	}
	if err := d.RemovePasskey(ctx, p, a.pk.CredentialID, "wrong"); !errors.Is(err, latch.ErrWrongPassword) {
		t.Fatalf("the last factor with a wrong password: %v", err)
	}
	if err := d.RemovePasskey(ctx, p, a.pk.CredentialID, mfaPassword); err != nil {
		t.Fatalf("the last factor: %v", err)
	}
	if n, _ := factors.RecoveryCodesLeft(ctx, a.user.ID); n != 0 {
		t.Fatalf("%d recovery codes survive the last factor", n)
	}
	if res := d.login(t, a.email, mfaPassword, latch.KindSession); res.MFA != nil {
		t.Fatal("a password login still asks for a second factor")
	}
	if err := d.RemovePasskey(ctx, p, a.pk.CredentialID, mfaPassword); !errors.Is(err, latch.ErrNotFound) {
		t.Fatalf("removed twice: %v", err)
	}

	// With an authenticator app beside it, the passkey is not the last
	// factor.
	c := enrol(t, d, "carol@example.com")
	cp := d.principal(t, mustComplete(t, d, c))
	carolKey := authenticator.New(rpOrigin)
	pk := d.addPasskey(t, cp, carolKey, "")
	if err := d.RemovePasskey(ctx, cp, pk.CredentialID, ""); err != nil {
		t.Fatalf("a passkey beside TOTP: %v", err)
	}
}

// mustComplete logs in with a's password and TOTP code.
func mustComplete(t *testing.T, d *domain, a *mfaAccount) *latch.LoginResult {
	t.Helper()
	res, err := d.CompleteMFA(context.Background(), latch.MFARequest{Token: d.challenge(t, a.email, latch.KindSession).Token, TOTP: a.code(t, d, 0)})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestPasskey_removeLastAfterPasswordless(t *testing.T) {
	d := newDomain(t, withPasskeys(t, &memory.FactorStore{}, nil))
	ctx := context.Background()
	a := enrolPasskey(t, d, "ada@example.com")
	res, err := d.passwordless(t, a.auth, latch.KindToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.RemovePasskey(ctx, d.principal(t, res), a.pk.CredentialID, mfaPassword); err != nil {
		t.Fatalf("the last factor after a passkey login: %v", err)
	}
}

func TestPasskey_stepUp(t *testing.T) {
	d := newDomain(t, withPasskeys(t, &memory.FactorStore{}, nil))
	ctx := context.Background()
	a := enrolPasskey(t, d, "ada@example.com")
	opts, err := d.BeginPasskeyRegistration(ctx, a.p)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := authenticator.New(rpOrigin).Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	d.Clock.Advance(latch.DefaultReauthWindow + time.Second)
	for name, change := range map[string]func() error{
		"BeginPasskeyRegistration": func() error { _, err := d.BeginPasskeyRegistration(ctx, a.p); return err },
		"FinishPasskeyRegistration": func() error {
			_, err := d.FinishPasskeyRegistration(ctx, a.p, resp, "")
			return err
		},
		"RenamePasskey": func() error { _, err := d.RenamePasskey(ctx, a.p, a.pk.CredentialID, "x"); return err },
		"RemovePasskey": func() error { return d.RemovePasskey(ctx, a.p, a.pk.CredentialID, mfaPassword) },
	} {
		if err := change(); !errors.Is(err, latch.ErrReauthRequired) {
			t.Errorf("%s outside the window: %v, want ErrReauthRequired", name, err)
		}
	}
	if pks, err := d.Passkeys(ctx, a.p); err != nil || len(pks) != 1 {
		t.Fatalf("listing needs no recent login: %d, %v", len(pks), err)
	}
}

// Without a relying party (no usable --webauthn-rp-id) the ceremonies
// answer ErrUnavailable.
func TestPasskey_notConfigured(t *testing.T) {
	d := newDomain(t, withMFA(&memory.FactorStore{}))
	ctx := context.Background()
	d.signup(t, "ada@example.com", mfaPassword)
	p := d.principal(t, d.login(t, "ada@example.com", mfaPassword, latch.KindSession))
	if _, err := d.BeginPasskeyRegistration(ctx, p); !errors.Is(err, latch.ErrUnavailable) {
		t.Fatalf("BeginPasskeyRegistration: %v", err)
	}
	if _, err := d.BeginPasskeyLogin(ctx); !errors.Is(err, latch.ErrUnavailable) {
		t.Fatalf("BeginPasskeyLogin: %v", err)
	}
}
