package latchbench

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// ServerTiming is how latch itself timed an open-loop row's requests, from
// its own request-duration histogram in /metrics (from the handler chain's
// entry to its last write): the part of the tail the client saw that was
// spent inside latch's handlers. The rest was spent on the way (kernel
// queues, the network, goroutines waiting for a core, the load generator).
type ServerTiming struct {
	Requests float64 `json:"requests"`   // whoami requests latch timed during the row
	Over10ms float64 `json:"over_10ms"`  // of those, how many took latch over 10 ms
	Over2ms5 float64 `json:"over_2_5ms"` // and over 2.5 ms
}

// WhoamiTiming reads latch's histogram of whoami's durations
// (latch_http_request_duration_seconds, its whoami route) from a /metrics
// exposition.
func WhoamiTiming(r io.Reader) Histogram {
	return ParseHistogram(r, "latch_http_request_duration_seconds_bucket", `/v1/whoami"`)
}

// Histogram is a Prometheus histogram as text exposition gives it: the
// cumulative count per bucket bound (le, in the metric's unit), summed over
// the series that matched.
type Histogram map[float64]float64

// ParseHistogram reads the buckets of the histogram metric (the _bucket
// name) from r, over the series whose labels contain label.
func ParseHistogram(r io.Reader, metric, label string) Histogram {
	h := Histogram{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric+"{") || !strings.Contains(line, label) {
			continue
		}
		_, rest, ok := strings.Cut(line, `le="`)
		if !ok {
			continue
		}
		le, rest, ok := strings.Cut(rest, `"`)
		f := strings.Fields(rest)
		if !ok || len(f) != 2 {
			continue
		}
		bound, err1 := strconv.ParseFloat(le, 64) // "+Inf" parses as +Inf
		v, err2 := strconv.ParseFloat(f[1], 64)
		if err1 == nil && err2 == nil {
			h[bound] += v
		}
	}
	return h
}

// Over is how many of the observations made between h and later (the same
// histogram read again) exceeded bound, which must be one of its bucket
// bounds, out of how many.
func (h Histogram) Over(later Histogram, bound float64) (n, total float64) {
	var inf float64
	for k := range later {
		inf = max(inf, k)
	}
	total = later[inf] - h[inf]
	if total <= 0 {
		return 0, 0
	}
	return total - (later[bound] - h[bound]), total
}

// StoreCalls reads latch's count of store calls from a /metrics exposition
// (latch_store_operation_seconds_count), by "store method".
func StoreCalls(r io.Reader) map[string]float64 {
	const name = "latch_store_operation_seconds_count{"
	calls := map[string]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), name)
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		v, err := strconv.ParseFloat(value, 64)
		if !ok || err != nil {
			continue
		}
		var store, method string
		for _, kv := range strings.Split(labels, ",") {
			k, val, _ := strings.Cut(kv, "=")
			switch val = strings.Trim(val, `"`); k {
			case "store":
				store = val
			case "method":
				method = val
			}
		}
		calls[store+" "+method] += v
	}
	return calls
}

// Bucket bounds of latch's request-duration histogram that ServerTiming
// reads.
const (
	slowBound   = 0.01
	slowerBound = 0.0025
)

// whoamiTiming reads latch's histogram of whoami durations from base's
// /metrics; false when it exposes none with the bounds ServerTiming reads.
func (r *runner) whoamiTiming(ctx context.Context, base string) (Histogram, bool) {
	res, err := r.c.do(ctx, "GET", base+"/metrics", nil, nil)
	if err != nil || res.status != http.StatusOK {
		return nil, false
	}
	h := WhoamiTiming(bytes.NewReader(res.body))
	_, a := h[slowBound]
	_, b := h[slowerBound]
	return h, a && b
}

// serverTiming is what latch timed between two readings of whoamiTiming.
func serverTiming(before, after Histogram) *ServerTiming {
	n10, total := before.Over(after, slowBound)
	n25, _ := before.Over(after, slowerBound)
	return &ServerTiming{Requests: total, Over10ms: n10, Over2ms5: n25}
}
