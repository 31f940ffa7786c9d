package mail_test

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/latch-dev/latch"
	"github.com/latch-dev/latch/internal/smtptest"
	"github.com/latch-dev/latch/mail"
)

func TestNew_config(t *testing.T) {
	for _, c := range []struct {
		name, url, from string
		ok              bool
	}{
		{"smtp", "smtp://mail.example:2525", "latch@example.com", true},
		{"smtps with credentials", "smtps://u:p@mail.example", "latch@example.com", true},
		{"other scheme", "http://mail.example", "latch@example.com", false},
		{"no host", "smtp://", "latch@example.com", false},
		{"bad port", "smtp://mail.example:99999", "latch@example.com", false},
		{"no from", "smtp://mail.example", "", false},
		{"bad from", "smtp://mail.example", "not an address", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := mail.New(mail.Config{URL: c.url, From: c.from})
			if (err == nil) != c.ok {
				t.Fatalf("New(%q, %q) error = %v, want ok=%v", c.url, c.from, err, c.ok)
			}
			if err != nil && strings.Contains(err.Error(), ":p@") {
				t.Fatalf("the error repeats the URL's password: %v", err)
			}
		})
	}
}

func TestMailer_SendMail(t *testing.T) {
	const link = "https://latch.example/reset?token=abc_DEF-123&x=1"
	for _, c := range []struct {
		name    string
		opt     smtptest.Options
		wantTLS bool
	}{
		{"plain SMTP", smtptest.Options{}, false},
		{"STARTTLS when offered", smtptest.Options{TLS: smtptest.StartTLS}, true},
		{"implicit TLS (smtps)", smtptest.Options{TLS: smtptest.Implicit}, true},
		{"STARTTLS and a login", smtptest.Options{TLS: smtptest.StartTLS, User: "latch", Password: "s3cret"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := smtptest.Start(t, c.opt)
			m, err := mail.New(mail.Config{URL: srv.URL(), From: "latch@example.com", Timeout: 5 * time.Second,
				TLS: &tls.Config{RootCAs: srv.CA, MinVersion: tls.VersionTLS12}})
			if err != nil {
				t.Fatal(err)
			}
			if err := m.SendMail(t.Context(), &latch.Mail{Kind: latch.MailPasswordReset, To: "ada@example.com", Link: link}); err != nil {
				t.Fatal(err)
			}
			got := srv.Wait(t, "ada@example.com", 1, 5*time.Second)[0]
			if got.TLS != c.wantTLS {
				t.Errorf("over TLS = %v, want %v", got.TLS, c.wantTLS)
			}
			if got.Authed != c.opt.User {
				t.Errorf("sent as %q, want %q", got.Authed, c.opt.User)
			}
			if got.From != "latch@example.com" || got.Subject != "Reset your latch password" {
				t.Errorf("from %q subject %q", got.From, got.Subject)
			}
			if l := got.Link("/reset"); l != link {
				t.Errorf("link in the text part = %q, want %q", l, link)
			}
			if !strings.Contains(got.HTML, `href="https://latch.example/reset?token=abc_DEF-123&amp;x=1"`) {
				t.Errorf("HTML part lacks the escaped link: %s", got.HTML)
			}
		})
	}
}

func TestMailer_SendMail_failures(t *testing.T) {
	t.Run("a refusal is an error", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.Options{})
		srv.FailNext(1)
		m, err := mail.New(mail.Config{URL: srv.URL(), From: "latch@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.SendMail(t.Context(), &latch.Mail{Kind: latch.MailVerifyEmail, To: "a@example.com", Link: "https://x/verify-email?token=t"}); err == nil {
			t.Fatal("SendMail succeeded against a 451")
		}
		if len(srv.Messages()) != 0 {
			t.Fatal("a refused mail was kept")
		}
	})
	t.Run("a silent server times out", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close() // never says a word
			}
		}()
		m, err := mail.New(mail.Config{URL: "smtp://" + ln.Addr().String(), From: "latch@example.com", Timeout: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := m.SendMail(t.Context(), &latch.Mail{Kind: latch.MailVerifyEmail, To: "a@example.com"}); err == nil {
			t.Fatal("SendMail succeeded against a silent server")
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("SendMail took %v against a silent server, want about the 300 ms timeout", d)
		}
	})
	t.Run("a login without TLS is not sent in clear", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.Options{User: "latch", Password: "s3cret"})
		m, err := mail.New(mail.Config{URL: srv.URL(), From: "latch@example.com", Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.SendMail(t.Context(), &latch.Mail{Kind: latch.MailVerifyEmail, To: "a@example.com"}); err == nil {
			t.Fatal("SendMail sent a password with PLAIN over an unencrypted connection")
		}
	})
}

func TestTemplates_Render(t *testing.T) {
	tm, err := mail.LoadTemplates()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []latch.MailKind{latch.MailPasswordReset, latch.MailPasswordResetDone, latch.MailVerifyEmail,
		latch.MailChangeEmail, latch.MailEmailChangeNotice, latch.MailEmailInUse} {
		t.Run(string(k), func(t *testing.T) {
			r, err := tm.Render(&latch.Mail{Kind: k, Link: "https://l.example/x?token=T", Detail: "<new@example.com>"})
			if err != nil {
				t.Fatal(err)
			}
			if r.Subject == "" || r.Text == "" || r.HTML == "" {
				t.Fatalf("empty part: %+v", r)
			}
			if strings.Contains(r.HTML, "<new@example.com>") {
				t.Fatalf("HTML part does not escape the detail: %s", r.HTML)
			}
		})
	}
	if _, err := tm.Render(&latch.Mail{Kind: "nope"}); err == nil {
		t.Fatal("Render of an unknown kind succeeded")
	}
}
