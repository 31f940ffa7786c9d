// Package latchbench measures a running latch the way `latch bench` reports
// it: one table per design (session cookie, JWT, JWT + refresh) with the
// credential's size on the wire, the throughput and latency of an
// authenticated request (closed-loop at a fixed concurrency and open-loop at
// fixed rates, so that latency is not hidden by coordinated omission), the
// store operations per request, logins/s, refreshes/s and the revocation
// delay; and one row per claim of the articles latch is built from.
//
// Load is driven with vegeta's library. The package talks to latch over HTTP
// only (its URLs); starting a latch, when the user gives none, is the
// command's job. The in-process rows (claims.go) build a Service of their own.
package latchbench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"
)

// Options configure one run.
type Options struct {
	// URLs are the instances, the first one the primary; at least one.
	URLs []string
	// AdminKey, when set, is used to clean up (revoke and disable) the
	// users the run made, on a deployment bench did not start.
	AdminKey string
	// Client is ID:SECRET of a --client; it enables the verifier row (the
	// verify package following the revocation stream).
	Client string
	// Started says bench started the latch itself (embedded default); the
	// caller then removes its database, and with it the users.
	Started bool
	// AltAlgs maps further signing algorithms to the URL of an instance
	// signing with it (started by the command), for the per-algorithm
	// JWT sizes.
	AltAlgs map[string]string
	// Quick runs every load row for QuickDuration and fewer revocation rounds.
	Quick bool
	// Duration of each load row (default 10 s, or 1 s with Quick).
	Duration time.Duration
	// Workers is the closed-loop concurrency (default 32).
	Workers int
	// Rounds of each revocation-delay row (default 100, or 10 with Quick).
	Rounds int
	// Progress reports what runs; nil: nothing.
	Progress Progress
}

// Progress is told of each phase as it starts; the returned func ends it.
type Progress interface {
	Phase(name string, expected time.Duration) (done func())
}

// Report is the whole result of a run; --json writes it as is.
type Report struct {
	Started   time.Time `json:"started"`
	Target    string    `json:"target"`
	Instances int       `json:"instances"`
	Alg       string    `json:"alg"`
	Quick     bool      `json:"quick"`
	Machine   Machine   `json:"machine"`
	Designs   []Design  `json:"designs"`
	Claims    []Claim   `json:"claims"`
	// Scaling is one instance against several (only with several URLs).
	Scaling *Scaling `json:"scaling,omitempty"`
	Cleanup string   `json:"cleanup"`
	Notes   []string `json:"notes,omitempty"`
}

// Machine is where the run happened.
type Machine struct {
	OS      string `json:"os"`
	Arch    string `json:"arch"`
	CPUs    int    `json:"cpus"`
	LoadAvg string `json:"loadavg,omitempty"`
}

// Design is one table: a way of carrying the credential.
type Design struct {
	Name  string `json:"name"`
	Sizes []Size `json:"sizes"`
	// Whoami is GET /v1/whoami closed-loop at Workers concurrency.
	Whoami Load `json:"whoami"`
	// Open is whoami open-loop at fixed fractions of Whoami's rate.
	Open []Load `json:"open_loop"`
	// SameAs names the design whose requests this one shares (JWT + refresh
	// sends the same access token as JWT): its load rows are that design's.
	SameAs string `json:"same_as,omitempty"`
	// StoreOps is the session-store operations per authenticated request.
	StoreOps StoreOps `json:"store_ops"`
	// Logins is POST /v1/login in this design's mode, closed-loop.
	Logins *Load `json:"logins,omitempty"`
	// Refreshes is POST /v1/token/refresh, closed-loop (JWT + refresh only).
	Refreshes *Load `json:"refreshes,omitempty"`
	// Revocation is logout → the credential refused, per place.
	Revocation []Delay `json:"revocation"`
}

// Size is a credential's size on the wire, in bytes.
type Size struct {
	What  string `json:"what"`
	Bytes int    `json:"bytes"`
}

