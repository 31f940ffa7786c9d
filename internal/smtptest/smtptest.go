// Package smtptest runs a real SMTP server (emersion/go-smtp) in process
// for tests: it keeps the mail it receives, decodes its MIME parts, and
// can refuse mail on demand, speak STARTTLS or implicit TLS with a
// certificate of its own, and require a login.
package smtptest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TLSMode is how the server offers TLS.
type TLSMode int

// The TLS modes.
const (
	NoTLS    TLSMode = iota // plain SMTP, no STARTTLS
	StartTLS                // STARTTLS offered
	Implicit                // TLS from the first byte (smtps)
)

// Options configure a Server.
type Options struct {
	TLS TLSMode
	// User and Password, when set, are required (AUTH PLAIN).
	User, Password string
}

// Message is one received mail.
type Message struct {
	From    string
	To      []string
	Raw     []byte
	Subject string
	Text    string // the decoded text/plain part
	HTML    string // the decoded text/html part
	TLS     bool   // it came over TLS
	Authed  string // the user it was sent as, if any
}

// Server is a running SMTP server.
type Server struct {
	// Addr is host:port.
	Addr string
	// CA trusts the server's certificate (for TLS modes).
	CA *x509.CertPool

	srv *smtp.Server
	opt Options

	mu       sync.Mutex
	msgs     []*Message
	failNext int
	attempts int
	notify   chan struct{}
}

// Start starts a server on a free loopback port, stopped when t ends.
func Start(t testing.TB, opt Options) *Server {
	t.Helper()
	s := &Server{opt: opt, notify: make(chan struct{}, 1)}
	s.srv = smtp.NewServer(backend{s})
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout, s.srv.WriteTimeout = 10*time.Second, 10*time.Second
	s.srv.MaxMessageBytes = 1 << 20
	s.srv.AllowInsecureAuth = opt.TLS == NoTLS
	var ln net.Listener
	var err error
	if opt.TLS != NoTLS {
		cert, pool := selfSigned(t)
		s.CA = pool
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if opt.TLS == Implicit {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", s.srv.TLSConfig)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	go func() { _ = s.srv.Serve(ln) }()
	t.Cleanup(func() { _ = s.srv.Close() })
	return s
}

// URL is the --smtp-url of the server (smtps:// for Implicit).
func (s *Server) URL() string {
	scheme := "smtp"
	if s.opt.TLS == Implicit {
		scheme = "smtps"
	}
	auth := ""
	if s.opt.User != "" {
		auth = s.opt.User + ":" + s.opt.Password + "@"
	}
	return scheme + "://" + auth + s.Addr
}

// FailNext makes the next n deliveries fail with a temporary error (451).
func (s *Server) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = n
}

// Attempts is how many deliveries were tried (refused ones included).
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// Messages returns what was received so far.
func (s *Server) Messages() []*Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Message(nil), s.msgs...)
}

// To returns the mail received for addr.
func (s *Server) To(addr string) []*Message {
	var out []*Message
	for _, m := range s.Messages() {
		for _, to := range m.To {
			if strings.EqualFold(to, addr) {
				out = append(out, m)
			}
		}
	}
	return out
}

// Wait waits until n mails for addr have arrived (at most d), and
// returns them; it fails t on timeout.
func (s *Server) Wait(t testing.TB, addr string, n int, d time.Duration) []*Message {
	t.Helper()
	deadline := time.After(d)
	for {
		if got := s.To(addr); len(got) >= n {
			return got
		}
		select {
		case <-s.notify:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("smtptest: %d mails for %s after %v, want %d", len(s.To(addr)), addr, d, n)
			return nil
		}
	}
}

var linkRE = regexp.MustCompile(`https?://[^\s"<>]+`)

// Link returns the first link in the text part that contains path.
func (m *Message) Link(path string) string {
	for _, l := range linkRE.FindAllString(m.Text, -1) {
		if strings.Contains(l, path) {
			return l
		}
	}
	return ""
}

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s, conn: c}, nil
}

type session struct {
	s      *Server
	conn   *smtp.Conn
	from   string
	to     []string
	authed string
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.opt.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != ss.s.opt.User || pass != ss.s.opt.Password {
			return errors.New("invalid credentials")
		}
		ss.authed = user
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opt.User != "" && ss.authed == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s := ss.s
	s.mu.Lock()
	s.attempts++
	if s.failNext > 0 {
		s.failNext--
		s.mu.Unlock()
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	s.mu.Unlock()
	m := &Message{From: ss.from, To: ss.to, Raw: raw, Authed: ss.authed}
	_, m.TLS = ss.conn.TLSConnectionState()
	if err := decode(m); err != nil {
		return fmt.Errorf("smtptest: %w", err)
	}
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

// decode fills Subject, Text and HTML from Raw.
func decode(m *Message) error {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		return err
	}
	dec := new(mime.WordDecoder)
	if m.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return err
	}
	return part(m, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
}

func part(m *Message, ctype, enc string, body io.Reader) error {
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return err
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := part(m, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); err != nil {
				return err
			}
		}
	}
	if strings.EqualFold(enc, "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	switch mt {
	case "text/plain":
		m.Text = string(b)
	case "text/html":
		m.HTML = string(b)
	}
	return nil
}

// selfSigned makes a certificate for 127.0.0.1 and localhost.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtptest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// Shutdown is for servers a test stops on purpose (an outage).
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }
