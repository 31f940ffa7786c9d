// Package mail sends latch's email (API.md §8) over SMTP with
// wneessen/go-mail: plain-text and HTML bodies from embedded templates, one
// per latch.MailKind. It is the latch.Mailer the command wires when
// --smtp-url is set; the latch.Outbox in front of it makes delivery
// durable, and retries what this package fails to send.
//
// # Transport security
//
// smtp://host:port speaks STARTTLS whenever the server offers it
// (port 587 by default); smtps://host:port speaks TLS from the first byte
// (port 465 by default). Credentials in the URL are sent only with a
// mechanism the server offers that does not expose them in clear text
// on an unencrypted connection. Every exchange has a time limit
// (Config.Timeout).
package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/latch-dev/latch"
)

//go:embed templates/*.txt templates/*.html
var templateFiles embed.FS

// kinds are the mails there is a template for.
var kinds = []latch.MailKind{
	latch.MailPasswordReset, latch.MailPasswordResetDone, latch.MailVerifyEmail,
	latch.MailChangeEmail, latch.MailEmailChangeNotice, latch.MailEmailInUse,
}

// DefaultTimeout bounds one SMTP exchange (connect, TLS, send) when
// Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Config configures a Mailer.
type Config struct {
	// URL is smtp://[user:pass@]host[:port] (STARTTLS when offered) or
	// smtps://[user:pass@]host[:port] (implicit TLS). Required.
	URL string
	// From is the sender address. Required.
	From string
	// Timeout bounds one exchange. Default DefaultTimeout.
	Timeout time.Duration
	// TLS, when set, is the TLS configuration (tests trust their own CA
	// with it). Default: the system's roots, the URL's host as server name.
	TLS *tls.Config
}

// Mailer is a latch.Mailer speaking SMTP.
type Mailer struct {
	cfg   Config
	host  string
	port  int
	ssl   bool
	user  string
	pass  string
	pages *Templates
}

var _ latch.Mailer = (*Mailer)(nil)

// New checks cfg and returns a Mailer. It does not connect.
func New(cfg Config) (*Mailer, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		// The URL may hold a password: none of it is repeated.
		return nil, errors.New("mail: the SMTP URL does not parse")
	}
	m := &Mailer{cfg: cfg, host: u.Hostname()}
	switch u.Scheme {
	case "smtp":
		m.port = 587
	case "smtps":
		m.ssl, m.port = true, 465
	default:
		return nil, errors.New(`mail: the SMTP URL must start with smtp:// or smtps://`)
	}
	if m.host == "" {
		return nil, errors.New("mail: the SMTP URL has no host")
	}
	if p := u.Port(); p != "" {
		if m.port, err = strconv.Atoi(p); err != nil || m.port < 1 || m.port > 65535 {
			return nil, errors.New("mail: the SMTP URL's port is not a port")
		}
	}
	if u.User != nil {
		m.user = u.User.Username()
		m.pass, _ = u.User.Password()
	}
	if err := gomail.NewMsg().From(cfg.From); err != nil || cfg.From == "" {
		return nil, fmt.Errorf("mail: --mail-from %q is not an address", cfg.From)
	}
	if m.cfg.Timeout <= 0 {
		m.cfg.Timeout = DefaultTimeout
	}
	if m.pages, err = LoadTemplates(); err != nil {
		return nil, err
	}
	return m, nil
}

// client builds a go-mail client for one exchange.
func (m *Mailer) client() (*gomail.Client, error) {
	opts := []gomail.Option{gomail.WithPort(m.port), gomail.WithTimeout(m.cfg.Timeout)}
	if m.ssl {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	tc := m.cfg.TLS
	if tc == nil {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	} else {
		tc = tc.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = m.host
	}
	opts = append(opts, gomail.WithTLSConfig(tc))
	if m.user != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(m.user), gomail.WithPassword(m.pass))
	}
	return gomail.NewClient(m.host, opts...)
}

// SendMail implements latch.Mailer: it renders m and delivers it in one
// SMTP exchange, within the timeout and ctx.
func (m *Mailer) SendMail(ctx context.Context, mail *latch.Mail) error {
	msg, err := m.message(mail)
	if err != nil {
		return err
	}
	c, err := m.client()
	if err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("mail: sending %s: %w", mail.Kind, err)
	}
	return nil
}

// message renders mail into a go-mail message.
func (m *Mailer) message(mail *latch.Mail) (*gomail.Msg, error) {
	r, err := m.pages.Render(mail)
	if err != nil {
		return nil, err
	}
	msg := gomail.NewMsg()
	if err := msg.From(m.cfg.From); err != nil {
		return nil, fmt.Errorf("mail: from: %w", err)
	}
	if err := msg.To(mail.To); err != nil {
		return nil, fmt.Errorf("mail: to: %w", err)
	}
	msg.Subject(r.Subject)
	msg.SetMessageID()
	msg.SetDate()
	msg.SetBodyString(gomail.TypeTextPlain, r.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, r.HTML)
	return msg, nil
}

// Rendered is a mail as its recipient reads it.
type Rendered struct {
	Subject, Text, HTML string
}

// Templates are the embedded templates of every latch.MailKind.
type Templates struct {
	text map[latch.MailKind]*texttemplate.Template
	html map[latch.MailKind]*htmltemplate.Template
}

// LoadTemplates parses the embedded templates.
func LoadTemplates() (*Templates, error) {
	t := &Templates{text: map[latch.MailKind]*texttemplate.Template{}, html: map[latch.MailKind]*htmltemplate.Template{}}
	for _, k := range kinds {
		tt, err := texttemplate.ParseFS(templateFiles, "templates/"+string(k)+".txt")
		if err != nil {
			return nil, fmt.Errorf("mail: template %s: %w", k, err)
		}
		ht, err := htmltemplate.ParseFS(templateFiles, "templates/"+string(k)+".html")
		if err != nil {
			return nil, fmt.Errorf("mail: template %s: %w", k, err)
		}
		t.text[k], t.html[k] = tt, ht
	}
	return t, nil
}

// Render fills the templates of m's kind with its link and detail.
func (t *Templates) Render(m *latch.Mail) (*Rendered, error) {
	tt, ok := t.text[m.Kind]
	if !ok {
		return nil, fmt.Errorf("mail: no template for %q", m.Kind)
	}
	data := struct{ Link, Detail string }{m.Link, m.Detail}
	var subj, text, html bytes.Buffer
	if err := tt.ExecuteTemplate(&subj, "subject", data); err != nil {
		return nil, fmt.Errorf("mail: %s subject: %w", m.Kind, err)
	}
	if err := tt.ExecuteTemplate(&text, "text", data); err != nil {
		return nil, fmt.Errorf("mail: %s text: %w", m.Kind, err)
	}
	if err := t.html[m.Kind].ExecuteTemplate(&html, "html", data); err != nil {
		return nil, fmt.Errorf("mail: %s html: %w", m.Kind, err)
	}
	return &Rendered{Subject: strings.TrimSpace(subj.String()), Text: strings.TrimLeft(text.String(), "\n"), HTML: html.String()}, nil
}
