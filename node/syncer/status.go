package syncer

import (
	"crypto/subtle"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gitops-dns/resolverd/cluster/gitrepo"
	"github.com/gitops-dns/resolverd/internal/version"
	"github.com/gitops-dns/resolverd/probe"
)

// historySize is how many attempts status keeps.
const historySize = 20

// maxRejectedKept bounds the memory of refused heads.
const maxRejectedKept = 64

// Condition types, as operators know them from GitOps controllers.
const (
	CondReady          = "Ready"
	CondReconciling    = "Reconciling"
	CondStalled        = "Stalled"
	CondSourceVerified = "SourceVerified"
)

// Condition is one status condition.
type Condition struct {
	Type               string    `json:"type"`
	Status             string    `json:"status"` // True, False, Unknown
	Reason             string    `json:"reason"`
	Message            string    `json:"message,omitempty"`
	LastTransitionTime time.Time `json:"lastTransitionTime"`
}

// RevisionTime is a revision and when it got its role.
type RevisionTime struct {
	ID   string    `json:"revision,omitempty"`
	Time time.Time `json:"time,omitzero"`
}

// Status is what GET /status returns.
type Status struct {
	Version       string       `json:"version"` // the product version (internal/version), as resolverd -version prints it
	Cluster       string       `json:"cluster"`
	Node          string       `json:"node"`
	Remote        string       `json:"remote"`
	Ref           string       `json:"ref"`
	Path          string       `json:"path"`
	Trust         string       `json:"trust,omitempty"`
	Conditions    []Condition  `json:"conditions"`
	Applied       RevisionTime `json:"applied"`
	LastAttempted *Attempt     `json:"lastAttempted,omitempty"`
	LastGood      RevisionTime `json:"lastGood"`
	LastSuccess   time.Time    `json:"lastSuccessfulFetch,omitzero"`
	NextSync      time.Time    `json:"nextSync,omitzero"`
	Failures      int          `json:"consecutiveFailures"`
	History       []Attempt    `json:"history"` // oldest first; runs of equal outcomes counted in one entry
	// SelfProbes is the history of the gate probes the node runs on itself
	// every probe_interval: what `dnsctl promote --after-bake` judges a
	// canary's bake by. Absent when the node does not probe itself.
	SelfProbes *probe.History `json:"selfProbes,omitempty"`
}

// refusal is why a head was refused, repeated while it stays the head.
type refusal struct{ reason, message string }

type state struct {
	applied     RevisionTime
	lastGood    RevisionTime
	lastAttempt *Attempt
	lastSuccess time.Time
	nextSync    time.Time
	failures    int
	syncing     bool
	corrupt     string // why the state dir was refused at boot
	accept      string // a commit an operator accepted despite the ancestry rule
	older       string // the older revision served because the head was invalid at first sync
	snapshot    string // the revision served from the snapshot file: the clone could not be used

	rejected      map[string]refusal // commit id -> why
	rejectedOrder []string
	// clears counts an operator's Accept and Retry calls, from 1: a sync
	// carries the count it saw (Attempt.clears), and its refusal is not
	// added to rejected when one came while it ran (finish).
	clears uint64

	verified *Condition // SourceVerified as last decided
	conds    map[string]*Condition
	history  []Attempt // oldest first
}

