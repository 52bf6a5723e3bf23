package gitrepo

import (
	"math/rand/v2"
	"time"
)

// Backoff computes the wait before the next sync: Base after a success, and
// after n consecutive failures min(Base*2^n, Max), with jitter drawing the
// wait uniformly from [d/2, d] so that the nodes of a cluster do not retry
// in step.
type Backoff struct {
	Base time.Duration
	Max  time.Duration
	// Rand returns a number in [0,1); nil uses math/rand/v2.
	Rand func() float64
}

// Delay returns the wait after failures consecutive failures.
func (b Backoff) Delay(failures int) time.Duration {
	base := b.Base
	if base <= 0 {
		base = time.Second
	}
	max := b.Max
	if max < base {
		max = base
	}
	d := base
	for i := 0; i < failures && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	if failures == 0 {
		return d
	}
	r := b.Rand
	if r == nil {
		r = rand.Float64
	}
	return d/2 + time.Duration(r()*float64(d/2))
}
