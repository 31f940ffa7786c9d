package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestFastTarget(t *testing.T) {
	var got atomic.Int64
	delay := 20 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Cookie") != "s=1" {
			http.Error(w, "no cookie", http.StatusUnauthorized)
			return
		}
		got.Add(1)
		if r.URL.Path == "/slow" {
			time.Sleep(delay)
		}
	}))
	defer srv.Close()
	hdr := http.Header{"Cookie": {"s=1"}}
	ctx := context.Background()

	tests := []struct {
		name             string
		path             string
		conns            int
		rate             float64 // 0: closed-loop
		d                time.Duration
		minReqs, maxReqs int
		minP99, maxP99   float64 // ms
		wantFail         int
	}{
		// Every connection kept busy: some requests, none failed.
		{name: "closed", path: "/", conns: 4, d: 300 * time.Millisecond, minReqs: 50, maxReqs: 1 << 30, maxP99: 1000},
		// Open loop below what the server answers: the rate asked for, and
		// no queue.
		{name: "open", path: "/", conns: 4, rate: 500, d: time.Second, minReqs: 500, maxReqs: 500, maxP99: 100},
		// Open loop past what one connection to a 20 ms server answers
		// (50/s): 100/s for 1 s, so the last requests are due 1 s before
		// they can be sent, and are timed from when they were due. A
		// generator that timed from the send would see about 20 ms.
		{name: "open past the server", path: "/slow", conns: 1, rate: 100, d: time.Second, minReqs: 100, maxReqs: 100, minP99: 700, maxP99: 3000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft, err := newFastTarget(srv.URL+tt.path, hdr, tt.conns)
			if err != nil {
				t.Fatal(err)
			}
			got.Store(0)
			var l fastLoad
			if tt.rate > 0 {
				l = ft.open(ctx, tt.rate, tt.d)
			} else {
				l = ft.closed(ctx, tt.d)
			}
			if l.Requests < tt.minReqs || l.Requests > tt.maxReqs {
				t.Errorf("requests = %d, want %d..%d", l.Requests, tt.minReqs, tt.maxReqs)
			}
			if int(got.Load()) != l.Requests {
				t.Errorf("server answered %d, generator counted %d", got.Load(), l.Requests)
			}
			if l.Fail != tt.wantFail {
				t.Errorf("failed = %d, want %d", l.Fail, tt.wantFail)
			}
			if l.P99 < tt.minP99 || l.P99 > tt.maxP99 {
				t.Errorf("p99 = %.2f ms, want %.0f..%.0f", l.P99, tt.minP99, tt.maxP99)
			}
			if l.P50 > l.P99 || l.P99 > l.P999 {
				t.Errorf("quantiles out of order: %v", l)
			}
		})
	}
}

func TestFastTargetCountsFailures(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	ft, err := newFastTarget(srv.URL, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	l := ft.open(context.Background(), 200, 250*time.Millisecond)
	if l.Requests != 50 || l.Fail != 50 {
		t.Errorf("requests %d, failed %d; want 50 and 50", l.Requests, l.Fail)
	}
	if _, err := newFastTarget("https://example.com/", nil, 1); err == nil {
		t.Error("https accepted; the generator speaks http only")
	}
}
