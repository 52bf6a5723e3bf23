package syncer

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gitops-dns/resolverd/cluster"
	"github.com/gitops-dns/resolverd/cluster/gitrepo"
	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/internal/gcpace"
	"github.com/gitops-dns/resolverd/node"
	"github.com/gitops-dns/resolverd/zones"
)

// Results of one attempt.
const (
	ResultBooted      = "booted"       // last good revision served from the state dir at start
	ResultApplied     = "applied"      // a new revision is served
	ResultUnchanged   = "unchanged"    // the head is the revision already served
	ResultFetchFailed = "fetch-failed" // the remote could not be read: nothing changed
	ResultRejected    = "rejected"     // the head was refused: nothing changed
	ResultRolledBack  = "rolled-back"  // applied, a gate probe failed, the previous revision is served again
)

// Reasons (CamelCase, as GitOps controllers write them).
const (
	ReasonValidationFailed = "ValidationFailed"
	ReasonLoadFailed       = "LoadFailed"
	ReasonSnapshotFailed   = "SnapshotFailed"
	ReasonProbeFailed      = "ProbeFailed"
	ReasonStateCorrupted   = "StateCorrupted"
	ReasonStateUnusable    = "StateUnusable"
	// ReasonNotFastForward: the head does not descend from the last good
	// revision (a force-push back to an older commit, or an unrelated
	// history). Rollback is a new commit (git revert); an operator who
	// means a rewrite accepts that exact commit on the node (Accept).
	ReasonNotFastForward = "NotFastForward"
)

// RejectReasons and FetchClasses are every value Metrics.Rejected and
// Metrics.FetchFailed are called with; New hands them to Metrics.Node so
// that an adapter can create each series before the first event.
var (
	RejectReasons = []string{ReasonValidationFailed, ReasonLoadFailed, ReasonSnapshotFailed, ReasonProbeFailed,
		ReasonStateCorrupted, ReasonStateUnusable, ReasonNotFastForward, gitrepo.ReasonUnsigned, gitrepo.ReasonUntrusted, gitrepo.ReasonInvalid}
	FetchClasses = []string{string(gitrepo.ClassUnreachable), string(gitrepo.ClassTimeout), string(gitrepo.ClassAuthRefused),
		string(gitrepo.ClassRepoNotFound), string(gitrepo.ClassRefNotFound), string(gitrepo.ClassCorruptObject),
		string(gitrepo.ClassConfig), string(gitrepo.ClassProtocol), string(gitrepo.ClassDiskFull), string(gitrepo.ClassIO),
		string(gitrepo.ClassOther)}
)

// servedOf describes snap (nil: nothing served) for Metrics.Serving: its
// commit id, the commit's committer time (read from store; zero if it
// cannot be) and the size of this node's cluster in it.
func servedOf(store *gitrepo.Store, snap *node.Snapshot) Served {
	if snap == nil || snap.Revision == nil {
		return Served{}
	}
	s := Served{Revision: snap.Revision.ID}
	if snap.Cluster != nil {
		s.ClusterNodes = len(snap.Cluster.Nodes)
	}
	if c, err := store.Repository().CommitObject(plumbing.NewHash(snap.Revision.ID)); err == nil {
		s.Committed = c.Committer.When
	}
	return s
}

// maxFindingsKept bounds the findings kept in an attempt for status (all
// of them are logged).
const maxFindingsKept = 50

// Attempt is the outcome of one sync (or of the boot from the state dir).
type Attempt struct {
	Time     time.Time `json:"time"`
	Duration float64   `json:"duration_seconds"`
	Revision string    `json:"revision,omitempty"`
	Result   string    `json:"result"`
	Reason   string    `json:"reason,omitempty"`
	Class    string    `json:"class,omitempty"` // fetch error class
	Message  string    `json:"message,omitempty"`
	Findings []string  `json:"findings,omitempty"`
	// Count is how many identical attempts in a row this entry stands for
	// (history keeps one entry per run of equal outcomes); Time is the last.
	Count int `json:"count,omitempty"`

	quiet  bool   // already reported: do not log again
	clears uint64 // syncState.clears when its sync judged the head; 0: not a sync's
}

