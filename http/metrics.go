package http

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/latch-dev/latch"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are latch's Prometheus metrics, on a registry of their own (no
// global state).
type Metrics struct {
	Registry *prometheus.Registry

	requests *prometheus.CounterVec
	counters sync.Map // routeStatus -> prometheus.Counter
	duration *prometheus.HistogramVec
	logins   *prometheus.CounterVec
	events   *prometheus.CounterVec
	revoked  *prometheus.CounterVec
	panics   prometheus.Counter
	// HashSeconds observes every password hash and comparison.
	HashSeconds prometheus.Histogram

	refreshes     *prometheus.CounterVec
	reuse         prometheus.Counter
	verifyHit     prometheus.Counter
	verifyFull    prometheus.Counter
	verifyHitDur  prometheus.Observer
	verifyFullDur prometheus.Observer
	hashWait      prometheus.Histogram
	hashRefused   prometheus.Counter
	streamDelay   prometheus.Histogram
	streamLagged  prometheus.Counter
	storeDur      *prometheus.HistogramVec
	storeErrs     *prometheus.CounterVec
}

// NewMetrics registers latch's metrics and the Go and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latch_http_requests_total", Help: "HTTP requests by route and status.",
		}, []string{"route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "latch_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latch_logins_total", Help: "Login attempts by outcome.",
		}, []string{"outcome"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latch_security_events_total",
			Help: "Security events by kind and outcome (the audit trail's events: refresh, refresh_reuse, logout, password_change, ...).",
		}, []string{"event", "outcome"}),
		revoked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latch_revocations_total", Help: "Entries added to the revocation log by this instance, by kind (jti, sid, sub).",
		}, []string{"kind"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "latch_http_panics_total", Help: "Handler panics recovered (answered 500).",
		}),
		HashSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "latch_password_hash_seconds", Help: "Latency of argon2id hashes and comparisons.",
			Buckets: []float64{.005, .01, .02, .03, .05, .075, .1, .25, .5, 1, 2.5},
		}),
	}
	m.refreshes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "latch_refreshes_total", Help: "Refresh token uses by outcome: success (a rotation) or invalid_refresh_token; reuses are latch_refresh_reuse_total.",
	}, []string{"outcome"})
	m.reuse = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "latch_refresh_reuse_total", Help: "Spent refresh tokens presented again: each revoked its whole family.",
	})
	verifies := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "latch_token_verifications_total", Help: "Access token checks by path: cache_hit (seen before) or signature (a full check).",
	}, []string{"path"})
	verifyDur := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "latch_token_verify_seconds", Help: "Access token check latency by path; signature checks all timed, cache hits one in 64.",
		Buckets: []float64{25e-9, 50e-9, 100e-9, 250e-9, 500e-9, 1e-6, 2.5e-6, 5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 1e-3, 5e-3},
	}, []string{"path"})
	m.verifyHit, m.verifyFull = verifies.WithLabelValues("cache_hit"), verifies.WithLabelValues("signature")
	m.verifyHitDur, m.verifyFullDur = verifyDur.WithLabelValues("cache_hit"), verifyDur.WithLabelValues("signature")
	m.hashWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "latch_password_wait_seconds", Help: "Time password hashes and comparisons waited for an argon2id slot (0 when one was free).",
		Buckets: []float64{0, .001, .005, .01, .025, .05, .1, .25, .5, 1, 2, 5},
	})
	m.hashRefused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "latch_password_refused_total", Help: "Password hashes and comparisons refused a slot: queue full, no slot within the wait (answered 429), or the caller gone.",
	})
	m.streamDelay = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "latch_stream_delivery_seconds", Help: "From a revocation's creation to its live delivery to a follower of /v1/revocations.",
		Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	m.streamLagged = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "latch_stream_lagged_total", Help: "Followers of /v1/revocations cut off for lagging 4096 events behind (they resume from their cursor).",
	})
	m.storeDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "latch_store_operation_seconds", Help: "Store call latency by store (sqlite, postgres, redis, memory) and method.",
		Buckets: []float64{50e-6, 100e-6, 250e-6, 500e-6, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
	}, []string{"store", "method"})
	m.storeErrs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "latch_store_errors_total", Help: "Store calls that failed (not a normal not-found or conflict answer) by store and method.",
	}, []string{"store", "method"})
	m.Registry.MustRegister(m.requests, m.duration, m.logins, m.events, m.revoked, m.panics, m.HashSeconds,
		m.refreshes, m.reuse, verifies, verifyDur, m.hashWait, m.hashRefused, m.streamDelay, m.streamLagged,
		m.storeDur, m.storeErrs,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveVerify records one access token check (jose.WithObserver): a
// counter increment, and a histogram observation when d > 0 (every
// signature check, one cache hit in 64).
func (m *Metrics) ObserveVerify(cached bool, d time.Duration) {
	if cached {
		m.verifyHit.Inc()
		if d > 0 {
			m.verifyHitDur.Observe(d.Seconds())
		}
		return
	}
	m.verifyFull.Inc()
	m.verifyFullDur.Observe(d.Seconds())
}

// ObserveHashWait records one wait for an argon2id slot
// (password.Config.ObserveWait).
func (m *Metrics) ObserveHashWait(d time.Duration, got bool) {
	if !got {
		m.hashRefused.Inc()
		return
	}
	m.hashWait.Observe(d.Seconds())
}

// StoreObserver returns the recorder of one store method
// (instrumented.Observer): latency, and faults counted. The fault counter
// is made at once, at zero, so that an alert on its increase sees the
// first fault; the latency histogram on the method's first call (see
// Server.instrument).
func (m *Metrics) StoreObserver(store, method string) func(d time.Duration, fault error) {
	dur := sync.OnceValue(func() prometheus.Observer { return m.storeDur.WithLabelValues(store, method) })
	errs := m.storeErrs.WithLabelValues(store, method)
	return func(d time.Duration, fault error) {
		dur().Observe(d.Seconds())
		if fault != nil {
			errs.Inc()
		}
	}
}

// HasherStats is what the argon2id queue gauges read (password.Hasher).
type HasherStats interface {
	Waiting() int // callers queued for a slot
	Busy() int    // slots computing
}

// WatchHasher registers the argon2id queue gauges, read at scrape time.
func (m *Metrics) WatchHasher(h HasherStats) {
	m.Gauge("latch_password_queue_depth", "Password hashes and comparisons waiting for an argon2id slot.", func() float64 { return float64(h.Waiting()) })
	m.Gauge("latch_password_slots_busy", "argon2id slots computing now (of at most GOMAXPROCS by default).", func() float64 { return float64(h.Busy()) })
}

// WatchService registers the gauges read from the Service at scrape time:
// the revocation set, the revocation stream's followers and backlog, and
// live sessions and families when the session store can count them.
func (m *Metrics) WatchService(ctx context.Context, svc *latch.Service) {
	m.Gauge("latch_revocations_live", "Entries in the in-memory revocation set.", func() float64 { return float64(svc.RevokedCount()) })
	m.Gauge("latch_stream_subscribers", "Followers of /v1/revocations connected to this instance.", func() float64 {
		return float64(svc.StreamStats().Subscribers)
	})
	m.Gauge("latch_stream_backlog_max", "Revocations the slowest follower of /v1/revocations has yet to take (cut off at 4096).", func() float64 {
		return float64(svc.StreamStats().MaxBacklog)
	})
	if _, ok, _ := svc.CountLiveSessions(ctx); ok {
		m.Gauge("latch_sessions_active", "Live cookie sessions and refresh families (-1: the count failed).", func() float64 {
			cctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			n, _, err := svc.CountLiveSessions(cctx)
			if err != nil {
				return -1
			}
			return float64(n)
		})
	}
}

// Event counts one security event (a latch.Deps.OnEvent): logins by
// outcome, refreshes by outcome, reuses, revocation log entries by kind,
// every kind by outcome.
func (m *Metrics) Event(_ context.Context, e latch.Event) {
	switch e.Kind {
	case latch.EventLogin:
		m.logins.WithLabelValues(e.Outcome).Inc()
	case latch.EventRevocationAdded:
		m.revoked.WithLabelValues(e.Detail).Inc()
	case latch.EventRefresh:
		m.refreshes.WithLabelValues(e.Outcome).Inc()
	case latch.EventRefreshReuse:
		m.reuse.Inc()
	}
	m.events.WithLabelValues(string(e.Kind), e.Outcome).Inc()
}

// Gauge registers a gauge read at scrape time (active sessions, revocations...).
func (m *Metrics) Gauge(name, help string, fn func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn))
}

