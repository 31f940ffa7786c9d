package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latch-dev/latch"
)

var _ latch.RevocationBus = (*Bus)(nil)

// busIdle is how long Subscribe waits for traffic before it PINGs the
// connection, and again for any answer before it calls it dead: a silently
// broken connection is noticed within twice this.
const busIdle = 5 * time.Second

// Bus is a latch.RevocationBus on Redis Pub/Sub: one channel, P:revocations,
// carrying each published batch as a JSON array of
// {"seq", "kind", "value", "not_before", "expires", "created_at"} objects
// (times in RFC 3339; not_before and created_at omitted when zero).
//
// Classic Pub/Sub is cluster-wide (every node forwards a PUBLISH to its
// subscribers), so the same channel works on one node, behind Sentinel and
// on a Cluster. Delivery is at most once: the durable log stays the source
// of truth, and the Service catches up from it after every Subscribe that
// returns.
type Bus struct {
	c *Client
}

// Bus returns the revocation bus of the client's prefix.
func (c *Client) Bus() *Bus { return &Bus{c: c} }

// Publish implements latch.RevocationBus with one PUBLISH. While Redis is
// unreachable it fails at once rather than waiting for a dial timeout.
func (b *Bus) Publish(ctx context.Context, revs []*latch.Revocation) error {
	if len(revs) == 0 {
		return nil
	}
	if !b.c.reachable.Load() {
		return errUnreachable
	}
	w := make([]wireRevocation, len(revs))
	for i, r := range revs {
		w[i] = toWire(r)
	}
	msg, err := json.Marshal(w)
	if err != nil {
		return err
	}
	if err := b.c.rdb.Publish(ctx, b.c.channel(), msg).Err(); err != nil {
		b.c.failRead(ctx, err)
		return err
	}
	return nil
}

// Subscribe implements latch.RevocationBus. It returns once the
// subscription fails, the health loop finds Redis unreachable (within a
// second, even on a connection that only hangs), or ctx ends; it does not
// reconnect by itself, so that the caller knows to catch up from the
// durable log. A message it cannot decode is skipped: the log has the
// entries anyway.
func (b *Bus) Subscribe(ctx context.Context, fn func([]*latch.Revocation)) error {
	if !b.c.reachable.Load() {
		return errUnreachable
	}
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ps := b.c.rdb.Subscribe(sctx, b.c.channel())
	defer ps.Close()
	// Receive watches neither ctx nor the health loop; closing the
	// subscription unblocks it.
	context.AfterFunc(sctx, func() { _ = ps.Close() })
	go func() {
		t := time.NewTicker(healthEvery)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
				if !b.c.reachable.Load() {
					cancel(errUnreachable)
					return
				}
			}
		}
	}()
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(sctx, busIdle)
		if sctx.Err() != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("redis: revocation bus: %w", context.Cause(sctx))
		}
		var ne net.Error
		switch {
		case err == nil:
			pinged = false
		case errors.As(err, &ne) && ne.Timeout() && !pinged:
			if err := ps.Ping(sctx); err != nil {
				return fmt.Errorf("redis: revocation bus: %w", err)
			}
			pinged = true
			continue
		default:
			return fmt.Errorf("redis: revocation bus: %w", err)
		}
		m, ok := msg.(*goredis.Message)
		if !ok { // *Subscription, *Pong
			continue
		}
		var w []wireRevocation
		if err := json.Unmarshal([]byte(m.Payload), &w); err != nil {
			b.c.log.Warn("undecodable message on the revocation bus", "err", err)
			continue
		}
		revs := make([]*latch.Revocation, len(w))
		for i := range w {
			revs[i] = w[i].revocation()
		}
		fn(revs)
	}
}
