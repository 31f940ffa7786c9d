// Package browser_test drives latch's pages (API.md §7) in real headless
// Chromium (Debian's chromium package) through chromedp, against the real
// binary started by internal/proctest. It checks the browser claims only a
// browser can: which cookies scripts see, what SameSite and the Fetch
// Metadata layer do to a foreign page's forms, how tabs of one browser share
// a login, what each token storage survives; and it runs axe-core on every
// page at 375 and 1280 px in both colour schemes, saving screenshots under
// browser/screenshots/ (git-ignored) for people to look at.
//
// The browser is found at $LATCH_CHROMIUM or as chromium on the PATH; axe-core
// is installed with npm into browser/.cache/ (git-ignored). Missing either
// skips these tests loudly, or fails them with CI=true (internal/testenv).
package browser_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/latch-dev/latch/internal/proctest"
	"github.com/latch-dev/latch/internal/testenv"
)

// latchBin is the binary TestMain builds once.
var latchBin string

func TestMain(m *testing.M) {
	os.Exit(proctest.Main(m, "browser", "..", func(bins map[string]string) { latchBin = bins["./cmd/latch"] }, "./cmd/latch"))
}

// server is a running latch.
type server struct {
	URL  string
	proc *proctest.Proc
}

// startLatch runs `latch serve` on an in-memory database, on a free
// loopback port, with plain-HTTP cookies (the browser talks plain HTTP to
// 127.0.0.1) and no per-IP login limit (every test logs in from one IP).
func startLatch(t *testing.T, extra ...string) *server {
	t.Helper()
	return startLatchArgs(t, append([]string{"--insecure-cookies"}, extra...)...)
}

// startLatchArgs is startLatch with the default (Secure, prefixed) cookies
// unless args say otherwise.
func startLatchArgs(t *testing.T, extra ...string) *server {
	t.Helper()
	args := append([]string{"serve", "--db", "memory:", "--addr", "127.0.0.1:0", "--login-ip-rate", "0"}, extra...)
	p := proctest.MustStart(t, "latch", latchBin, args...)
	return &server{URL: "http://" + p.Addr, proc: p}
}

var httpc = &http.Client{Timeout: 10 * time.Second}

// signup creates an account through the JSON API.
func (s *server) signup(t *testing.T, email, password string) {
	t.Helper()
	body := fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)
	res, err := httpc.Post(s.URL+"/v1/signup", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 201 {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("signup %s: %d %s", email, res.StatusCode, b)
	}
}

// chromium is the browser's path, or the test is skipped (failed in CI).
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("LATCH_CHROMIUM"), "chromium", "chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	testenv.Unavailable(t, "CHROMIUM", "no chromium on the PATH (apt-get install chromium, or scripts/chromium.sh)")
	return ""
}

// newBrowser starts a fresh headless Chromium (its own profile) and returns
// the context of its first tab.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.WindowSize(1280, 900),
	}
	// Long enough for the longest test (the accessibility walk visits every
	// page state in four views) on a busy machine.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		t.Fatalf("starting chromium: %v", err)
	}
	return bctx
}

// tab is one browser tab on one latch.
type tab struct {
	t   *testing.T
	ctx context.Context
	srv *server
}

func newTab(t *testing.T, ctx context.Context, srv *server) *tab {
	return &tab{t: t, ctx: ctx, srv: srv}
}

// another opens a second tab of the same browser context (shared cookies).
func (b *tab) another() *tab {
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	nt := &tab{t: b.t, ctx: ctx, srv: b.srv}
	nt.do(chromedp.Navigate("about:blank"))
	return nt
}

// stranger opens a tab in a new browser context: another person's browser.
func (b *tab) stranger() *tab {
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	nt := &tab{t: b.t, ctx: ctx, srv: b.srv}
	nt.do(chromedp.Navigate("about:blank"))
	return nt
}

func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatal(err)
	}
}

// open loads a latch page and waits for it.
func (b *tab) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.srv.URL + path))
}

func sel(testid string) chromedp.CSS { return chromedp.CSS(`[data-testid="` + testid + `"]`) }

// fill types into a field.
func (b *tab) fill(testid, value string) {
	b.t.Helper()
	b.do(chromedp.WaitVisible(sel(testid)), chromedp.SetValue(sel(testid), value))
}

// submit clicks a button that posts a form and waits for the next page.
func (b *tab) submit(testid string) {
	b.t.Helper()
	if _, err := chromedp.RunResponse(b.ctx, chromedp.Click(sel(testid))); err != nil {
		b.t.Fatalf("submitting with %s: %v", testid, err)
	}
}

// click clicks a button handled by a script.
func (b *tab) click(testid string) {
	b.t.Helper()
	b.do(chromedp.WaitVisible(sel(testid)), chromedp.Click(sel(testid)))
}