func classReason(c gitrepo.Class) string {
	parts := strings.Split(string(c), "-")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "")
}

// Boot opens the state directory and serves the last good revision recorded
// there, without any network access. What is damaged but can be rebuilt
// from what is intact (the clone's HEAD or config, the last-good record or
// its ref) is repaired and the clone kept. A clone that cannot be read (a
// record and ref that do not parse, objects that are missing or
// unreadable) is reported loudly, moved aside into a quarantine folder and
// never served; the snapshot of the last good revision is served instead
// when it checks out.
func (g *Syncer) Boot() {
	now := g.clock.Now()
	store, err := gitrepo.OpenStore(g.cfg.State)
	if err != nil {
		if gitrepo.ClassOf(err) != gitrepo.ClassCorruptObject {
			g.bootFailed(now, ReasonStateUnusable, err, "")
			return
		}
		g.corrupted(now, store, err, "")
		return
	}
	g.mu.Lock()
	g.store = store
	g.mu.Unlock()
	repairs := store.Repairs()
	lg, restored, err := g.lastGoodOf(store)
	if restored {
		repairs = append(repairs, gitrepo.LastGoodFile+" record (from "+gitrepo.LastGoodRef+")")
	}
	if errors.Is(err, gitrepo.ErrNoLastGood) {
		if g.bootSnapshot(now) {
			return
		}
		g.log.Infof("no last good revision in %s yet: not serving until the first sync succeeds", g.cfg.State)
		return
	}
	if err != nil {
		g.corrupted(now, store, err, "")
		return
	}
	h := plumbing.NewHash(lg.Revision)
	if err := store.CheckCommit(h, g.cfg.Path, 1_000_000); err != nil {
		g.corrupted(now, store, err, lg.Revision)
		return
	}
	if len(repairs) > 0 {
		g.log.Warningf("state dir %s repaired: %s; the clone and its last good revision %s are intact and kept", g.cfg.State, strings.Join(repairs, ", "), lg.Revision)
	}
	snap, a := g.build(store, h, nil, nil, nil)
	a.Time = now
	if snap == nil {
		if a.Class == string(gitrepo.ClassCorruptObject) {
			g.corrupted(now, store, errors.New(a.Message), lg.Revision)
			return
		}
		g.log.Errorf("last good revision %s recorded in %s is refused now (%s): not serving it", lg.Revision, g.cfg.State, a.Reason)
		g.finish(a)
		return
	}
	g.holder.Store(snap)
	a.Result = ResultBooted
	a.Message = fmt.Sprintf("serving the last good revision from %s (applied %s) before any fetch", g.cfg.State, lg.AppliedAt.Format(time.RFC3339))
	g.log.Infof("revision %s: %s", lg.Revision, a.Message)
	g.mu.Lock()
	g.st.applied = RevisionTime{ID: lg.Revision, Time: now}
	g.st.lastGood = RevisionTime{ID: lg.Revision, Time: lg.AppliedAt}
	g.mu.Unlock()
	g.metrics.Serving(servedOf(store, snap))
	g.metrics.LastGood(lg.AppliedAt)
	g.finish(a)
	g.ensureSnapshot(store, lg)
	g.maintain(store)
}

func (g *Syncer) bootFailed(now time.Time, reason string, err error, rev string) {
	g.log.Errorf("state dir %s: %v", g.cfg.State, err)
	g.finish(Attempt{Time: now, Revision: rev, Result: ResultRejected, Reason: reason, Message: err.Error()})
}