func (m *Metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

func (m *Metrics) observe(route string, status int) {
	m.counter(route, status).Inc()
}

// counter returns the request counter of a route and status, looked up in
// the vector once and then kept: label hashing on every request is a
// measurable share of the hot path.
func (m *Metrics) counter(route string, status int) prometheus.Counter {
	key := routeStatus{route, status}
	if c, ok := m.counters.Load(key); ok {
		return c.(prometheus.Counter)
	}
	c := m.requests.WithLabelValues(route, strconv.Itoa(status))
	m.counters.Store(key, c)
	return c
}

type routeStatus struct {
	route  string
	status int
}

// instrument counts requests by route and status and times them (streams
// are counted, not timed).
//
// A route's series are made on its first request, as those of its other
// statuses always were. Made for every route at start, they were (with the
// store histograms of StoreObserver) 100 KB and 1,400 objects of live heap
// that every garbage collection marked; and below Go's 4 MB minimum heap
// goal every live byte also shortens the run of requests between two
// collections (BENCHMARKS.md).
func (s *Server) instrument(route string, next http.Handler, stream bool) http.Handler {
	series := sync.OnceValues(func() (prometheus.Observer, prometheus.Counter) {
		return s.Metrics.duration.WithLabelValues(route), s.Metrics.counter(route, 200) // 200: the usual answer, without a lookup
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dur, ok := series()
		start := time.Now()
		rec := s.recorders.Get().(*statusRecorder)
		*rec = statusRecorder{ResponseWriter: w, status: 200}
		defer func() {
			if v := recover(); v != nil { // counted as the 500 recoverer answers
				s.Metrics.observe(route, 500)
				panic(v)
			}
		}()
		next.ServeHTTP(rec, r)
		if !stream {
			dur.Observe(time.Since(start).Seconds())
		}
		if rec.status == 200 {
			ok.Inc()
		} else {
			s.Metrics.observe(route, rec.status)
		}
		*rec = statusRecorder{} // drop the ResponseWriter before pooling
		s.recorders.Put(rec)
	})
}

// statusRecorder remembers the status written.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
