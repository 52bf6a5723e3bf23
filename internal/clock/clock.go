// Package clock is time as the long-running loops see it (the resolver's
// TTLs and backoffs, the node's sync loop): Now and After behind one
// interface, so that tests move time by hand (internal/fakeclock) instead
// of sleeping.
package clock

import "time"

// Clock is a source of time.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// System is the real clock.
type System struct{}

// Now is time.Now.
func (System) Now() time.Time { return time.Now() }

// After is time.After.
func (System) After(d time.Duration) <-chan time.Time { return time.After(d) }