// corrupted reports a corrupted clone as loudly as a node can, moves it
// aside so that the next fetch starts clean, and serves the snapshot of
// the last good revision if it checks out.
func (g *Syncer) corrupted(now time.Time, store *gitrepo.Store, err error, rev string) {
	g.metrics.StateCorrupted()
	g.log.Errorf("STATE DIRECTORY CORRUPTED: %s: %v", g.cfg.State, err)
	if rev != "" {
		g.log.Errorf("STATE DIRECTORY CORRUPTED: the last good revision %s cannot be read back from the clone: the clone will NOT be served", rev)
	}
	msg := err.Error()
	if store != nil {
		q, qerr := store.Quarantine(now)
		if qerr != nil {
			g.log.Errorf("STATE DIRECTORY CORRUPTED: moving it aside to %s failed: %v", q, qerr)
			msg += "; quarantine failed: " + qerr.Error()
		} else {
			g.log.Errorf("STATE DIRECTORY CORRUPTED: moved aside to %s (nothing deleted); starting a fresh clone", q)
			msg += "; moved aside to " + q
		}
		g.mu.Lock()
		g.store = store
		g.mu.Unlock()
	}
	g.mu.Lock()
	g.st.corrupt = msg
	g.mu.Unlock()
	g.finish(Attempt{Time: now, Revision: rev, Result: ResultRejected, Reason: ReasonStateCorrupted,
		Class: string(gitrepo.ClassCorruptObject), Message: msg})
	if !g.bootSnapshot(now) {
		g.log.Errorf("STATE DIRECTORY CORRUPTED: no usable snapshot of the last good revision (%s): nothing to serve until a fetch of %s succeeds",
			gitrepo.SnapshotFile, gitrepo.NormalizeRef(g.cfg.Ref))
	}
}

// SyncOnce fetches the tracked ref and, if its head is new, verifies,
// validates, builds and swaps it in, then runs the gate probes. Whatever
// fails leaves the served revision as it was.
func (g *Syncer) SyncOnce(ctx context.Context) Attempt {
	start := g.clock.Now()
	g.mu.Lock()
	g.st.syncing = true
	g.updateConditions()
	store := g.store
	g.mu.Unlock()
	g.metrics.SyncAttempt(start)

	pt := newPhases()
	a := g.syncOnce(ctx, store, pt)
	a.Time = start
	a.Duration = g.clock.Now().Sub(start).Seconds()
	g.mu.Lock()
	store = g.store
	g.mu.Unlock()
	g.maintain(store)
	g.finish(a)
	g.mu.Lock()
	g.phases = pt.steps
	g.mu.Unlock()
	return a
}

func (g *Syncer) syncOnce(ctx context.Context, store *gitrepo.Store, pt *phases) Attempt {
	if store == nil || store.Repository() == nil {
		var err error
		store, err = gitrepo.OpenStore(g.cfg.State)
		if err != nil {
			return Attempt{Result: ResultFetchFailed, Class: string(gitrepo.ClassOf(err)), Reason: ReasonStateUnusable, Message: err.Error()}
		}
		g.mu.Lock()
		g.store = store
		g.mu.Unlock()
	}
	h, err := store.Fetch(ctx, g.cfg.Remote, g.cfg.Ref)
	pt.mark("fetch")
	if err != nil {
		c := gitrepo.ClassOf(err)
		return Attempt{Result: ResultFetchFailed, Class: string(c), Reason: classReason(c), Message: err.Error()}
	}
	id := h.String()
	prev := g.holder.Snapshot()
	if prev != nil && prev.Revision != nil && prev.Revision.ID == id {
		g.adoptSnapshot(store, id)
		return Attempt{Result: ResultUnchanged, Revision: id}
	}
	g.mu.Lock()
	why, refused := g.st.rejected[id]
	clears := g.st.clears
	g.mu.Unlock()
	if refused {
		return Attempt{Result: ResultRejected, Revision: id, Reason: why.reason, Message: "head was refused before (" + why.message + "); waiting for a new commit", quiet: true, clears: clears}
	}
	lineage, a, ok := g.descends(ctx, store, h)
	pt.mark("lineage")
	if ok {
		a = g.apply(ctx, store, h, prev, lineage, pt)
		if a.Result == ResultRejected && prev == nil && a.Reason != ReasonNotFastForward {
			a = g.walkBack(ctx, store, h, a)
		}
	}
	a.clears = clears
	return a
}

