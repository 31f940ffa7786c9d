package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite": the row counts, read from latch's file
)

// metric is one series the tool samples: from /metrics (prom names the
// metric) or from the database (query counts rows), or the tool's own.
type metric struct {
	key, label string
	prom       string  // the /metrics name, if read from there
	scale      float64 // the value is divided by this (bytes → MiB)
	query      string  // a count read from the database, if from there

	// The verdict: flat when the fitted change over the last half is
	// within tol of the mean or within floor (or within the noise, see fit).
	tol, floor float64
	// lows: fit each minute's lowest reading, not its mean. The heap
	// readings are the live state plus 0–3 argon2id buffers of 19 MiB (one
	// hashing, the others garbage until the next collection), depending on
	// where the sample falls between logins and collections; the floor
	// under those steps is what a leak would raise.
	lows bool
}

const mib = 1 << 20

// series are the metrics sampled, in the order they are printed. Memory,
// goroutines and files are held to 5 % over the last half (tight); the
// state counts to 10 % (loose), as the
// population itself wanders by that much (each credential lives a random
// time), while a leak of any of them would add the whole state again
// every two or three minutes.
func series() []metric {
	const tight, loose = 0.05, 0.10
	return []metric{
		{key: "rss", label: "RSS MiB", prom: "process_resident_memory_bytes", scale: mib, tol: tight, floor: 2},
		{key: "heap", label: "heap in use MiB", prom: "go_memstats_heap_inuse_bytes", scale: mib, tol: tight, floor: 2, lows: true},
		// The heap goal: the live heap marked by the last GC, doubled (GOGC
		// 100), at least 4 MiB.
		{key: "goal", label: "GC heap goal MiB", prom: "go_memstats_next_gc_bytes", scale: mib, tol: tight, floor: 2, lows: true},
		{key: "gor", label: "goroutines", prom: "go_goroutines", scale: 1, tol: tight, floor: 2},
		{key: "fds", label: "open files", prom: "process_open_fds", scale: 1, tol: tight, floor: 2},
		{key: "held", label: "credentials held", tol: loose, floor: 10},
		{key: "active", label: "live sessions+families", prom: "latch_sessions_active", scale: 1, tol: loose, floor: 10},
		{key: "revset", label: "revocation set", prom: "latch_revocations_live", scale: 1, tol: loose, floor: 10},
		{key: "rows", label: "session rows", query: `SELECT count(*) FROM sessions`, tol: loose, floor: 10},
		{key: "spent", label: "spent refresh rows", query: `SELECT count(*) FROM refresh_spent`, tol: loose, floor: 10},
		{key: "revrows", label: "revocation rows", query: `SELECT count(*) FROM revocations`, tol: loose, floor: 10},
	}
}

// sample is one reading of every metric, at a time since the load began
// (negative: before it).
type sample struct {
	at  time.Duration
	v   map[string]float64
	req float64 // requests answered so far
}

// sampler reads /metrics and the database file.
type sampler struct {
	s  *soak
	w  *worker // its own connection to /metrics
	db *sql.DB // read-only
}

// openSampler opens latch's database file read-only: counting rows in WAL
// mode never blocks latch's writer.
func openSampler(s *soak, path string) (*sampler, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return &sampler{s: s, w: s.worker(), db: db}, nil
}

func (sp *sampler) close() error { return sp.db.Close() }

// take reads every metric.
func (sp *sampler) take(ctx context.Context, at time.Duration) (sample, error) {
	m, err := scrape(sp.w)
	if err != nil {
		return sample{}, fmt.Errorf("/metrics: %w", err)
	}
	sm := sample{at: at, v: map[string]float64{}, req: m["requests"]}
	for _, x := range series() {
		switch {
		case x.prom != "":
			v, ok := m[x.prom]
			if !ok {
				return sample{}, fmt.Errorf("/metrics has no %s", x.prom)
			}
			sm.v[x.key] = v / x.scale
		case x.query != "":
			var n int64
			if err := sp.db.QueryRowContext(ctx, x.query).Scan(&n); err != nil {
				return sample{}, fmt.Errorf("%s: %w", x.query, err)
			}
			sm.v[x.key] = float64(n)
		}
	}
	sm.v["held"] = float64(sp.s.held.Load())
	return sm, nil
}

