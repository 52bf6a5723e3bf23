package syncer

import (
	"fmt"
	"strings"
	"time"
)

// phases times the steps of one attempt (fetch, lineage, load, check...)
// for the log line of an applied revision and for the benchmarks (issue 21:
// what a one-record change still costs outside the changed zone). A nil
// *phases times nothing.
type phases struct {
	last  time.Time
	steps []phase
}

// phase is one timed step.
type phase struct {
	Name string
	D    time.Duration
}

func newPhases() *phases { return &phases{last: time.Now()} }

// mark ends the step called name: it lasted since the previous mark.
func (p *phases) mark(name string) {
	if p == nil {
		return
	}
	now := time.Now()
	p.steps = append(p.steps, phase{name, now.Sub(p.last)})
	p.last = now
}

// String is "fetch 0.201s, lineage 0.004s, ...".
func (p *phases) String() string {
	if p == nil {
		return ""
	}
	parts := make([]string, len(p.steps))
	for i, s := range p.steps {
		parts[i] = fmt.Sprintf("%s %.3fs", s.Name, s.D.Seconds())
	}
	return strings.Join(parts, ", ")
}
