package latchbench_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/latch-dev/latch/bench/latchbench"
)

// exposition is /metrics as latch writes it, for two readings of the
// whoami histogram with another route's series beside it.
func exposition(whoami [4]int, other int) string {
	var b strings.Builder
	b.WriteString("# HELP latch_http_request_duration_seconds HTTP request latency by route.\n")
	b.WriteString("# TYPE latch_http_request_duration_seconds histogram\n")
	for i, le := range []string{"0.0025", "0.01", "0.025", "+Inf"} {
		b.WriteString(`latch_http_request_duration_seconds_bucket{route="GET /v1/whoami",le="` + le + `"} ` + strconv.Itoa(whoami[i]) + "\n")
		b.WriteString(`latch_http_request_duration_seconds_bucket{route="POST /v1/login",le="` + le + `"} ` + strconv.Itoa(other) + "\n")
	}
	b.WriteString(`latch_http_request_duration_seconds_sum{route="GET /v1/whoami"} 1.5` + "\n")
	b.WriteString(`latch_http_request_duration_seconds_count{route="GET /v1/whoami"} ` + strconv.Itoa(whoami[3]) + "\n")
	return b.String()
}

func TestHistogramOver(t *testing.T) {
	for _, c := range []struct {
		name          string
		before, after [4]int // cumulative: ≤2.5 ms, ≤10 ms, ≤25 ms, all
		bound         float64
		n, total      float64
	}{
		{"none slow", [4]int{10, 10, 10, 10}, [4]int{1010, 1010, 1010, 1010}, 0.01, 0, 1000},
		{"some over 10 ms", [4]int{10, 10, 10, 10}, [4]int{990, 1000, 1005, 1010}, 0.01, 10, 1000},
		{"over 2.5 ms", [4]int{10, 10, 10, 10}, [4]int{990, 1000, 1005, 1010}, 0.0025, 20, 1000},
		{"over 25 ms, only the +Inf bucket", [4]int{0, 0, 0, 0}, [4]int{0, 0, 7, 9}, 0.025, 2, 9},
		{"nothing between the readings", [4]int{5, 5, 5, 5}, [4]int{5, 5, 5, 5}, 0.01, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			h0 := latchbench.WhoamiTiming(strings.NewReader(exposition(c.before, 3)))
			h1 := latchbench.WhoamiTiming(strings.NewReader(exposition(c.after, 70)))
			if len(h1) != 4 {
				t.Fatalf("parsed %d buckets, want 4: %v", len(h1), h1)
			}
			n, total := h0.Over(h1, c.bound)
			if n != c.n || total != c.total {
				t.Errorf("over %v: %v of %v, want %v of %v", c.bound, n, total, c.n, c.total)
			}
		})
	}
}

func TestWhoamiTimingNoSeries(t *testing.T) {
	h := latchbench.WhoamiTiming(strings.NewReader("go_goroutines 12\nlatch_http_requests_total{route=\"GET /v1/whoami\",status=\"200\"} 5\n"))
	if len(h) != 0 {
		t.Errorf("parsed %v from an exposition without the histogram", h)
	}
}

func TestStoreCalls(t *testing.T) {
	got := latchbench.StoreCalls(strings.NewReader(`# TYPE latch_store_operation_seconds histogram
latch_store_operation_seconds_bucket{method="UseSession",store="redis",le="0.001"} 40
latch_store_operation_seconds_count{method="UseSession",store="redis"} 42
latch_store_operation_seconds_count{method="UserByID",store="postgres"} 7
latch_store_operation_seconds_count{method="UserByID",store="postgres",instance="b"} 1
latch_store_operation_seconds_count{method="Broken",store="x"} not-a-number
latch_http_requests_total{route="GET /v1/whoami",status="200"} 5
`))
	want := map[string]float64{"redis UseSession": 42, "postgres UserByID": 8}
	if len(got) != len(want) {
		t.Fatalf("StoreCalls = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("StoreCalls[%q] = %v, want %v", k, got[k], v)
		}
	}
}
