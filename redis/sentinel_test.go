package redis_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// startSentinel starts a private master and one Sentinel watching it, and
// returns the redis+sentinel:// URL; both are killed when t ends.
func startSentinel(t *testing.T) string {
	t.Helper()
	master := startServer(t)
	port := freePort(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	cfg := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\nsentinel monitor latchmaster 127.0.0.1 %d 1\nsentinel down-after-milliseconds latchmaster 2000\n",
		port, dir, filepath.Join(dir, "sentinel.log"), master.port)
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("redis-server", conf, "--sentinel")
	if err := cmd.Start(); err != nil {
		unavailable(t, "starting redis-server --sentinel: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	sc := goredis.NewSentinelClient(&goredis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer sc.Close()
	waitFor(t, "the Sentinel on "+addr+" to know the master", 15*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		a, err := sc.GetMasterAddrByName(ctx, "latchmaster").Result()
		return err == nil && len(a) == 2 && a[1] == strconv.Itoa(master.port)
	})
	return "redis+sentinel://" + addr + "/0?master=latchmaster"
}

// TestSentinel runs the conformance suite and the bus through Sentinel
// discovery: latch finds the master by asking the Sentinel.
func TestSentinel(t *testing.T) {
	testTopology(t, startSentinel(t))
}
