// Command resource-server is a small API protected by latch access tokens,
// showing the verify package in a real program: tokens are checked locally
// against the issuer's JWKS, revocations arrive over the issuer's stream,
// and the API answers 503 rather than guess when that stream is down.
//
//	resource-server --issuer http://127.0.0.1:8080 --client rs1:SECRET
//
// Routes: GET /api/hello (bearer token required) answers the caller's
// subject and role; GET /healthz answers 200 while the process runs;
// GET /readyz answers 503 while revocations cannot be checked. The first
// log line is `listening addr=HOST:PORT`. SIGTERM or SIGINT stop it
// gracefully (exit 0).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/latch-dev/latch/verify"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "resource-server:", err)
		os.Exit(1)
	}
}

// config is what the flags say.
type config struct {
	addr      string
	issuer    string
	audience  string
	clientID  string
	secret    string
	staleness time.Duration
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("resource-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	var client string
	fs.StringVar(&c.addr, "addr", "127.0.0.1:9090", "listen address; port 0 picks a free port (printed as listening addr=HOST:PORT)")
	fs.StringVar(&c.issuer, "issuer", "", "latch's issuer URL, exactly as the iss of its tokens (required)")
	fs.StringVar(&c.audience, "audience", "", "the aud this API requires (default: the issuer, latch's default --audience)")
	fs.StringVar(&client, "client", "", "ID:SECRET, one of latch's --client values, to follow revocations (required; split at the first ':')")
	fs.DurationVar(&c.staleness, "staleness", verify.DefaultStaleness, "how long the revocation stream may be down before every request gets 503")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.issuer == "" {
		return nil, errors.New("--issuer is required")
	}
	var ok bool
	if c.clientID, c.secret, ok = strings.Cut(client, ":"); !ok || c.clientID == "" || c.secret == "" {
		return nil, errors.New("--client ID:SECRET is required: without it revocations would go unseen")
	}
	return &c, nil
}

// run serves until ctx ends, then shuts down gracefully.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))

	// Listen before anything logs, so the first line names the address
	// even when port 0 was asked for.
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	logger.Info("listening", "addr", ln.Addr().String(), "issuer", cfg.issuer)

	newCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	opts := []verify.Option{
		verify.WithClient(cfg.clientID, cfg.secret),
		verify.WithStaleness(cfg.staleness),
		verify.WithLogger(logger),
	}
	if cfg.audience != "" {
		opts = append(opts, verify.WithAudience(cfg.audience))
	}
	v, err := verify.New(newCtx, cfg.issuer, opts...)
	if err != nil {
		if ctx.Err() != nil {
			return nil // told to stop while starting: that is not a failure
		}
		return err
	}
	defer v.Close()

	srv := &http.Server{
		Handler:           routes(v),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutCtx, cancelShut := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelShut()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// routes is the API: one protected route and the probes.
func routes(v *verify.Verifier) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /api/hello", v.Middleware(http.HandlerFunc(hello)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	// Not ready while tokens cannot be checked against revocations, so a
	// load balancer can send the traffic elsewhere.
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !v.Healthy() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "revocations unknown"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return mux
}

// hello answers who is calling, from the verified claims.
func hello(w http.ResponseWriter, r *http.Request) {
	c, ok := verify.ClaimsFromContext(r.Context())
	if !ok { // only reachable if the route lost its middleware
		http.Error(w, "no claims", http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": "hello", "subject": c.Subject, "role": c.Role})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
