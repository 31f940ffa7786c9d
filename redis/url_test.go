package redis_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/latch-dev/latch/redis"
)

func TestParseURL(t *testing.T) {
	type want struct {
		addrs          []string
		db             int
		user, password string
		master         string
		sentinelPass   string
		cluster        bool
		serverName     string // TLS; "": none
	}
	for _, c := range []struct {
		name string
		url  string
		want *want  // nil: an error
		err  string // what the error says, when want is nil
	}{
		{name: "single", url: "redis://127.0.0.1:6380/2", want: &want{addrs: []string{"127.0.0.1:6380"}, db: 2}},
		{name: "single, default port and database", url: "redis://cache.internal", want: &want{addrs: []string{"cache.internal:6379"}}},
		{name: "single, IPv6", url: "redis://[::1]/0", want: &want{addrs: []string{"[::1]:6379"}}},
		{name: "single, percent-encoded credentials", url: "redis://user:p%40ss%2Fw@127.0.0.1:1/3",
			want: &want{addrs: []string{"127.0.0.1:1"}, db: 3, user: "user", password: "p@ss/w"}},
		{name: "single, TLS", url: "rediss://redis.example.com:6380", want: &want{addrs: []string{"redis.example.com:6380"}, serverName: "redis.example.com"}},
		{name: "sentinel", url: "redis+sentinel://:pw@10.0.0.1,10.0.0.2:26380/1?master=mymaster&sentinel_password=spw",
			want: &want{addrs: []string{"10.0.0.1:26379", "10.0.0.2:26380"}, db: 1, password: "pw", master: "mymaster", sentinelPass: "spw"}},
		{name: "cluster", url: "redis+cluster://10.0.0.1:7000,10.0.0.2,[::1]:7002",
			want: &want{addrs: []string{"10.0.0.1:7000", "10.0.0.2:6379", "[::1]:7002"}, cluster: true}},
		{name: "cluster, TLS", url: "rediss+cluster://a.example:7000,b.example", want: &want{addrs: []string{"a.example:7000", "b.example:6379"}, cluster: true, serverName: "a.example"}},

		{name: "no scheme", url: "127.0.0.1:6379", err: "must start with redis://"},
		{name: "http", url: "http://127.0.0.1:1", err: `unsupported URL scheme "http"`},
		{name: "unknown mode", url: "redis+socket://127.0.0.1:1", err: `unsupported URL scheme "redis+socket"`},
		{name: "no host", url: "redis:///0", err: "empty host"},
		{name: "empty host in a list", url: "redis+cluster://10.0.0.1,,10.0.0.2", err: "empty host"},
		{name: "port only", url: "redis://:6379", err: `bad address ":6379" in URL`},
		{name: "bad port", url: "redis://127.0.0.1:99999", err: `bad address "127.0.0.1:99999" in URL`},
		{name: "several hosts without a mode", url: "redis://127.0.0.1:1,127.0.0.1:2", err: "takes one host"},
		{name: "sentinel without a master", url: "redis+sentinel://127.0.0.1:1", err: "needs ?master=NAME"},
		{name: "cluster with a database", url: "redis+cluster://127.0.0.1:1/2", err: "no database index"},
		{name: "bad database", url: "redis://127.0.0.1:1/x", err: `database index "x" is not a number`},
		{name: "negative database", url: "redis://127.0.0.1:1/-1", err: "is not a number"},
		{name: "unknown parameter", url: "redis://127.0.0.1:1/0?dial_timeout=1s", err: `unknown URL parameter "dial_timeout"`},
		{name: "master on a single node", url: "redis://127.0.0.1:1/0?master=m", err: `unknown URL parameter "master"`},
		{name: "malformed query", url: "redis+sentinel://h/0?master=%zz", err: "malformed URL query"},
		{name: "malformed password", url: "redis://u:%zzhunter2@h", err: "malformed password"},

		// A password whose reserved characters were not percent-encoded ends
		// up in another part of the URL: no error may quote it.
		{name: "password with a slash", url: "redis://u:hun/ter2@127.0.0.1/0", err: "bad address"},
		{name: "password with a question mark", url: "redis://u:hun?ter2@127.0.0.1/0", err: "bad address"},
		{name: "password with a slash, as a database", url: "redis://127.0.0.1/hunter2@0", err: "database index is not a number"},
		{name: "password in a bad port", url: "redis://u:p@127.0.0.1:hunter2", err: "bad address"},
		{name: "password in an unknown parameter", url: "redis+sentinel://h/0?master=m&sentinel_password=a&hunter2=1", err: "unknown URL parameter"},
		{name: "password, bad scheme", url: "redis+hunter2://u:p@h", err: "unsupported URL scheme"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := redis.ParseURL(c.url)
			if c.want == nil {
				if err == nil {
					t.Fatalf("ParseURL(%q) = %+v, want an error", c.url, got)
				}
				if !strings.Contains(err.Error(), c.err) || !strings.HasPrefix(err.Error(), "redis: ") {
					t.Errorf("ParseURL(%q) error = %q, want it to say %q", c.url, err, c.err)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("ParseURL(%q) error echoes the password: %q", c.url, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseURL(%q): %v", c.url, err)
			}
			w := c.want
			if !slices.Equal(got.Addrs, w.addrs) || got.DB != w.db || got.Username != w.user || got.Password != w.password ||
				got.MasterName != w.master || got.SentinelPassword != w.sentinelPass || got.IsClusterMode != w.cluster {
				t.Errorf("ParseURL(%q) = addrs %q db %d user %q password %q master %q sentinel password %q cluster %v; want %+v",
					c.url, got.Addrs, got.DB, got.Username, got.Password, got.MasterName, got.SentinelPassword, got.IsClusterMode, *w)
			}
			switch {
			case got.TLSConfig == nil && w.serverName != "":
				t.Errorf("ParseURL(%q): no TLS, want TLS to %s", c.url, w.serverName)
			case got.TLSConfig != nil && got.TLSConfig.ServerName != w.serverName:
				t.Errorf("ParseURL(%q): TLS to %q, want %q", c.url, got.TLSConfig.ServerName, w.serverName)
			}
		})
	}
}