// descends enforces the ancestry rule: a head is applied only if it
// descends from the last good revision, or if an operator accepted that
// exact commit (Accept). It returns the lineage from the last good
// revision to the head (nil when there is none to compare with) or the
// refused attempt.
func (g *Syncer) descends(ctx context.Context, store *gitrepo.Store, h plumbing.Hash) (*gitrepo.Lineage, Attempt, bool) {
	id := h.String()
	g.mu.Lock()
	last, accepted := g.st.lastGood.ID, g.st.accept == id
	g.mu.Unlock()
	if last == "" {
		return nil, Attempt{}, true
	}
	if accepted {
		g.log.Warningf("HISTORY REWRITE ACCEPTED BY AN OPERATOR: applying %s without checking that it descends from the last good revision %s", id, last)
		return nil, Attempt{}, true
	}
	l, err := store.Lineage(ctx, g.cfg.Remote, g.cfg.Ref, h, plumbing.NewHash(last))
	if errors.Is(err, gitrepo.ErrNotDescendant) {
		msg := fmt.Sprintf("head %s does not descend from the last good revision %s (history rewritten on %s %s?): refused; roll back with a new commit (git revert), or accept this exact commit on this node with `dnsctl accept %s`",
			id, last, g.cfg.Remote.Redacted(), gitrepo.NormalizeRef(g.cfg.Ref), id)
		g.log.Errorf("HISTORY REWRITE REFUSED: %s", msg)
		return nil, Attempt{Result: ResultRejected, Revision: id, Reason: ReasonNotFastForward, Message: msg}, false
	}
	if err != nil {
		c := gitrepo.ClassOf(err)
		return nil, Attempt{Result: ResultFetchFailed, Revision: id, Class: string(c), Reason: classReason(c), Message: "history of " + id + ": " + err.Error()}, false
	}
	return &l, Attempt{}, true
}

// Accept lets the next sync apply commit id even if it does not descend
// from the last good revision: an operator's deliberate history rewrite,
// for this one commit on this node. It is logged loudly.
func (g *Syncer) Accept(id string) error {
	if !plumbing.IsHash(id) {
		return fmt.Errorf("accept: %q is not a full commit id", id)
	}
	g.mu.Lock()
	g.st.accept = id
	g.st.clears++
	if _, ok := g.st.rejected[id]; ok {
		delete(g.st.rejected, id)
		g.st.rejectedOrder = slices.DeleteFunc(g.st.rejectedOrder, func(s string) bool { return s == id })
	}
	last := g.st.lastGood.ID
	g.mu.Unlock()
	g.log.Warningf("HISTORY REWRITE ACCEPTED BY AN OPERATOR: commit %s may replace the last good revision %s on this node even if it does not descend from it", id, last)
	return nil
}

