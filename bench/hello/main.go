// Command hello is the bare net/http ceiling that latch's HTTP benchmarks
// are compared with in the same window (PERF.md): one small JSON reply, no
// middleware, no authentication. With -redis it first does one go-redis GET
// per request: the ceiling of any server whose hot path is one Redis round
// trip, which latch's session lookup on Redis is compared with. With
// -stream it is instead the bare fan-out that latch's revocation stream is
// compared with (bench/scalerows stream): GET /v1/revocations is a
// server-sent event stream that says ": replay done", and POST
// /v1/logout?jti=X sends every subscriber one revoke event for X. With
// -stream -raw the subscriber's connection is taken from net/http once
// subscribed and the event is written to it as it is: one write system
// call per subscriber and nothing else, the floor of any server.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"

	goredis "github.com/redis/go-redis/v9"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	redisURL := flag.String("redis", "", "redis://HOST:PORT/N: do one GET per request")
	stream := flag.Bool("stream", false, "serve the bare revocation fan-out instead")
	raw := flag.Bool("raw", false, "with -stream: write events to each subscriber's connection itself, without net/http")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	body := []byte(`{"user":{"id":"u1","email":"a@example.com","role":"user"}}` + "\n")
	var rdb *goredis.Client
	if *redisURL != "" {
		opt, err := goredis.ParseURL(*redisURL)
		if err != nil {
			log.Fatal(err)
		}
		rdb = goredis.NewClient(opt)
		if err := rdb.Set(context.Background(), "bench:hello", body, 0).Err(); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Fprintf(os.Stderr, "listening addr=%s\n", ln.Addr())
	if *stream {
		log.Fatal(http.Serve(ln, newFanout(*raw)))
	}
	log.Fatal(http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := body
		if rdb != nil {
			v, err := rdb.Get(r.Context(), "bench:hello").Bytes()
			if err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			b = v
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	})))
}

// fanout is the least a net/http server does to send one event to many
// server-sent event subscribers: a goroutine per subscriber, woken through
// its channel, writing the event and flushing it.
type fanout struct {
	raw  bool
	mu   sync.Mutex
	subs map[chan []byte]struct{}
	seq  int
}

func newFanout(raw bool) http.Handler {
	f := &fanout{raw: raw, subs: map[chan []byte]struct{}{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/revocations", f.subscribe)
	mux.HandleFunc("POST /v1/logout", f.send)
	return mux
}

func (f *fanout) subscribe(w http.ResponseWriter, r *http.Request) {
	ch := make(chan []byte, 16)
	f.mu.Lock()
	f.subs[ch] = struct{}{}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.subs, ch)
		f.mu.Unlock()
	}()
	if f.raw {
		f.subscribeRaw(w, ch)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	if _, err := w.Write([]byte(": replay done\n\n")); err != nil || rc.Flush() != nil {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case ev := <-ch:
			if _, err := w.Write(ev); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

// subscribeRaw takes the connection from net/http and answers with a body
// that ends when the connection does, so each event is one write.
func (f *fanout) subscribeRaw(w http.ResponseWriter, ch chan []byte) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer conn.Close()
	gone := make(chan struct{})
	go func() { // the subscriber hangs up: its read ends
		_, _ = brw.Reader.WriteTo(io.Discard)
		close(gone)
	}()
	if _, err := conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n: replay done\n\n")); err != nil {
		return
	}
	for {
		select {
		case <-gone:
			return
		case ev := <-ch:
			if _, err := conn.Write(ev); err != nil {
				return
			}
		}
	}
}

func (f *fanout) send(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	ev := []byte("id: " + strconv.Itoa(f.seq) + "\nevent: revoke\ndata: {\"jti\":" + strconv.Quote(r.URL.Query().Get("jti")) + "}\n\n")
	for ch := range f.subs {
		select {
		case ch <- ev:
		default: // 16 events behind; not with the one event a run sends
		}
	}
	w.WriteHeader(http.StatusNoContent)
}
