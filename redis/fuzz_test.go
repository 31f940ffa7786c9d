package redis_test

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/latch-dev/latch/redis"
)

// FuzzParseURL: the --redis parser never echoes a password. The fuzzer
// picks the text around a secret that carries two markers; whenever the
// URL carries a password (an '@', or a password parameter), no error may
// show either marker, whatever part of the URL the secret landed in. An
// accepted URL has at least one address, each with a port from 1 to 65535.
func FuzzParseURL(f *testing.F) {
	for _, s := range [][2]string{
		{"redis://:", "@127.0.0.1:6379/0"}, {"redis://user:", "@host/x"}, {"redis://user:", "@host:0"},
		{"redis+sentinel://:", "@a:26379,b/0?master=m"}, {"redis+sentinel://a,b/?master=m&sentinel_password=", ""},
		{"redis+cluster://u:", "@a,b,c/1"}, {"rediss://:", "@[::1]:6380"}, {"redis://:", "/@host"},
		{"redis://:", ":@host?x=1"}, {"redis://:", "%zz@host"}, {"redis://h/", "?password=1"}, {"redis://", "@h:99999"},
		{"redix://:", "@h"}, {"redis://:", "@,h"}, {"redis://:", "@h/"},
	} {
		f.Add(s[0], "pw", s[1])
	}
	f.Fuzz(func(t *testing.T, before, middle, after string) {
		const m1, m2 = "Qx7SECRETk", "Zv3PASSj"
		for _, s := range []string{before, middle, after} {
			if strings.Contains(s, m1[:4]) || strings.Contains(s, m2[:4]) {
				return
			}
		}
		secret := m1 + middle + m2
		raw := before + secret + after
		uo, err := redis.ParseURL(raw)
		if err != nil {
			msg := err.Error()
			carries := strings.Contains(raw, "@") || strings.Contains(strings.ToLower(raw), "password")
			if carries && (strings.Contains(msg, m1[:4]) || strings.Contains(msg, m2[:4])) {
				t.Fatalf("ParseURL(%q) error shows the password: %s", raw, msg)
			}
			if !strings.HasPrefix(msg, "redis: ") {
				t.Fatalf("ParseURL error %q lacks the redis: prefix", msg)
			}
			return
		}
		if len(uo.Addrs) == 0 {
			t.Fatalf("ParseURL(%q) accepted no address", raw)
		}
		for _, a := range uo.Addrs {
			host, port, err := net.SplitHostPort(a)
			n, perr := strconv.Atoi(port)
			if err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
				t.Fatalf("ParseURL(%q) accepted the address %q", raw, a)
			}
		}
	})
}
