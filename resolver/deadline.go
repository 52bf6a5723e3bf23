package resolver

import (
	"context"
	"sync"
	"time"
)

// deadlineCtx is the context of one resolution: detached from every
// client, it ends at its deadline and is never cancelled otherwise. Unlike
// context.WithTimeout it starts no timer and allocates no channel unless
// something asks for Done (a context derived from it, NetTransport, a
// custom Transport); the pooled UDP transport never does: it bounds its own
// wait by Deadline. Err reads the clock, so it is right with or without
// Done.
type deadlineCtx struct {
	deadline time.Time
	mu       sync.Mutex
	done     chan struct{}
	timer    *time.Timer
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }
func (c *deadlineCtx) Value(any) any               { return nil }

func (c *deadlineCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		done := c.done
		c.timer = time.AfterFunc(time.Until(c.deadline), func() { close(done) })
	}
	return c.done
}

func (c *deadlineCtx) Err() error {
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// stop releases the timer Done started, if any.
func (c *deadlineCtx) stop() {
	c.mu.Lock()
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
}
