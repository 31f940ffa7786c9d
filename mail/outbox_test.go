package mail_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/email"
	"github.com/latch-dev/latch/internal/smtptest"
	"github.com/latch-dev/latch/internal/testkit"
	"github.com/latch-dev/latch/jose"
	"github.com/latch-dev/latch/mail"
	"github.com/latch-dev/latch/password"
	"github.com/latch-dev/latch/sqlite"
)

// newService builds a latch.Service on db whose mail goes to mailer, with
// the sender run by hand (DeliverMail).
func newService(t *testing.T, db *sqlite.DB, mailer latch.Mailer, clock *testkit.Clock) *latch.Service {
	t.Helper()
	h, err := password.New(password.Config{Params: password.Params{Memory: 8, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 16}})
	if err != nil {
		t.Fatal(err)
	}
	k, err := jose.GenerateKey(jose.EdDSA, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := jose.NewKeySet(jose.KeySetConfig{Alg: jose.EdDSA, AccessTTL: time.Minute, Now: clock.Now}, []*latch.SigningKey{k})
	if err != nil {
		t.Fatal(err)
	}
	v, err := jose.NewVerifier(keys, "https://latch.test", "https://latch.test")
	if err != nil {
		t.Fatal(err)
	}
	v.Now = clock.Now
	svc, err := latch.New(latch.Config{Issuer: "https://latch.test", FollowInterval: -1, MailInterval: -1}, latch.Deps{
		Users: db, Sessions: db, Revocations: db, AccountTokens: db, Outbox: db, Mailer: mailer,
		Hasher: h, Signer: jose.NewSigner(keys), Verifier: v,
		NormalizeEmail: email.Normalize, CheckPassword: password.NewPolicy().Check, Now: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return svc
}

// A mail accepted for sending survives a restart: queued while the SMTP
// server refuses, the process stops, and a new one on the same SQLite file
// delivers it.
func TestOutbox_SurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latch.db")
	srv := smtptest.Start(t, smtptest.Options{})
	mailer, err := mail.New(mail.Config{URL: srv.URL(), From: "latch@example.com", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	clock := testkit.NewClock(time.Now().UTC().Truncate(time.Second))

	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	first := newService(t, db, mailer, clock)
	u, err := first.Signup(ctx, "lin@example.com", "a-fine-passphrase")
	if err != nil {
		t.Fatal(err)
	}
	srv.FailNext(1)
	login, err := first.Login(ctx, latch.LoginRequest{Email: u.Email, Password: "a-fine-passphrase", Mode: latch.KindSession})
	if err != nil {
		t.Fatal(err)
	}
	p, err := first.AuthenticateSession(ctx, login.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.RequestVerification(ctx, p); err != nil {
		t.Fatal(err)
	}
	if n, err := first.DeliverMail(ctx); err != nil || n != 0 {
		t.Fatalf("DeliverMail against a refusing server = %d, %v; want 0 sent", n, err)
	}
	_ = first.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if len(srv.Messages()) != 0 {
		t.Fatal("a mail arrived before the restart")
	}

	db, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	second := newService(t, db, mailer, clock)
	clock.Advance(10 * time.Second) // the first retry delay
	if n, err := second.DeliverMail(ctx); err != nil || n != 1 {
		t.Fatalf("DeliverMail after the restart = %d, %v; want 1 sent", n, err)
	}
	got := srv.Wait(t, "lin@example.com", 1, 5*time.Second)[0]
	if !strings.Contains(got.Link("/verify-email"), "/verify-email?token=") {
		t.Fatalf("the delivered mail has no verification link: %q", got.Text)
	}
	if err := second.VerifyEmail(ctx, strings.SplitN(got.Link("/verify-email"), "token=", 2)[1]); err != nil {
		t.Fatalf("the link delivered after the restart does not verify: %v", err)
	}
}