// print writes one line for sm.
func (sm sample) print(unexpected int64) {
	var b strings.Builder
	fmt.Fprintf(&b, "%7s", sm.at.Round(time.Second))
	for _, x := range series() {
		fmt.Fprintf(&b, "  %s %s", x.label, strconv.FormatFloat(sm.v[x.key], 'f', decimals(x), 64))
	}
	fmt.Fprintf(&b, "  requests %.0f  unexpected %d", sm.req, unexpected)
	fmt.Println(b.String())
}

func decimals(x metric) int {
	if x.scale > 1 {
		return 1
	}
	return 0
}

// scrape reads the unlabelled metrics, and the request total.
func scrape(w *worker) (map[string]float64, error) {
	resp, err := w.c.Get(w.base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, val, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		if strings.HasPrefix(name, "latch_http_requests_total{") {
			m["requests"] += v
			continue
		}
		m[name] = v
	}
	return m, sc.Err()
}

// janitorEvery is how often latch forgets expired state: the state
// metrics rise for a minute and drop, a saw tooth that fit averages out.
const janitorEvery = time.Minute

// trend is the least-squares line of one metric over a window.
type trend struct {
	perMin, se   float64 // the slope per minute and its standard error
	change       float64 // perMin × the window's length
	center, mean float64 // the line passes through (center minutes, mean)
	from, to     time.Duration
	points       int // the means (or samples) fitted
	flat         bool
}

// fit fits x over the samples taken from from on. When the window holds
// at least three whole minutes, the samples of each minute are first
// reduced to their mean (the janitor's period, so that its saw tooth does
// not tilt the line), or to their lowest reading for a metric of lows; the
// line is fitted through those points. The metric is called flat when the
// fitted change over the window is within x.tol of its mean, within
// x.floor, or within two standard errors of the fit (no trend the noise
// could not make).
func fit(samples []sample, x metric, from time.Duration) trend {
	type point struct{ at, v float64 } // minutes, value
	var raw []point
	for _, s := range samples {
		if s.at >= from {
			raw = append(raw, point{s.at.Minutes(), s.v[x.key]})
		}
	}
	if len(raw) < 3 {
		return trend{flat: true}
	}
	t := trend{from: from, to: time.Duration(raw[len(raw)-1].at * float64(time.Minute))}
	pts := raw
	if blocks := int((t.to - from) / janitorEvery); blocks >= 3 {
		t.to = from + time.Duration(blocks)*janitorEvery
		pts = make([]point, blocks)
		n := make([]int, blocks)
		for _, p := range raw {
			k := int((p.at - from.Minutes()) / janitorEvery.Minutes())
			switch {
			case k >= blocks:
			case x.lows && (n[k] == 0 || p.v < pts[k].v):
				pts[k].v = p.v
				n[k] = 1
			case !x.lows:
				pts[k].v += p.v
				n[k]++
			}
		}
		for k := range pts {
			if n[k] == 0 {
				return trend{flat: true}
			}
			pts[k] = point{(from + time.Duration(k)*janitorEvery + janitorEvery/2).Minutes(), pts[k].v / float64(n[k])}
		}
	}
	n := float64(len(pts))
	var sx, sy float64
	for _, p := range pts {
		sx, sy = sx+p.at, sy+p.v
	}
	mx, my := sx/n, sy/n
	var sxy, sxx float64
	for _, p := range pts {
		sxy, sxx = sxy+(p.at-mx)*(p.v-my), sxx+(p.at-mx)*(p.at-mx)
	}
	t.center, t.mean, t.points = mx, my, len(pts)
	if sxx == 0 {
		return t
	}
	t.perMin = sxy / sxx
	var rss float64 // the residuals' sum of squares
	for _, p := range pts {
		r := p.v - (my + t.perMin*(p.at-mx))
		rss += r * r
	}
	t.se = math.Sqrt(rss / (n - 2) / sxx)
	window := (t.to - t.from).Minutes()
	t.change = t.perMin * window
	t.flat = math.Abs(t.change) <= max(x.floor, x.tol*math.Abs(my), 2*t.se*window)
	return t
}

// fileSize is the size of path, 0 when it does not exist.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
