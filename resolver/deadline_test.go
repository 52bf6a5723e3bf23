package resolver

import (
	"context"
	"errors"
	"testing"
	"time"
)

// newDeadlineCtx is a resolution's context ending d from now (a flight
// sets its embedded one's deadline the same way).
func newDeadlineCtx(d time.Duration) *deadlineCtx {
	return &deadlineCtx{deadline: time.Now().Add(d)}
}

// TestDeadlineCtx: a resolution's context ends at its deadline (Err, Done
// and the contexts derived from it), never before.
func TestDeadlineCtx(t *testing.T) {
	c := newDeadlineCtx(40 * time.Millisecond)
	defer c.stop()
	if err := c.Err(); err != nil {
		t.Fatalf("Err before the deadline: %v", err)
	}
	if d, ok := c.Deadline(); !ok || d != c.deadline {
		t.Fatalf("Deadline() = %v %v", d, ok)
	}
	// A child with a later deadline is bounded by the parent's.
	child, cancel := context.WithTimeout(c, time.Hour)
	defer cancel()
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("child of the resolution context did not end at the parent's deadline")
	}
	if !errors.Is(child.Err(), context.DeadlineExceeded) && !errors.Is(child.Err(), context.Canceled) {
		t.Fatalf("child Err %v", child.Err())
	}
	<-c.Done()
	if !time.Now().After(c.deadline) && !time.Now().Equal(c.deadline) {
		t.Fatal("Done closed before the deadline")
	}
	if !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err after the deadline: %v", c.Err())
	}
}

// TestDeadlineCtxPassedWithoutDone: Err turns at the deadline even when
// nobody asked for Done (the pooled transport's path).
func TestDeadlineCtxPassedWithoutDone(t *testing.T) {
	c := newDeadlineCtx(-time.Second)
	if !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err %v, want DeadlineExceeded", c.Err())
	}
	if c.timer != nil || c.done != nil {
		t.Fatal("Err started a timer")
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done of a passed deadline does not close")
	}
}
