package syncer

import (
	"fmt"
	golog "log"
	"time"
)

// Metrics receives the syncer's events; plugins/gitops maps them to
// Prometheus (coredns_gitops_*). Calls come from the sync loop and the
// status endpoint, never from the query path.
type Metrics interface {
	// SyncAttempt: a sync started at t.
	SyncAttempt(t time.Time)
	// FetchFailed: the remote could not be read (class: gitrepo.Class).
	FetchFailed(class string)
	// FetchSucceeded: an attempt at t read the remote.
	FetchSucceeded(t time.Time)
	// ConsecutiveFailures: fetches failed in a row (0 after a success).
	ConsecutiveFailures(n int)
	// Rejected: a revision was refused or rolled back, by reason.
	Rejected(reason string)
	// Applied: a fetched head took d from fetch to swap.
	Applied(d time.Duration)
	// Node: New made the syncer of node in cluster; reasons and classes are
	// every value Rejected and FetchFailed will be called with (RejectReasons,
	// FetchClasses), so that counters can exist at zero before the first
	// refusal or failed fetch (deploy/prometheus alerts on their increase).
	Node(cluster, node string, reasons, classes []string)
	// Serving: s is the revision served now (the zero Served: none).
	Serving(s Served)
	// LastGood: the last good revision was applied at t.
	LastGood(t time.Time)
	// StateCorrupted: the state directory was found corrupted and moved aside.
	StateCorrupted()
	// StateDir: the state directory holds bytes in all, the clone packs packs.
	StateDir(bytes int64, packs int)
	// ProbeFailed: a probe of the repo failed against this node.
	ProbeFailed(probe string, gate bool)
	// Condition: status condition typ is now status (True, False, Unknown).
	Condition(typ, status string)
	// SyncRequested: an authenticated POST /sync arrived.
	SyncRequested()
	// CacheFlushed: an authenticated POST /cache/flush dropped n entries.
	CacheFlushed(n int)
}

// Served is what Metrics.Serving reports of the served revision.
type Served struct {
	Revision     string    // full commit id; "" = nothing served
	Committed    time.Time // the commit's committer time (zero if unreadable): which node of a cluster lags
	ClusterNodes int       // nodes of this node's cluster in the revision
}

type nopMetrics struct{}

func (nopMetrics) SyncAttempt(time.Time)                   {}
func (nopMetrics) FetchFailed(string)                      {}
func (nopMetrics) FetchSucceeded(time.Time)                {}
func (nopMetrics) ConsecutiveFailures(int)                 {}
func (nopMetrics) Rejected(string)                         {}
func (nopMetrics) Applied(time.Duration)                   {}
func (nopMetrics) Serving(Served)                          {}
func (nopMetrics) Node(string, string, []string, []string) {}
func (nopMetrics) LastGood(time.Time)                      {}
func (nopMetrics) StateCorrupted()                         {}
func (nopMetrics) StateDir(int64, int)                     {}
func (nopMetrics) ProbeFailed(string, bool)                {}
func (nopMetrics) Condition(string, string)                {}
func (nopMetrics) SyncRequested()                          {}
func (nopMetrics) CacheFlushed(int)                        {}

// Logger is where the syncer says what it did and what went wrong; the
// gitops plugin passes CoreDNS's plugin logger.
type Logger interface {
	Infof(format string, args ...any)
	Warning(args ...any)
	Warningf(format string, args ...any)
	Error(args ...any)
	Errorf(format string, args ...any)
}

// StdLogger is a Logger on the standard log package, in CoreDNS's format
// ("[ERROR] " + prefix + message).
type StdLogger string

func (p StdLogger) out(level, msg string) { golog.Print("[" + level + "] " + string(p) + msg) }

// Infof logs at level INFO.
func (p StdLogger) Infof(format string, args ...any) { p.out("INFO", fmt.Sprintf(format, args...)) }

// Warning logs at level WARNING.
func (p StdLogger) Warning(args ...any) { p.out("WARNING", fmt.Sprint(args...)) }

// Warningf logs at level WARNING.
func (p StdLogger) Warningf(format string, args ...any) {
	p.out("WARNING", fmt.Sprintf(format, args...))
}

// Error logs at level ERROR.
func (p StdLogger) Error(args ...any) { p.out("ERROR", fmt.Sprint(args...)) }

// Errorf logs at level ERROR.
func (p StdLogger) Errorf(format string, args ...any) { p.out("ERROR", fmt.Sprintf(format, args...)) }
