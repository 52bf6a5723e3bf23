package resolver

import (
	"sync/atomic"
	"time"
)

// Resolutions a client may stop waiting for (its context can end, or stale
// data may answer it first) run on reused goroutines; a client that would
// wait for the end anyway runs the resolution itself (see Resolve). A fresh goroutine per resolution
// starts on a small stack and grows it (copying it, frame by frame) each
// time a resolution reaches the depth of packing, unpacking and crypto/rand:
// a measurable share of a cold resolution's CPU. A worker that has finished
// a resolution waits workerIdle for the next one, so under load the stack
// it grew is used again; idle ones end, and all end after Close.
const workerIdle = time.Second

type flightTask struct {
	key rrKey
	fl  *flight
}

// workers is the hand-off to idle workers: an unbuffered channel, so a
// send succeeds only when one is waiting.
type workers struct {
	ch   chan flightTask
	idle atomic.Int64 // workers waiting for a resolution (tests)
}

// start runs fl on an idle worker, or on a new one if none waits.
func (r *Resolver) start(key rrKey, fl *flight) {
	select {
	case r.workers.ch <- flightTask{key, fl}:
	default:
		go r.work(key, fl)
	}
}

func (r *Resolver) work(key rrKey, fl *flight) {
	var t *time.Timer
	for {
		r.fly(key, fl)
		if t == nil {
			t = time.NewTimer(workerIdle)
		} else {
			t.Reset(workerIdle)
		}
		r.workers.idle.Add(1)
		select {
		case task := <-r.workers.ch:
			r.workers.idle.Add(-1)
			key, fl = task.key, task.fl
		case <-t.C:
			r.workers.idle.Add(-1)
			return
		case <-r.stop:
			r.workers.idle.Add(-1)
			t.Stop()
			return
		}
	}
}
