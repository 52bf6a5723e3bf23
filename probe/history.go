package probe

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/cluster/model"
)

// A node probes itself at an interval, not only after applying a revision,
// and keeps what it saw as a History: a canary that breaks in the middle of
// its bake and recovers before anyone looks (seed 000) leaves a failing Span
// there, and `dnsctl promote --after-bake` reads it from the node's status
// (staging) and refuses. The node records; staging judges.

// MaxSpans bounds a History: a node that flaps keeps its newest spans, and
// a bake older than what is left is judged as not covered, never as passed.
const MaxSpans = 256

// maxParallel bounds the probes of one run in flight at once.
const maxParallel = 8

// History is what GET /status says about a node's periodic self-probes.
type History struct {
	IntervalSeconds float64 `json:"intervalSeconds"`
	// MaxGapSeconds is the longest time between two runs the node still
	// counts as one watch; a longer one starts a new span, and the time
	// between is a gap: nobody knows what the node answered then.
	MaxGapSeconds float64 `json:"maxGapSeconds"`
	// Since is when this process began probing itself: nothing before is
	// known (a restart loses the history; a restarted canary's bake is not
	// covered).
	Since   time.Time `json:"since"`
	Spans   []Span    `json:"spans"`             // oldest first
	Dropped int       `json:"dropped,omitempty"` // older spans the MaxSpans bound dropped
}

// Span is a run of self-probe runs with the same outcome, no two of them
// further apart than MaxGap.
type Span struct {
	From     time.Time `json:"from"` // first run
	To       time.Time `json:"to"`   // last run
	Runs     int       `json:"runs"`
	Revision string    `json:"revision,omitempty"` // what the node served ("" = nothing)
	Pass     bool      `json:"pass"`               // every gate probe passed
	Probes   int       `json:"probes"`             // gate probes per run
	// Failed is what the span's first run saw, one line per failing gate
	// probe: file:line:col: probe NAME (QUERY TYPE): what it answered.
	Failed []string `json:"failed,omitempty"`

	key string // revision and failing probe names: what a new run must repeat to extend the span
}

// Result is one run of a node's probes against itself.
type Result struct {
	Time     time.Time
	Revision string
	Probes   int       // gate probes run
	Failed   []Failure // the gate probes that failed
}

// NoProbe is the Probe of a Failure that is no probe's: nothing served, no
// address to ask.
const NoProbe = "(none)"

// Failure is a gate probe that failed and what it saw.
type Failure struct {
	Probe string // name
	Line  string
}

// Recorder keeps a node's History; it is safe for concurrent use.
type Recorder struct {
	mu       sync.Mutex
	interval time.Duration
	maxGap   time.Duration
	h        History
}

// NewRecorder starts an empty history at since. Runs are expected every
// interval; two runs more than maxGap apart leave a gap.
func NewRecorder(interval, maxGap time.Duration, since time.Time) *Recorder {
	return &Recorder{interval: interval, maxGap: maxGap, h: History{
		IntervalSeconds: interval.Seconds(), MaxGapSeconds: maxGap.Seconds(), Since: since.UTC(),
	}}
}

// Add records a run: it extends the newest span when the run repeats its
// outcome within MaxGap, else it starts a span.
func (r *Recorder) Add(res Result) {
	names := make([]string, len(res.Failed))
	lines := make([]string, len(res.Failed))
	for i, f := range res.Failed {
		names[i], lines[i] = f.Probe, f.Line
	}
	slices.Sort(names)
	key := res.Revision + "\x00" + strings.Join(names, "\x00")
	t := res.Time.UTC()
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.h.Spans); n > 0 {
		last := &r.h.Spans[n-1]
		if last.key == key && t.Sub(last.To) <= r.maxGap && !t.Before(last.To) {
			last.To = t
			last.Runs++
			return
		}
	}
	r.h.Spans = append(r.h.Spans, Span{From: t, To: t, Runs: 1, Revision: res.Revision, Pass: len(res.Failed) == 0,
		Probes: res.Probes, Failed: lines, key: key})
	if len(r.h.Spans) > MaxSpans {
		r.h.Dropped += len(r.h.Spans) - MaxSpans
		r.h.Spans = slices.Delete(r.h.Spans, 0, len(r.h.Spans)-MaxSpans)
	}
}

// History returns a copy of the history.
func (r *Recorder) History() History {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.h
	h.Spans = slices.Clone(r.h.Spans)
	return h
}

// Target is what a node probes at the time of a run: the address it
// answers on, the revision it serves and that revision's probes ("" and
// nil when nothing is served yet).
type Target func() (addr, revision string, probes []model.Probe)

// Watch runs the target's probes every interval until ctx ends, each probe
// bounded by timeout (RunRetrying: a lost datagram is retried, not a
// failure), and records every run; then, when set, calls after with it
// (a node counts failures in its metrics). The first run is at once.
func Watch(ctx context.Context, rec *Recorder, interval, timeout time.Duration, target Target, after func(Result)) {
	WatchRuns(ctx, rec, interval, func(ctx context.Context) Result {
		addr, rev, probes := target()
		return RunAll(ctx, addr, rev, probes, timeout)
	}, after)
}

// WatchRuns is Watch for any run: `dnsctl promote --after-bake --watch`
// asks a node which revision it serves before running the probes.
func WatchRuns(ctx context.Context, rec *Recorder, interval time.Duration, run func(context.Context) Result, after func(Result)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		res := run(ctx)
		if ctx.Err() != nil {
			return
		}
		rec.Add(res)
		if after != nil {
			after(res)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunAll runs every probe of a revision against addr once, at most
// maxParallel at a time, and returns the run: its start time and the gate
// probes that failed, with what they saw. Nothing served (rev "") or no
// address to ask is a failure of its own.
func RunAll(ctx context.Context, addr, rev string, probes []model.Probe, timeout time.Duration) Result {
	res := Result{Time: time.Now(), Revision: rev}
	switch {
	case rev == "":
		res.Failed = []Failure{{Probe: NoProbe, Line: "the node serves no revision"}}
		return res
	case addr == "":
		res.Failed = []Failure{{Probe: NoProbe, Line: "the node's DNS address is unknown: probes not run"}}
		return res
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxParallel)
	for _, p := range probes {
		if !p.Gate {
			continue
		}
		res.Probes++
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := RunRetrying(ctx, addr, p, timeout); err != nil {
				mu.Lock()
				res.Failed = append(res.Failed, Failure{Probe: p.Name,
					Line: fmt.Sprintf("%s: probe %s (%s %s @%s): %v", p.Pos, p.Name, p.Query, dns.TypeToString[p.Type], addr, err)})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.SortFunc(res.Failed, func(a, b Failure) int { return strings.Compare(a.Probe, b.Probe) })
	return res
}
