package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/latch-dev/latch/redis"
)

// Config is everything `latch serve` can be told (API.md §1).
type Config struct {
	Addr                   string
	DB                     string
	Redis                  string
	Issuer                 string
	Audience               string
	JWTAlg                 string
	HS256Secret            string
	MasterKey              string
	AccessTTL              time.Duration
	RefreshTTL             time.Duration
	RefreshAbsoluteTTL     time.Duration
	RefreshReuseGrace      time.Duration
	SessionIdleTimeout     time.Duration
	SessionAbsoluteTimeout time.Duration
	MaxSessionsPerUser     int
	LoginMaxFailures       int
	LoginFailureWindow     time.Duration
	LoginIPRate            float64
	AdminKey               string
	Clients                clientList
	InsecureCookies        bool
	LogLevel               string
	LogFormat              string
	AuditLog               string
	PublicURL              string
	SMTPURL                string
	MailFrom               string
	RecoveryTTL            time.Duration
	VerificationTTL        time.Duration
	RequireVerifiedEmail   bool
}

// clientList is the repeatable --client ID:SECRET.
type clientList []string

func (c *clientList) String() string { return fmt.Sprint(len(*c), " clients") }

// Set adds one client; LATCH_CLIENT may hold several separated by commas.
func (c *clientList) Set(v string) error {
	for _, one := range strings.Split(v, ",") {
		id, secret, ok := strings.Cut(strings.TrimSpace(one), ":")
		if !ok || id == "" || secret == "" {
			return errors.New("want ID:SECRET")
		}
		*c = append(*c, id+":"+secret)
	}
	return nil
}

// Map returns ID -> secret.
func (c clientList) Map() map[string]string {
	m := make(map[string]string, len(c))
	for _, one := range c {
		id, secret, _ := strings.Cut(one, ":")
		m[id] = secret
	}
	return m
}

// flagSet declares the serve flags with their defaults.
func (c *Config) flagSet(name string) *flag.FlagSet {
	fs := newFlagSet(name)
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "listen address; port 0 picks a free port")
	c.dbFlags(fs)
	fs.StringVar(&c.Redis, "redis", "", "redis://HOST:PORT/N (several instances; needs a postgres:// database)")
	fs.StringVar(&c.Issuer, "issuer", "", "the iss of every token and the base of discovery URLs (default http://<bound address>)")
	fs.StringVar(&c.Audience, "audience", "", "the aud of access tokens (default: the issuer)")
	fs.StringVar(&c.JWTAlg, "jwt-alg", "EdDSA", "EdDSA, ES256, RS256 or HS256")
	fs.StringVar(&c.HS256Secret, "hs256-secret", "", "HMAC key for HS256, at least 32 bytes")
	fs.DurationVar(&c.AccessTTL, "access-ttl", 15*time.Minute, "access token lifetime")
	fs.DurationVar(&c.RefreshTTL, "refresh-ttl", 168*time.Hour, "refresh token lifetime after its last use")
	fs.DurationVar(&c.RefreshAbsoluteTTL, "refresh-absolute-ttl", 720*time.Hour, "no refresh family outlives this")
	fs.DurationVar(&c.RefreshReuseGrace, "refresh-reuse-grace", 0, "window in which a family's previous refresh token is accepted once")
	fs.DurationVar(&c.SessionIdleTimeout, "session-idle-timeout", 30*time.Minute, "a session unused this long is dead")
	fs.DurationVar(&c.SessionAbsoluteTimeout, "session-absolute-timeout", 12*time.Hour, "a session older than this is dead")
	fs.IntVar(&c.MaxSessionsPerUser, "max-sessions-per-user", 0, "0 = unlimited; else the oldest session is revoked")
	fs.IntVar(&c.LoginMaxFailures, "login-max-failures", 5, "failed logins per account within the window before 429")
	fs.DurationVar(&c.LoginFailureWindow, "login-failure-window", 15*time.Minute, "the window of the failure count")
	fs.Float64Var(&c.LoginIPRate, "login-ip-rate", 10, "login/signup attempts per second per client IP (burst 3x); 0 = off")
	fs.StringVar(&c.AdminKey, "admin-key", "", "bearer key of /v1/admin/*; empty disables the admin API")
	fs.Var(&c.Clients, "client", "ID:SECRET of a resource server (repeatable)")
	fs.BoolVar(&c.InsecureCookies, "insecure-cookies", false, "drop Secure and the cookie name prefixes (plain-HTTP development)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "text or json")
	fs.StringVar(&c.AuditLog, "audit-log", "stderr", "where security events go, one JSON line each: a file PATH (appended), stderr, or off")
	fs.StringVar(&c.PublicURL, "public-url", "", "the external base URL that links in emails use, never taken from Host (default: the issuer)")
	fs.StringVar(&c.SMTPURL, "smtp-url", "", "smtp://user:pass@host:port (STARTTLS when offered) or smtps://... (TLS); unset: emails go to the log (development only)")
	fs.StringVar(&c.MailFrom, "mail-from", "", "the sender address of latch's email (required with --smtp-url)")
	fs.DurationVar(&c.RecoveryTTL, "recovery-ttl", 15*time.Minute, "lifetime of a password reset link")
	fs.DurationVar(&c.VerificationTTL, "verification-ttl", 24*time.Hour, "lifetime of an email verification or change link")
	fs.BoolVar(&c.RequireVerifiedEmail, "require-verified-email", false, "refuse logins to unverified accounts (403 email_unverified)")
	return fs
}