// Load is one vegeta attack's outcome.
type Load struct {
	Mode     string        `json:"mode"` // "closed" or "open"
	Workers  int           `json:"workers,omitempty"`
	Rate     float64       `json:"rate,omitempty"` // open loop: requests/s asked for
	Fraction float64       `json:"fraction,omitempty"`
	Duration time.Duration `json:"duration_ns"`
	Requests uint64        `json:"requests"`
	PerSec   float64       `json:"per_sec"` // successful requests per second
	Success  float64       `json:"success"` // fraction of 2xx
	// Shed is the fraction answered 429 with Retry-After: latch's own
	// backpressure (the login rows: the hasher's queue, the account's
	// lockout slots), not an error.
	Shed   float64  `json:"shed,omitempty"`
	P50    Millis   `json:"p50_ms"`
	P99    Millis   `json:"p99_ms"`
	P999   Millis   `json:"p999_ms"`
	Errors []string `json:"errors,omitempty"`
	// Server is latch's own timing of the requests (open-loop whoami
	// rows, when its /metrics is readable).
	Server *ServerTiming `json:"server,omitempty"`
}

// Millis is a duration printed and encoded in milliseconds.
type Millis float64

func ms(d time.Duration) Millis { return Millis(float64(d) / float64(time.Millisecond)) }

// StoreOps is what a request costs the session store.
type StoreOps struct {
	// HTTP is from the server's /metrics; nil when it exposes no store
	// operation counters (Source says so).
	HTTP   *float64 `json:"http,omitempty"`
	Source string   `json:"source"`
	// InProcess is measured on a Service built by this package over the
	// same stores as the embedded default (claims.go).
	InProcess   float64 `json:"in_process"`
	InProcessOf string  `json:"in_process_of"`
}

// Delay is a revocation delay: from logout's 204 to the first refusal.
type Delay struct {
	Where  string `json:"where"`
	Rounds int    `json:"rounds"`
	P50    Millis `json:"p50_ms"`
	P99    Millis `json:"p99_ms"`
	Max    Millis `json:"max_ms"`
	// Skipped says why there is no number.
	Skipped string `json:"skipped,omitempty"`
}

// Claim is one of the seeds' claims beside what this run measured.
type Claim struct {
	Claim    string             `json:"claim"`
	Measured string             `json:"measured"`
	Values   map[string]float64 `json:"values,omitempty"`
}

// Scaling is whoami on one instance against spread over all of them.
type Scaling struct {
	One Load `json:"one"`
	All Load `json:"all"`
}

// Design names.
const (
	DesignSession = "session cookie"
	DesignJWT     = "JWT"
	DesignRefresh = "JWT + refresh"
)

func (o *Options) defaults() {
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
		if o.Quick {
			o.Duration = time.Second
		}
	}
	if o.Workers <= 0 {
		o.Workers = 32
	}
	if o.Rounds <= 0 {
		o.Rounds = 100
		if o.Quick {
			o.Rounds = 10
		}
	}
	if o.Progress == nil {
		o.Progress = silent{}
	}
	for i, u := range o.URLs {
		o.URLs[i] = strings.TrimSuffix(u, "/")
	}
}

type silent struct{}

func (silent) Phase(string, time.Duration) func() { return func() {} }

// Run measures every row against opts.URLs and returns the report. Users
// it made are cleaned up before it returns (see Report.Cleanup).
func Run(ctx context.Context, opts Options) (*Report, error) {
	if len(opts.URLs) == 0 {
		return nil, errors.New("latchbench: no URL")
	}
	opts.defaults()
	r := &runner{opts: opts, c: newClient(), run: strings.ToLower(rand.Text()[:10])}
	rep := &Report{
		Started: time.Now().UTC(), Target: strings.Join(opts.URLs, " "), Instances: len(opts.URLs), Quick: opts.Quick,
		Machine: Machine{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), LoadAvg: loadAvg()},
	}
	if opts.Started {
		rep.Target = "embedded default (SQLite in a temporary file), started by latch bench as a child process"
	}
	err := r.measure(ctx, rep)
	rep.Cleanup = r.cleanup(context.WithoutCancel(ctx))
	if err != nil {
		return rep, err
	}
	return rep, nil
}

// runner holds the state of one run.
type runner struct {
	opts  Options
	c     *client
	run   string // this run's random name, in every email it signs up
	users []*user
	// accessTTL is the expires_in of the server's access tokens.
	accessTTL time.Duration
}