// eval evaluates a JavaScript expression (awaiting a promise) into T.
func eval[T any](b *tab, js string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluating %.80q: %v", js, err)
	}
	return v
}

// text is the text of the element marked testid ("" when there is none).
func (b *tab) text(testid string) string {
	b.t.Helper()
	return eval[string](b, `(document.querySelector('[data-testid="`+testid+`"]') || {textContent: ""}).textContent.trim()`)
}

// path is the current path and query.
func (b *tab) path() string {
	b.t.Helper()
	return eval[string](b, `location.pathname + location.search`)
}

// waitUntil polls a JavaScript predicate until it is true, across reloads
// and navigations (an evaluation that meets a page in between is retried).
func (b *tab) waitUntil(what, js string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("waiting for %s: not within %s (last error %v); at %s", what, timeout, last, b.path())
}

// visible is the predicate that the element marked testid is shown.
func visible(testid string) string {
	return `(() => { const e = document.querySelector('[data-testid="` + testid + `"]'); return !!e && !e.closest('[hidden]') && e.getClientRects().length > 0; })()`
}

// cookies are the browser's cookies for latch, as the browser holds them.
func (b *tab) cookies() []*network.Cookie {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{b.srv.URL + "/", b.srv.URL + "/v1/token/refresh"}})
	if err != nil {
		b.t.Fatal(err)
	}
	return res.Cookies
}

func (b *tab) cookie(name string) *network.Cookie {
	for _, c := range b.cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// login signs in through the login form and lands on /account.
func (b *tab) login(email, password string) {
	b.t.Helper()
	b.open("/login")
	b.fill("email", email)
	b.fill("password", password)
	b.submit("submit")
	if p := b.path(); p != "/account" {
		b.t.Fatalf("after login at %s, want /account; error %q", p, b.text("error"))
	}
}

// foreignSite serves pages on 127.0.0.2, another site than latch's
// 127.0.0.1: each page auto-submits a form to latch.
type foreignSite struct {
	URL   string
	mu    sync.Mutex
	pages map[string]string
}

func startForeignSite(t *testing.T) *foreignSite {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		testenv.Unavailable(t, "LOOPBACK 127.0.0.2", "cannot listen on 127.0.0.2: %v", err)
	}
	fs := &foreignSite{URL: "http://" + ln.Addr().String(), pages: map[string]string{}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.mu.Lock()
		page, ok := fs.pages[r.URL.Path]
		fs.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, page)
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return fs
}

// autoSubmit publishes a page that posts fields to action as soon as it loads.
func (fs *foreignSite) autoSubmit(path, action string, fields map[string]string) string {
	var inputs strings.Builder
	for k, v := range fields {
		fmt.Fprintf(&inputs, `<input type="hidden" name="%s" value="%s">`, k, v)
	}
	fs.mu.Lock()
	fs.pages[path] = `<!doctype html><title>You won a prize</title><form id="f" method="post" action="` + action + `">` +
		inputs.String() + `</form><script>document.getElementById("f").submit()</script>`
	fs.mu.Unlock()
	return fs.URL + path
}

// axeSource is axe.min.js, installed once per test binary with npm.
var axeSource = sync.OnceValues(func() (string, error) {
	dir, err := filepath.Abs(".cache/axe")
	if err != nil {
		return "", err
	}
	file := filepath.Join(dir, "node_modules", "axe-core", "axe.min.js")
	if _, err := os.Stat(file); err != nil {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		npm, err := exec.LookPath("npm")
		if err != nil {
			return "", fmt.Errorf("no npm on the PATH: %w", err)
		}
		cmd := exec.Command(npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", dir, "axe-core@"+axeVersion)
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("npm install axe-core: %v\n%s", err, out)
		}
	}
	b, err := os.ReadFile(file)
	return string(b), err
})

// axeVersion is the axe-core the tests run (npm package).
const axeVersion = "4.14.1"

// axeViolation is one failed axe rule, as much as a failure report needs.
type axeViolation struct {
	ID    string `json:"id"`
	Help  string `json:"help"`
	Nodes []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// axe runs axe-core at WCAG 2.1 A and AA on the current page.
func (b *tab) axe() []axeViolation {
	b.t.Helper()
	src, err := axeSource()
	if err != nil {
		testenv.Unavailable(b.t, "AXE-CORE", "axe-core: %v", err)
	}
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[chromedp.Void](src)); err != nil {
		b.t.Fatalf("injecting axe: %v", err)
	}
	raw := eval[string](b, `axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}, resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations))`)
	var v []axeViolation
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		b.t.Fatal(err)
	}
	return v
}
