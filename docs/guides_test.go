// Package docs_test runs the commands of the guides in this folder against
// a real latch, so that a guide cannot drift from what latch does.
//
// The guides mark what the test runs with HTML comments, invisible on
// GitHub:
//
//   - <!-- serve --> before a ```sh block holding a `latch serve …` command:
//     the test starts the real binary with that command's flags, on a free
//     port (--addr is replaced) and a fresh SQLite file (unless --db is
//     given). Without one, a guide's blocks run against `latch serve
//     --insecure-cookies`.
//   - <!-- test --> before a ```sh block: the block runs in bash (-euo
//     pipefail), with $LATCH set to the server's base URL, in a working
//     directory that the guide's blocks share (cookie jars, saved tokens).
//     All the test blocks of a guide run in one shell, in order, so a
//     variable set in one block is seen by the next.
//   - <!-- output --> after a test block, before a fenced block: the test
//     block's output must match it line by line, where "…" stands for any
//     text (an ID, a token, a time).
//   - <!-- include: PATH --> before a fenced block: the block must appear
//     verbatim in PATH (relative to the repository root), so that the code
//     a guide shows is the code that compiles and runs.
package docs_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latch-dev/latch/internal/proctest"
	"github.com/latch-dev/latch/internal/testenv"
)

// latchBin is the binary TestMain builds once.
var latchBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "latch-docs-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	built, err := proctest.Build("..", dir, "./cmd/latch")
	if err != nil {
		fmt.Fprintln(os.Stderr, "docs:", err)
		return 1
	}
	latchBin = built["./cmd/latch"]
	return m.Run()
}

// guides are the documents whose marked blocks the test runs or checks.
var guides = []string{
	"quickstart.md",
	"choosing.md",
	"guide-server-rendered.md",
	"guide-spa.md",
	"guide-mobile.md",
	"guide-go-service.md",
	"guide-node-service.md",
	"operations.md",
	"../README.md",
}

// block is a fenced block of a guide with the marker before it.
type block struct {
	marker string // "serve", "test", "output" or "include: PATH"
	line   int    // of the opening fence
	lang   string
	text   string
	output *block // for a test block: the expected output, if given
}

var markerRE = regexp.MustCompile(`^<!--\s*(serve|test|output|include:\s*\S+)\s*-->\s*$`)

// parseGuide returns the marked blocks of a guide, the output blocks
// attached to the test blocks they follow.
func parseGuide(t *testing.T, name string, src []byte) []*block {
	t.Helper()
	var out []*block
	var pending string // a marker waiting for its fence
	var cur *block     // inside a marked fence
	var inFence bool   // inside any fence
	sc := bufio.NewScanner(bytes.NewReader(src))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case inFence && strings.HasPrefix(trimmed, "```"):
			inFence = false
			if cur != nil {
				if cur.marker == "output" {
					if len(out) == 0 || out[len(out)-1].marker != "test" || out[len(out)-1].output != nil {
						t.Fatalf("%s:%d: an output block must follow a test block", name, cur.line)
					}
					out[len(out)-1].output = cur
				} else {
					out = append(out, cur)
				}
				cur = nil
			}
		case inFence:
			if cur != nil {
				cur.text += line + "\n"
			}
		case strings.HasPrefix(trimmed, "```"):
			inFence = true
			if pending != "" {
				cur = &block{marker: pending, line: n, lang: strings.TrimPrefix(trimmed, "```")}
				pending = ""
			}
		case markerRE.MatchString(trimmed):
			if pending != "" {
				t.Fatalf("%s:%d: marker %q is not followed by a fenced block", name, n, pending)
			}
			pending = markerRE.FindStringSubmatch(trimmed)[1]
		case trimmed != "" && pending != "":
			t.Fatalf("%s:%d: marker %q must be followed by a fenced block, not %q", name, n, pending, trimmed)
		}
	}
	if inFence || pending != "" {
		t.Fatalf("%s: unterminated fence or marker at the end", name)
	}
	for _, b := range out {
		if (b.marker == "test" || b.marker == "serve") && b.lang != "sh" {
			t.Fatalf("%s:%d: a %s block must be ```sh, not ```%s", name, b.line, b.marker, b.lang)
		}
	}
	return out
}

// TestGuides runs every guide's test blocks against its own latch and
// checks its include blocks against the files they quote.
func TestGuides(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Unavailable(t, tool, "the guides' commands need %s: %v", tool, err)
		}
	}
	for _, name := range guides {
		t.Run(strings.TrimSuffix(filepath.Base(name), ".md"), func(t *testing.T) {
			src, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			blocks := parseGuide(t, name, src)
			var serve *block
			var tests []*block
			for _, b := range blocks {
				switch {
				case b.marker == "serve":
					if serve != nil {
						t.Fatalf("%s:%d: a second serve block", name, b.line)
					}
					serve = b
				case b.marker == "test":
					tests = append(tests, b)
				case strings.HasPrefix(b.marker, "include:"):
					checkInclude(t, name, b)
				}
			}
			if len(tests) == 0 {
				return
			}
			args := []string{"--insecure-cookies"}
			if serve != nil {
				args = serveArgs(t, name, serve)
			}
			runBlocks(t, name, startLatch(t, args), tests)
		})
	}
}