func (r *runner) measure(ctx context.Context, rep *Report) error {
	primary := r.opts.URLs[0]
	done := r.opts.Progress.Phase("signing up users", 0)
	// One account per closed-loop worker for logins (the per-account
	// lockout counts failures only, but spreading is closer to real use),
	// and a few for the revocation rounds.
	n := min(r.opts.Workers, 8)
	for i := range n {
		u, err := r.c.signup(ctx, primary, fmt.Sprintf("latch-bench-%s-%d@example.com", r.run, i))
		if err != nil {
			done()
			return err
		}
		r.users = append(r.users, u)
	}
	done()

	sess, err := r.c.loginSession(ctx, primary, r.users[0])
	if err != nil {
		return err
	}
	tok, err := r.c.loginToken(ctx, primary, r.users[0])
	if err != nil {
		return err
	}
	rep.Alg = tok.alg
	r.accessTTL = time.Duration(tok.expiresIn) * time.Second

	ds := Design{Name: DesignSession, Sizes: []Size{
		{"cookie value", len(sess.cookieValue)},
		{"Cookie request header", len(sess.cookieHeader)},
		{"Set-Cookie at login (all cookies)", sess.setCookieBytes},
	}}
	dj := Design{Name: DesignJWT, Sizes: []Size{{"access JWT, " + tok.alg, len(tok.access)}}}
	for _, alg := range sortedKeys(r.opts.AltAlgs) {
		if alg == tok.alg {
			continue
		}
		if n, err := r.altSize(ctx, r.opts.AltAlgs[alg]); err != nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("access JWT size for %s: %v", alg, err))
		} else {
			dj.Sizes = append(dj.Sizes, Size{"access JWT, " + alg, n})
		}
	}
	dj.Sizes = append(dj.Sizes, Size{"Authorization request header", len("Bearer ") + len(tok.access)})
	dr := Design{Name: DesignRefresh, SameAs: DesignJWT, Sizes: append(append([]Size(nil), dj.Sizes...),
		Size{"refresh token", len(tok.refresh)})}

	cookieHdr := map[string][]string{"Cookie": {sess.cookieHeader}}
	bearerHdr := map[string][]string{"Authorization": {"Bearer " + tok.access}}
	for _, x := range []struct {
		d   *Design
		hdr map[string][]string
	}{{&ds, cookieHdr}, {&dj, bearerHdr}} {
		before, source := r.storeOps(ctx, primary)
		if x.d.Whoami, x.d.Open, err = r.whoamiRows(ctx, x.d.Name, primary, x.hdr); err != nil {
			return err
		}
		after, _ := r.storeOps(ctx, primary)
		x.d.StoreOps.Source = source
		if before != nil && after != nil {
			total := x.d.Whoami.Requests
			for _, o := range x.d.Open {
				total += o.Requests
			}
			per := (*after - *before) / float64(total)
			x.d.StoreOps.HTTP = &per
		}
	}
	dr.Whoami, dr.Open, dr.StoreOps = dj.Whoami, dj.Open, dj.StoreOps

	if ds.Logins, err = r.logins(ctx, primary, "session"); err != nil {
		return err
	}
	if dj.Logins, err = r.logins(ctx, primary, "token"); err != nil {
		return err
	}
	dr.Logins = dj.Logins
	if dr.Refreshes, err = r.refreshes(ctx, primary); err != nil {
		return err
	}

	done = r.opts.Progress.Phase("revocation delays", 0)
	ds.Revocation = r.revocationRows(ctx, "session")
	dj.Revocation = r.revocationRows(ctx, "token")
	dr.Revocation = r.refreshRevocation(ctx)
	done()

	if len(r.opts.URLs) > 1 {
		if rep.Scaling, err = r.scaling(ctx, cookieHdr); err != nil {
			return err
		}
	}

	done = r.opts.Progress.Phase("in-process claims (store operations, signature CPU)", 0)
	inproc, err := measureInProcess(ctx, r.opts.Quick)
	done()
	if err != nil {
		return fmt.Errorf("in-process measurements: %w", err)
	}
	ds.StoreOps.InProcess, ds.StoreOps.InProcessOf = inproc.sessionOps, "whoami by session cookie, embedded default (SQLite behind the in-process session cache)"
	dj.StoreOps.InProcess, dj.StoreOps.InProcessOf = inproc.tokenOps, "whoami by access JWT"
	dr.StoreOps.InProcess, dr.StoreOps.InProcessOf = inproc.tokenOps, "whoami by access JWT (a refresh is one rotation in the store)"
	rep.Designs = []Design{ds, dj, dr}
	rep.Claims = claims(rep, inproc, r.accessTTL)
	return nil
}

// altSize logs in on an instance signing with another algorithm and
// returns its access token's length.
func (r *runner) altSize(ctx context.Context, url string) (int, error) {
	u, err := r.c.signup(ctx, url, fmt.Sprintf("latch-bench-%s-alg@example.com", r.run))
	if err != nil {
		return 0, err
	}
	t, err := r.c.loginToken(ctx, url, u)
	if err != nil {
		return 0, err
	}
	return len(t.access), nil
}