// issuer is --issuer without a trailing slash, or http://ADDR.
func (c *Config) issuer(addr string) string {
	if iss := strings.TrimSuffix(c.Issuer, "/"); iss != "" {
		return iss
	}
	return "http://" + addr
}

// newFlagSet returns a flag set that reports errors to its caller only.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// dbFlags declares what every subcommand that opens the database needs.
func (c *Config) dbFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.DB, "db", "sqlite:./latch-data/latch.db", "sqlite:PATH, memory: (tests) or postgres://...")
	fs.StringVar(&c.MasterKey, "master-key", "", "encrypts private signing keys at rest")
}

// parseFlags parses args, then fills every flag not given on the command
// line from its LATCH_ twin (flags win over the environment).
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		return oneLine(err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		env := "LATCH_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v := getenv(env)
		if given[f.Name] || v == "" || err != nil {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("invalid value for %s (from the environment): %v", env, e)
		}
	})
	return err
}

// oneLine shortens the flag package's errors to "invalid value ... for flag --name: why".
func oneLine(err error) error {
	msg := strings.NewReplacer("flag -", "flag --", "defined: -", "defined: --").Replace(err.Error())
	return errors.New(strings.SplitN(msg, "\n", 2)[0])
}

// validate checks what the flag types cannot, naming the flag at fault.
func (c *Config) validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("--addr %q: want HOST:PORT", c.Addr)
	}
	if err := validateDB(c.DB); err != nil {
		return err
	}
	if c.Redis != "" {
		if _, err := redis.ParseURL(c.Redis); err != nil {
			return fmt.Errorf("--redis: %s", strings.TrimPrefix(err.Error(), "redis: "))
		}
		if !strings.HasPrefix(c.DB, "postgres") {
			return errors.New("--redis: needs a postgres:// --db (Redis shares state between instances; SQLite serves one)")
		}
	}
	if c.Issuer != "" {
		if u, err := url.Parse(c.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("--issuer %q: want an absolute http(s) URL without query or fragment", c.Issuer)
		}
	}
	switch c.JWTAlg {
	case "EdDSA", "ES256", "RS256":
	case "HS256":
		if len(c.HS256Secret) < 32 {
			return fmt.Errorf("--hs256-secret: HS256 needs a secret of at least 32 bytes (got %d)", len(c.HS256Secret))
		}
	default:
		return fmt.Errorf("--jwt-alg %q: want EdDSA, ES256, RS256 or HS256", c.JWTAlg)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"--access-ttl", c.AccessTTL}, {"--refresh-ttl", c.RefreshTTL}, {"--refresh-absolute-ttl", c.RefreshAbsoluteTTL},
		{"--session-idle-timeout", c.SessionIdleTimeout}, {"--session-absolute-timeout", c.SessionAbsoluteTimeout},
		{"--login-failure-window", c.LoginFailureWindow},
		{"--recovery-ttl", c.RecoveryTTL}, {"--verification-ttl", c.VerificationTTL},
	} {
		if d.v <= 0 {
			return fmt.Errorf("%s %v: must be positive", d.name, d.v)
		}
	}
	switch {
	case c.RefreshReuseGrace < 0:
		return fmt.Errorf("--refresh-reuse-grace %v: must not be negative", c.RefreshReuseGrace)
	case c.RefreshReuseGrace >= c.AccessTTL && c.RefreshReuseGrace > time.Minute:
		return fmt.Errorf("--refresh-reuse-grace %v: too long (a grace is for racing tabs, seconds at most)", c.RefreshReuseGrace)
	case c.MaxSessionsPerUser < 0:
		return fmt.Errorf("--max-sessions-per-user %d: must not be negative", c.MaxSessionsPerUser)
	case c.LoginMaxFailures < 1:
		return fmt.Errorf("--login-max-failures %d: must be at least 1", c.LoginMaxFailures)
	case c.LoginIPRate < 0:
		return fmt.Errorf("--login-ip-rate %v: must not be negative", c.LoginIPRate)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.AuditLog == "" {
		return errors.New("--audit-log: want a file path, stderr or off")
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("--public-url %q: want an absolute http(s) URL without query or fragment", c.PublicURL)
		}
	}
	if c.SMTPURL != "" {
		// Never echoed: it may hold a password.
		if u, err := url.Parse(c.SMTPURL); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
			return errors.New("--smtp-url: want smtp://[user:pass@]host[:port] or smtps://[user:pass@]host[:port]")
		}
		if c.MailFrom == "" {
			return errors.New("--mail-from: required with --smtp-url")
		}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("--log-format %q: want text or json", c.LogFormat)
	}
	return nil
}

// validateDB accepts the --db schemes this build can open.
func validateDB(db string) error {
	switch {
	case db == "memory:":
		return nil
	case strings.HasPrefix(db, "sqlite:"):
		if strings.TrimPrefix(db, "sqlite:") == "" {
			return fmt.Errorf("--db %q: sqlite: needs a path", db)
		}
		return nil
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
		if _, err := url.Parse(db); err != nil {
			return errors.New("--db: the postgres:// URL does not parse") // never echo: it may hold a password
		}
		return nil
	default:
		// The value is not echoed: a URL of another scheme may hold a password.
		return fmt.Errorf("--db: unknown scheme %q; want sqlite:PATH, memory: (tests) or postgres://HOST/DB", dbKind(db))
	}
}
