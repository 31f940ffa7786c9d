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
	m.Registry.MustRegister(m.requests, m.duration, m.logins, m.events, m.revoked, m.panics, m.HashSeconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Event counts one security event (a latch.Deps.OnEvent): logins by
// outcome, revocation log entries by kind, every kind by outcome.
func (m *Metrics) Event(_ context.Context, e latch.Event) {
	switch e.Kind {
	case latch.EventLogin:
		m.logins.WithLabelValues(e.Outcome).Inc()
	case latch.EventRevocationAdded:
		m.revoked.WithLabelValues(e.Detail).Inc()
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
func (s *Server) instrument(route string, next http.Handler, stream bool) http.Handler {
	dur := s.Metrics.duration.WithLabelValues(route)
	ok := s.Metrics.counter(route, 200) // the usual answer, without a lookup
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
