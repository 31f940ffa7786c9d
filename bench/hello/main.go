// Command hello is the bare net/http ceiling that latch's HTTP benchmarks
// are compared with in the same window (PERF.md): one small JSON reply, no
// middleware, no authentication.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "listening addr=%s\n", ln.Addr())
	body := []byte(`{"user":{"id":"u1","email":"a@example.com","role":"user"}}` + "\n")
	log.Fatal(http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})))
}