// build runs verify -> load -> validate -> snapshot for commit h of store
// against base. It returns nil and the failed attempt when any step refuses.
func (g *Syncer) build(store *gitrepo.Store, h plumbing.Hash, base *node.Snapshot, lineage *gitrepo.Lineage, pt *phases) (*node.Snapshot, Attempt) {
	// A first revision (nothing served yet) is all that will be live, and
	// all of it is allocated now: the collector runs more often meanwhile,
	// so that the peak stays near what is live. Beside a served revision a
	// build allocates little against the live heap, and a tighter pace
	// only costs the queries answered meanwhile.
	if g.holder.Snapshot() == nil {
		defer gcpace.Build()()
	}
	id := h.String()
	repo := store.Repository()
	reject := func(reason, class string, err error, findings []string) (*node.Snapshot, Attempt) {
		return nil, Attempt{Revision: id, Result: ResultRejected, Reason: reason, Class: class, Message: err.Error(), Findings: findings}
	}
	commit, err := repo.CommitObject(h)
	if err != nil {
		return reject(ReasonLoadFailed, string(gitrepo.ClassCorruptObject), fmt.Errorf("commit %s: %w", id, err), nil)
	}
	if g.keyring != nil {
		signer, err := g.keyring.Verify(commit)
		var se *gitrepo.SignatureError
		if errors.As(err, &se) {
			g.setVerified(false, se.Reason, err.Error())
			return reject(se.Reason, "", err, nil)
		}
		if err != nil {
			g.setVerified(false, gitrepo.ReasonInvalid, err.Error())
			return reject(gitrepo.ReasonInvalid, "", err, nil)
		}
		g.setVerified(true, "SignedByTrustedKey", "commit "+id+" signed by "+signer)
	}
	pt.mark("verify")
	// What the served revision parsed from files unchanged since is
	// shared, not redone (even when base is nil for the rules).
	var served, baseRev *model.Revision
	if s := g.holder.Snapshot(); s != nil {
		served = s.Revision
	}
	rev, findings, err := gitrepo.LoadCommitAgainst(repo, h, g.cfg.Path, served)
	pt.mark("load")
	if err != nil {
		return reject(ReasonLoadFailed, string(gitrepo.ClassOf(err)), err, nil)
	}
	if base != nil {
		baseRev = base.Revision
	}
	findings = append(findings, cluster.Check(rev, baseRev)...)
	pt.mark("check")
	findings = g.judgeEachCommit(repo, rev, findings, baseRev, lineage)
	pt.mark("judge")
	errs := 0
	kept := make([]string, 0, min(len(findings), maxFindingsKept))
	for _, f := range findings {
		line := f.String()
		if f.Severity == zones.SeverityError {
			errs++
			g.log.Error(line)
		} else {
			g.log.Warning(line)
		}
		if len(kept) < maxFindingsKept {
			kept = append(kept, line)
		}
	}
	pt.mark("report")
	if errs > 0 {
		return reject(ReasonValidationFailed, "", fmt.Errorf("revision %s has %d errors", id, errs), kept)
	}
	snap, err := node.NewSnapshot(rev, g.cfg.Cluster, g.cfg.Node)
	pt.mark("node-snapshot")
	if err != nil {
		return reject(ReasonSnapshotFailed, "", fmt.Errorf("cluster %s node %s: %w", g.cfg.Cluster, g.cfg.Node, err), nil)
	}
	return snap, Attempt{Revision: id}
}