// finish records an attempt: history, counters, conditions, metrics, logs.
func (g *Syncer) finish(a Attempt) {
	a.Message = strings.Join(strings.Fields(a.Message), " ")
	if !a.quiet {
		g.logAttempt(a)
	}
	switch a.Result {
	case ResultFetchFailed:
		g.metrics.FetchFailed(a.Class)
	case ResultRejected, ResultRolledBack:
		if !a.quiet {
			g.metrics.Rejected(a.Reason)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	st := &g.st
	st.syncing = false
	st.lastAttempt = &a
	switch a.Result {
	case ResultFetchFailed:
		st.failures++
	case ResultBooted:
	default:
		if a.Reason != ReasonStateCorrupted && a.Reason != ReasonStateUnusable {
			st.failures = 0
			st.lastSuccess = a.Time
			g.metrics.FetchSucceeded(a.Time)
		}
	}
	// A sync runs unlocked, so an operator's Accept or Retry may land while
	// it is in flight: its verdict must not put back what they cleared.
	overtaken := a.clears != 0 && a.clears != st.clears
	if (a.Result == ResultRejected || a.Result == ResultRolledBack) && a.Revision != "" && a.Reason != ReasonStateCorrupted && !overtaken {
		if _, ok := st.rejected[a.Revision]; !ok {
			st.rejected[a.Revision] = refusal{reason: a.Reason, message: a.Message}
			st.rejectedOrder = append(st.rejectedOrder, a.Revision)
			if len(st.rejectedOrder) > maxRejectedKept {
				delete(st.rejected, st.rejectedOrder[0])
				st.rejectedOrder = st.rejectedOrder[1:]
			}
		}
	}
	if a.Result == ResultApplied || a.Result == ResultBooted {
		st.corrupt = ""
	}
	if n := len(st.history); n > 0 && sameOutcome(st.history[n-1], a) {
		a.Count = st.history[n-1].Count + 1
		if len(a.Findings) == 0 {
			// A repeat ("refused before, waiting for a new commit") carries no
			// findings of its own: keep the path:line:col lines operators need.
			a.Findings = st.history[n-1].Findings
		}
		st.history[n-1] = a
	} else {
		a.Count = 1
		st.history = append(st.history, a)
	}
	if len(st.history) > historySize {
		st.history = st.history[len(st.history)-historySize:]
	}
	g.metrics.ConsecutiveFailures(st.failures)
	g.updateConditions()
}

// sameOutcome reports whether b repeats a (same result for the same head
// and the same reason): history counts such runs instead of growing.
func sameOutcome(a, b Attempt) bool {
	return a.Result == b.Result && a.Revision == b.Revision && a.Reason == b.Reason && a.Class == b.Class &&
		a.Result != ResultApplied && a.Result != ResultBooted
}

func (g *Syncer) logAttempt(a Attempt) {
	switch a.Result {
	case ResultFetchFailed:
		g.log.Errorf("fetch failed (%s): %s; still serving what was served before", a.Class, a.Message)
	case ResultRejected, ResultRolledBack:
		if a.Reason == ReasonProbeFailed {
			for _, f := range a.Findings {
				g.log.Error(f)
			}
		}
		g.log.Errorf("revision %s %s (%s): %s; still serving what was served before", a.Revision, a.Result, a.Reason, a.Message)
	}
}

// setVerified records the outcome of the last signature check.
func (g *Syncer) setVerified(ok bool, reason, msg string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := "False"
	if ok {
		s = "True"
	}
	g.st.verified = &Condition{Type: CondSourceVerified, Status: s, Reason: reason, Message: msg}
}

// updateConditions derives the conditions from the state; g.mu is held.
func (g *Syncer) updateConditions() {
	st := &g.st
	if st.conds == nil {
		st.conds = map[string]*Condition{}
	}
	now := g.clock.Now()
	set := func(typ, status, reason, msg string) {
		c := st.conds[typ]
		if c == nil {
			c = &Condition{Type: typ, LastTransitionTime: now}
			st.conds[typ] = c
		} else if c.Status != status {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message = status, reason, msg
		g.metrics.Condition(typ, status)
	}
	a := st.lastAttempt
	served := g.holder.Snapshot() != nil
	failed := a != nil && (a.Result == ResultFetchFailed || a.Result == ResultRejected || a.Result == ResultRolledBack)

	switch {
	case served && st.snapshot != "" && st.applied.ID == st.snapshot:
		set(CondReady, "True", ReasonServingSnapshot, "serving "+st.applied.ID+" from the snapshot of the last good revision: the clone in "+g.cfg.State+" could not be used; fetching "+gitrepo.NormalizeRef(g.cfg.Ref)+" to rebuild it")
	case served && st.older != "" && st.applied.ID == st.older:
		set(CondReady, "True", ReasonServingOlderRevision, "serving "+st.applied.ID+", an older revision of "+gitrepo.NormalizeRef(g.cfg.Ref)+": its head was invalid and nothing was served before")
	case served && !failed:
		set(CondReady, "True", "RevisionServed", "serving "+st.applied.ID)
	case served:
		set(CondReady, "True", "ServingLastKnownGood", "serving "+st.applied.ID+"; the last attempt failed: "+a.Reason)
	case st.corrupt != "":
		set(CondReady, "False", ReasonStateCorrupted, st.corrupt)
	case a != nil && failed:
		set(CondReady, "False", "NoValidRevision", a.Reason+": "+a.Message)
	default:
		set(CondReady, "False", "NoValidRevision", "no revision applied yet")
	}

	switch {
	case st.syncing:
		set(CondReconciling, "True", "Syncing", "fetching "+gitrepo.NormalizeRef(g.cfg.Ref))
	case st.failures > 0:
		set(CondReconciling, "True", "RetryingAfterFailure", "retrying with back-off after failures")
	default:
		set(CondReconciling, "False", "Idle", "")
	}

	switch {
	case a == nil:
		set(CondStalled, "Unknown", "NotSyncedYet", "")
	case failed:
		set(CondStalled, "True", a.Reason, a.Message)
	default:
		set(CondStalled, "False", "Synced", "")
	}

	switch {
	case g.keyring == nil:
		set(CondSourceVerified, "Unknown", "NoTrustedKeys", "no trust keyring configured: commits are applied unsigned")
	case st.verified != nil:
		set(CondSourceVerified, st.verified.Status, st.verified.Reason, st.verified.Message)
	default:
		set(CondSourceVerified, "Unknown", "NotCheckedYet", "")
	}
}

// Status returns a copy of the current status.
func (g *Syncer) Status() Status {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.updateConditions()
	s := Status{
		Version:     version.String(),
		Cluster:     g.cfg.Cluster,
		Node:        g.cfg.Node,
		Remote:      g.cfg.Remote.Redacted(),
		Ref:         gitrepo.NormalizeRef(g.cfg.Ref),
		Path:        g.cfg.Path,
		Trust:       g.cfg.Trust,
		Applied:     g.st.applied,
		LastGood:    g.st.lastGood,
		LastSuccess: g.st.lastSuccess,
		NextSync:    g.st.nextSync,
		Failures:    g.st.failures,
		History:     append([]Attempt(nil), g.st.history...),
	}
	if g.st.lastAttempt != nil {
		a := *g.st.lastAttempt
		s.LastAttempted = &a
	}
	if g.selfProbe != nil {
		h := g.selfProbe.History()
		s.SelfProbes = &h
	}
	for _, t := range []string{CondReady, CondReconciling, CondStalled, CondSourceVerified} {
		s.Conditions = append(s.Conditions, *g.st.conds[t])
	}
	return s
}

// Handler returns the status and sync endpoints:
//
//	GET  /status  the Status as JSON
//	POST /sync    fetch now (Authorization: Bearer <sync_token_file>), wait
//	              for the attempt and return it with the status; with
//	              ?retry=1 a head refused before is evaluated again; with
//	              ?accept=<full commit id> that commit may replace the last
//	              good revision even if it does not descend from it
//	POST /cache/flush, GET /cache  the query path's caches (cachectl.go)
func (g *Syncer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, g.Status())
	})
	mux.HandleFunc("POST /sync", func(w http.ResponseWriter, r *http.Request) {
		if code, msg := g.authorize(r); code != 0 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gitops"`)
			http.Error(w, msg, code)
			return
		}
		g.metrics.SyncRequested()
		ch := g.Trigger
		if r.URL.Query().Get("retry") == "1" {
			ch = g.Retry
		}
		if id := r.URL.Query().Get("accept"); id != "" {
			if err := g.Accept(id); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		timeout := g.cfg.Remote.Timeout + g.cfg.ProbeTimeout + 5*time.Second
		var res struct {
			Attempt *Attempt `json:"attempt,omitempty"`
			Status  Status   `json:"status"`
		}
		select {
		case a, ok := <-ch():
			if ok {
				res.Attempt = &a
			}
		case <-time.After(timeout):
		case <-r.Context().Done():
			return
		}
		res.Status = g.Status()
		writeJSON(w, http.StatusOK, res)
	})
	g.handleCache(mux)
	return mux
}

func (g *Syncer) authorize(r *http.Request) (int, string) {
	if g.cfg.SyncTokenFile == "" {
		return http.StatusForbidden, "sync endpoint disabled: no sync_token_file configured"
	}
	data, err := os.ReadFile(g.cfg.SyncTokenFile)
	if err != nil {
		g.log.Errorf("sync_token_file: %v", err)
		return http.StatusServiceUnavailable, "sync token unavailable"
	}
	want := strings.TrimSpace(string(data))
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if want == "" || !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(want)) != 1 {
		return http.StatusUnauthorized, "bad or missing bearer token"
	}
	return 0, ""
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (g *Syncer) serveHTTP(addr string) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: g.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	g.log.Infof("status on http://%s/status, sync on POST http://%s/sync", ln.Addr(), ln.Addr())
	return func() { _ = srv.Close() }, nil
}
