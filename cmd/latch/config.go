package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/latch-dev/latch/redis"
	"github.com/spf13/pflag"
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
	ReauthWindow           time.Duration
	WebAuthnRPID           string
	WebAuthnOrigins        string
}

// clientList is the repeatable --client ID:SECRET.
type clientList []string

// String lists the client IDs with their secrets masked: it is what help
// and `latch config` print.
func (c *clientList) String() string {
	ids := make([]string, len(*c))
	for i, one := range *c {
		id, _, _ := strings.Cut(one, ":")
		ids[i] = id + ":" + masked
	}
	return strings.Join(ids, ",")
}

// Type names the value in help.
func (c *clientList) Type() string { return "ID:SECRET" }

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

// Flag annotations: the environment twin of a configuration flag, and
// whether its value is a secret (masked by `latch config`, never echoed in
// an error).
const (
	annotEnv    = "latch-env"
	annotSecret = "latch-secret"
)

// define declares the configuration flags (API.md §1) on fs, each with its
// LATCH_ environment twin. serve and every command that opens the database
// take them all: an admin command applies the server's rules (lifetimes,
// keys, Redis) because it builds the Service as serve does.
func (c *Config) define(fs *pflag.FlagSet) {
	fs.SortFlags = false        // as API.md §1 lists them
	before := map[string]bool{} // the command's own flags: no twin
	fs.VisitAll(func(f *pflag.Flag) { before[f.Name] = true })
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
	fs.DurationVar(&c.ReauthWindow, "reauth-window", 10*time.Minute, "how recent a login must be for a password, email or second-factor change (else 403 reauth_required)")
	fs.StringVar(&c.WebAuthnRPID, "webauthn-rp-id", "", "the passkey relying party ID: a host name, the origins' host or a parent domain of it (default: the host of the first origin)")
	fs.StringVar(&c.WebAuthnOrigins, "webauthn-origins", "", "comma-separated origins the pages run passkey ceremonies on, scheme://host[:port], https or http on localhost (default: the origin of --public-url, else of the issuer)")
	fs.VisitAll(func(f *pflag.Flag) {
		if !before[f.Name] {
			_ = fs.SetAnnotation(f.Name, annotEnv, []string{envName(f.Name)})
		}
	})
	for _, name := range []string{"db", "redis", "hs256-secret", "master-key", "admin-key", "client", "smtp-url"} {
		_ = fs.SetAnnotation(name, annotSecret, []string{"true"})
	}
}

// envName is the environment twin of a flag: --session-idle-timeout is
// LATCH_SESSION_IDLE_TIMEOUT.
func envName(flag string) string {
	return "LATCH_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// issuer is --issuer without a trailing slash, or http://ADDR.
func (c *Config) issuer(addr string) string {
	if iss := strings.TrimSuffix(c.Issuer, "/"); iss != "" {
		return iss
	}
	return "http://" + addr
}

// dbFlags declares what every subcommand that opens the database needs.
func (c *Config) dbFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.DB, "db", "sqlite:./latch-data/latch.db", "sqlite:PATH, memory: (tests) or postgres://...")
	fs.StringVar(&c.MasterKey, "master-key", "", "encrypts private signing keys at rest")
}

// Where a flag's value came from, for `latch config`.
const (
	fromDefault = "default"
	fromEnv     = "environment"
	fromFlag    = "flag"
)

// applyEnv fills every configuration flag not given on the command line
// from its LATCH_ twin (flags win over the environment), after parsing,
// and returns where each flag's value came from.
func applyEnv(fs *pflag.FlagSet, getenv func(string) string) (map[string]string, error) {
	sources := map[string]string{}
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		env := f.Annotations[annotEnv]
		switch {
		case f.Changed:
			sources[f.Name] = fromFlag
			return
		case len(env) == 0:
			return
		}
		sources[f.Name] = fromDefault
		v := getenv(env[0])
		if v == "" || err != nil {
			return
		}
		if e := f.Value.Set(v); e != nil {
			if f.Annotations[annotSecret] != nil {
				e = errors.New("not a valid value") // the value may hold a secret
			}
			err = fmt.Errorf("invalid value for %s (from the environment): %v", env[0], e)
			return
		}
		sources[f.Name] = fromEnv
	})
	return sources, err
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
		{"--recovery-ttl", c.RecoveryTTL}, {"--verification-ttl", c.VerificationTTL}, {"--reauth-window", c.ReauthWindow},
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
	if c.WebAuthnRPID != "" || c.WebAuthnOrigins != "" {
		// Asked for: checked now, with the issuer as far as it is known
		// (the port of --addr 127.0.0.1:0 does not matter to the check).
		if _, _, err := relyingParty(c, c.issuer(c.Addr)); err != nil {
			return err
		}
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