// TestGuidesMarked keeps the promise of the issue: every guide has
// commands that this test runs, or code it checks.
func TestGuidesMarked(t *testing.T) {
	for _, name := range guides {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if len(parseGuide(t, name, src)) == 0 {
			t.Errorf("%s has no marked block: nothing in it is tested", name)
		}
	}
}

// checkInclude fails unless the block is a verbatim part of the file it names.
func checkInclude(t *testing.T, name string, b *block) {
	t.Helper()
	path := strings.TrimSpace(strings.TrimPrefix(b.marker, "include:"))
	src, err := os.ReadFile(filepath.Join("..", path))
	if err != nil {
		t.Fatalf("%s:%d: %v", name, b.line, err)
	}
	if !bytes.Contains(src, []byte(b.text)) {
		t.Errorf("%s:%d: this block is not (any longer) a verbatim part of %s; copy it again from there", name, b.line, path)
	}
}

// serveArgs turns the guide's `latch serve …` command into the arguments
// for a test server: its own flags, a free port, a fresh database.
func serveArgs(t *testing.T, name string, b *block) []string {
	t.Helper()
	cmd := strings.ReplaceAll(b.text, "\\\n", " ")
	words := strings.Fields(cmd)
	i := 0
	for i < len(words) && words[i] != "serve" {
		i++
	}
	if i == len(words) {
		t.Fatalf("%s:%d: the serve block has no `latch serve` command", name, b.line)
	}
	var args []string
	hasDB := false
	for j := i + 1; j < len(words); j++ {
		w := strings.Trim(words[j], `'"`)
		switch {
		case w == "&":
		case w == "--addr":
			j++ // replaced below
		case strings.HasPrefix(w, "--addr="):
		default:
			hasDB = hasDB || w == "--db" || strings.HasPrefix(w, "--db=")
			args = append(args, w)
		}
	}
	args = append(args, "--addr", "127.0.0.1:0")
	if !hasDB {
		args = append(args, "--db", "sqlite:"+filepath.Join(t.TempDir(), "latch.db"))
	}
	return args
}

// startLatch starts `latch serve` with args and returns its base URL.
func startLatch(t *testing.T, args []string) string {
	t.Helper()
	p := proctest.MustStart(t, "latch", latchBin, append([]string{"serve"}, args...)...)
	base := "http://" + p.Addr
	waitReady(t, base)
	return base
}

// waitReady waits for /readyz to answer 200.
func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/readyz did not answer 200 (%v)", base, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// blockMark separates the blocks' outputs in the one shell's stdout.
const blockMark = "@@latch-docs-block@@"

// runBlocks runs the test blocks of one guide in one bash, in order, and
// compares each block's output with its expected output.
func runBlocks(t *testing.T, name, base string, tests []*block) {
	t.Helper()
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	for i, b := range tests {
		fmt.Fprintf(&script, "printf '\\n%s %d\\n'\n%s\n", blockMark, i, b.text)
	}
	fmt.Fprintf(&script, "printf '\\n%s end\\n'\n", blockMark)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "LATCH="+base)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()

	outputs := splitOutputs(stdout.String())
	for i, b := range tests {
		got, ran := outputs[fmt.Sprint(i)]
		if !ran {
			break
		}
		_, next := outputs[fmt.Sprint(i+1)]
		if _, end := outputs["end"]; !next && !end {
			t.Fatalf("%s:%d: this block failed (%v):\n%s\n--- its output:\n%s\n--- stderr:\n%s",
				name, b.line, runErr, b.text, got, stderr.String())
		}
		if b.output != nil {
			if msg := matchOutput(b.output.text, got); msg != "" {
				t.Errorf("%s:%d: the output differs from the guide's (line %d): %s\n--- got:\n%s",
					name, b.line, b.output.line, msg, got)
			}
		}
	}
	if runErr != nil || len(outputs) != len(tests)+1 {
		t.Fatalf("%s: the blocks did not all run: %v\n--- stderr:\n%s", name, runErr, stderr.String())
	}
}

// splitOutputs cuts the shell's stdout at the block marks.
func splitOutputs(stdout string) map[string]string {
	out := map[string]string{}
	key := ""
	var cur strings.Builder
	flush := func() {
		if key != "" {
			out[key] = strings.TrimSpace(cur.String())
		}
		cur.Reset()
	}
	for _, line := range strings.SplitAfter(stdout, "\n") {
		if rest, ok := strings.CutPrefix(line, blockMark+" "); ok {
			flush()
			key = strings.TrimSpace(rest)
			continue
		}
		cur.WriteString(line)
	}
	flush()
	return out
}

// matchOutput compares output with the expected text line by line, "…"
// matching any text; it returns what differs, or "".
func matchOutput(want, got string) string {
	wl := strings.Split(strings.TrimSpace(want), "\n")
	gl := strings.Split(strings.TrimSpace(got), "\n")
	if len(wl) != len(gl) {
		return fmt.Sprintf("%d lines expected, %d printed", len(wl), len(gl))
	}
	for i := range wl {
		parts := strings.Split(strings.TrimRight(wl[i], " "), "…")
		for j := range parts {
			parts[j] = regexp.QuoteMeta(parts[j])
		}
		re := regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
		if !re.MatchString(strings.TrimRight(gl[i], " ")) {
			return fmt.Sprintf("line %d: want %q, got %q", i+1, wl[i], gl[i])
		}
	}
	return ""
}
