package redis_test

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latch-dev/latch/memory"
	"github.com/latch-dev/latch/storetest"
)

// startCluster starts a private Cluster of three masters on loopback ports
// and returns its redis+cluster:// URL; every node is killed when t ends.
func startCluster(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		unavailable(t, "redis-cli is not installed: %v", err)
	}
	var addrs []string
	for range 3 {
		s := startServer(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000")
		addrs = append(addrs, s.addr())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	args := append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, a := range addrs {
		c := goredis.NewClient(&goredis.Options{Addr: a, DisableIdentity: true})
		waitFor(t, "cluster_state:ok on "+a, 20*time.Second, func() bool {
			info, err := c.ClusterInfo(ctx).Result()
			return err == nil && strings.Contains(info, "cluster_state:ok")
		})
		_ = c.Close()
	}
	return "redis+cluster://" + strings.Join(addrs, ",")
}

// testTopology runs what every Redis topology (Cluster, Sentinel) must
// support: the conformance suite, the bus, and UseSession.
func testTopology(t *testing.T, url string) {
	t.Run("storetest", func(t *testing.T) { storetest.Run(t, openStores(url)) })

	t.Run("bus", func(t *testing.T) {
		prefix := newPrefix()
		testBus(t, mustOpenPrefix(t, url, prefix), mustOpenPrefix(t, url, prefix))
	})

	t.Run("UseSession", func(t *testing.T) {
		f := newSessionFixture(t, url)
		t0 := base()
		s := newSession(t0)
		f.create(t, s)
		got := f.use(t, s.TokenHash, t0.Add(time.Minute))
		if !got.IdleExpiresAt.Equal(t0.Add(time.Minute+idle)) || !bytes.Equal(got.CSRFHash, s.CSRFHash) {
			t.Errorf("UseSession through %s = %+v", url, got)
		}
	})
}

func TestCluster(t *testing.T) {
	url := startCluster(t)
	testTopology(t, url)

	t.Run("the recovery flush reaches every master", func(t *testing.T) {
		prefix := newPrefix()
		a := mustOpenPrefix(t, url, prefix)
		sa := a.Sessions(&memory.SessionStore{})
		waitHealthy(t, a)
		t0 := base()
		for range 60 {
			if err := sa.CreateSession(t.Context(), newSession(t0)); err != nil {
				t.Fatal(err)
			}
		}
		pattern := "{" + prefix + ":s:*}"
		cc := a.Redis().(*goredis.ClusterClient)
		var masters atomic.Int64
		err := cc.ForEachMaster(t.Context(), func(ctx context.Context, n *goredis.Client) error {
			keys, _, err := n.Scan(ctx, 0, pattern, 1000).Result()
			if len(keys) > 0 {
				masters.Add(1)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := countKeys(t, a.Redis(), pattern); n != 60 || masters.Load() < 2 {
			t.Fatalf("%d copies on %d masters; the test wants 60 spread over several", n, masters.Load())
		}
		// A new instance of the same group trusts no copy before flushing.
		b := mustOpenPrefix(t, url, prefix)
		b.Sessions(&memory.SessionStore{})
		waitHealthy(t, b)
		if n := countKeys(t, a.Redis(), pattern); n != 0 {
			t.Errorf("%d copies left after the flush", n)
		}
	})

	t.Run("throttle and limiter", func(t *testing.T) {
		prefix := newPrefix()
		a, b := mustOpenPrefix(t, url, prefix), mustOpenPrefix(t, url, prefix)
		waitHealthy(t, a)
		waitHealthy(t, b)
		runThrottle(t, a.LoginThrottle(2, time.Minute, memory.NewLoginThrottle(2, time.Minute)),
			b.LoginThrottle(2, time.Minute, memory.NewLoginThrottle(2, time.Minute)), []step{
				{"fail", "a", 0, 0}, {"fail", "a", time.Second, 0}, {"locked", "a", time.Second, time.Minute - time.Second},
				{"reset", "a", 0, 0}, {"locked", "a", time.Second, 0},
			})
		runLimiter(t, a.RateLimiter(1, memory.NewRateLimiter(1)), b.RateLimiter(1, memory.NewRateLimiter(1)), []step{
			{"allow", "ip", 0, 0}, {"allow", "ip", 0, 0}, {"allow", "ip", 0, 0}, {"allow", "ip", 0, time.Second},
		})
	})
}
