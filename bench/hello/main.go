// Command hello is the bare net/http ceiling that latch's HTTP benchmarks
// are compared with in the same window (PERF.md): one small JSON reply, no
// middleware, no authentication. With -redis it first does one go-redis GET
// per request: the ceiling of any server whose hot path is one Redis round
// trip, which latch's session lookup on Redis is compared with.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"

	goredis "github.com/redis/go-redis/v9"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	redisURL := flag.String("redis", "", "redis://HOST:PORT/N: do one GET per request")
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