func (g *Syncer) apply(ctx context.Context, store *gitrepo.Store, h plumbing.Hash, prev *node.Snapshot, lineage *gitrepo.Lineage, pt *phases) Attempt {
	t0 := time.Now()
	id := h.String()
	base := prev
	g.mu.Lock()
	if g.st.accept == id {
		// An operator's deliberate rewrite goes back in history: the rules
		// against the base (serials, deletions) would refuse exactly that.
		// It is checked alone, as a first revision is.
		base = nil
	}
	g.mu.Unlock()
	snap, a := g.build(store, h, base, lineage, pt)
	if snap == nil {
		// The refused revision (millions of records, maybe) is garbage now:
		// collect it and give its pages back to the OS at once, instead of
		// leaving them to the background scavenger for minutes (issue 17:
		// 2.36 GB held ~4 minutes after a rejection). In the background:
		// a full collection of the served revision's heap takes ~0.5 s at
		// 1M records, which the attempt need not wait for.
		if g.freeing.CompareAndSwap(false, true) {
			go func() {
				defer g.freeing.Store(false)
				debug.FreeOSMemory()
			}()
		}
		return a
	}
	g.holder.Store(snap)
	g.metrics.Applied(time.Since(t0))
	g.metrics.Serving(servedOf(store, snap))
	now := g.clock.Now()
	g.mu.Lock()
	g.st.applied = RevisionTime{ID: id, Time: now}
	g.mu.Unlock()
	pt.mark("swap")
	g.log.Infof("applied revision %s (%s): %s", id, firstLine(snap.Revision.Message), pt)

	failed := g.gateProbes(ctx, snap)
	pt.mark("probes")
	if len(failed) > 0 {
		g.holder.Store(prev)
		back, served := "nothing (no previous revision)", RevisionTime{}
		if prev != nil && prev.Revision != nil {
			back = prev.Revision.ID
			served = RevisionTime{ID: back, Time: g.clock.Now()}
		}
		g.metrics.Serving(servedOf(store, prev))
		g.mu.Lock()
		g.st.applied = served
		g.mu.Unlock()
		return Attempt{Revision: id, Result: ResultRolledBack, Reason: ReasonProbeFailed,
			Message: fmt.Sprintf("gate probes failed on this node; serving %s again", back), Findings: failed}
	}
	lg := gitrepo.LastGood{Revision: id, Ref: gitrepo.NormalizeRef(g.cfg.Ref), Remote: g.cfg.Remote.Redacted(), AppliedAt: now}
	err := store.SetLastGood(lg)
	pt.mark("record")
	if err != nil {
		g.log.Errorf("revision %s is served but could not be recorded as last good in %s: %v", id, g.cfg.State, err)
	} else {
		g.mu.Lock()
		g.st.lastGood = RevisionTime{ID: id, Time: now}
		g.st.older, g.st.snapshot = "", ""
		if g.st.accept == id {
			g.st.accept = ""
		}
		g.mu.Unlock()
		g.metrics.LastGood(now)
		g.persistSnapshot(store, lg)
		pt.mark("snapshot-file")
	}
	return Attempt{Revision: id, Result: ResultApplied}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// maxCommitsJudged bounds the commits loaded one by one when deletions are
// judged along the history from the last good revision to the head.
const maxCommitsJudged = 50

// judgeEachCommit takes the findings of the head checked against the last
// good revision. When more than one commit landed since the last good
// revision and the head's change deletes what only a commit trailer may
// delete, each commit of the first-parent line is judged against its
// parent with its own trailer, as CI judged it: the head's trailer does not
// cover a deletion an earlier commit made without one, and an earlier
// commit's trailer covers its own deletion when the head has none.
func (g *Syncer) judgeEachCommit(repo *git.Repository, head *model.Revision, findings []zones.Finding, base *model.Revision, l *gitrepo.Lineage) []zones.Finding {
	if base == nil || l == nil || len(l.FirstParent) < 2 || len(l.FirstParent) > maxCommitsJudged {
		return findings
	}
	liftable := false
	for _, f := range findings {
		if f.Severity == zones.SeverityError && !cluster.LiftedByTrailer(f.Rule) {
			return findings // refused whatever the trailers say
		}
		liftable = liftable || cluster.LiftedByTrailer(f.Rule)
	}
	if !liftable {
		return findings
	}
	out := make([]zones.Finding, 0, len(findings))
	prev := base
	for i, h := range l.FirstParent {
		rev := head
		if i < len(l.FirstParent)-1 {
			var err error
			if rev, _, err = gitrepo.LoadCommitAgainst(repo, h, g.cfg.Path, prev); err != nil {
				return findings // cannot judge the step: the head's own judgement stands
			}
		}
		for _, f := range cluster.Check(rev, prev) {
			if f.Severity == zones.SeverityError && (cluster.LiftedByTrailer(f.Rule) || f.Rule == cluster.RuleTrailer) {
				f.Msg = "commit " + h.String() + ": " + f.Msg
				out = append(out, f)
			}
		}
		prev = rev
	}
	for _, f := range findings {
		if cluster.LiftedByTrailer(f.Rule) {
			f.Severity = zones.SeverityWarning
			f.Msg, _, _ = strings.Cut(f.Msg, "; add the commit trailer")
			f.Msg += fmt.Sprintf(" (each of the %d commits since the last good revision judged with its own %s trailer)", len(l.FirstParent), cluster.MassDeleteTrailer)
		}
		out = append(out, f)
	}
	cluster.SortFindings(out)
	return out
}
