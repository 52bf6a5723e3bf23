package syncer

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gitops-dns/resolverd/cluster/gitrepo"
)

// ReasonServingSnapshot is the Ready reason of a node serving its last
// good revision from the snapshot file because its clone could not be
// used (issue 17); it keeps fetching to rebuild the clone.
const ReasonServingSnapshot = "ServingSnapshot"

// pruneKeepHistory bounds the history kept between the last good
// revision and the tracked head when the clone is pruned: up to the
// commits judged one by one (maxCommitsJudged), when the last good
// revision is on the head's first-parent line. Those commits prove the
// next head descends from the last good revision; dropped, the next sync
// would fetch them again (Lineage deepens), trees included. A longer gap
// is dropped and fetched again when needed. Everything off that line
// (revisions before the last good one, rewritten or refused histories)
// goes.
const pruneKeepHistory = maxCommitsJudged

// prunePacks is how many packs the clone may hold before it is pruned:
// each fetch of a new head adds one (rejected heads too), each deepening
// of the history for the ancestry rule another.
const prunePacks = 8

// lastGoodOf returns the clone's last good revision, restoring the
// record from refs/gitops/last-good when the record is missing or damaged
// and the ref is intact. restored is true when it was.
func (g *Syncer) lastGoodOf(store *gitrepo.Store) (lg gitrepo.LastGood, restored bool, err error) {
	lg, err = store.LastGood()
	if err == nil {
		return lg, false, nil
	}
	back, rerr := store.RestoreLastGood(g.cfg.Ref, g.cfg.Remote.Redacted())
	if rerr != nil {
		return lg, false, err // the record's own error: the ref did not help
	}
	return back, true, nil
}

// bootSnapshot serves the snapshot of the last good revision when the
// clone cannot: its checksum, its objects (each id recomputed from its
// content) and then the same load, checks and build as any revision. It
// reports whether the node serves it.
func (g *Syncer) bootSnapshot(now time.Time) bool {
	p := filepath.Join(g.cfg.State, gitrepo.SnapshotFile)
	snap, err := gitrepo.ReadSnapshot(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if err != nil {
		g.log.Errorf("SNAPSHOT REFUSED: %v: not serving it", err)
		g.mu.Lock()
		g.st.corrupt += "; snapshot refused: " + err.Error()
		g.mu.Unlock()
		return false
	}
	if want := strings.Trim(path.Clean("/"+g.cfg.Path), "/"); snap.Path != want {
		g.log.Errorf("SNAPSHOT REFUSED: %s holds folder %q of %s, the gitops block says path %q: not serving it", p, snap.Path, snap.Revision, want)
		return false
	}
	ro := snap.Store()
	s, a := g.build(ro, plumbing.NewHash(snap.Revision), nil, nil, nil)
	if s == nil {
		g.log.Errorf("SNAPSHOT REFUSED: revision %s in %s is refused now (%s: %s): not serving it", snap.Revision, p, a.Reason, a.Message)
		return false
	}
	g.holder.Store(s)
	a.Time = now
	a.Result = ResultBooted
	a.Reason = ReasonServingSnapshot
	a.Message = fmt.Sprintf("serving the last good revision from the snapshot %s (applied %s, %d objects, checksum verified): the clone could not be used; fetching to rebuild it",
		p, snap.AppliedAt.Format(time.RFC3339), snap.Objects)
	g.log.Warningf("revision %s: %s", snap.Revision, a.Message)
	g.mu.Lock()
	g.st.applied = RevisionTime{ID: snap.Revision, Time: now}
	g.st.lastGood = RevisionTime{ID: snap.Revision, Time: snap.AppliedAt}
	g.st.snapshot = snap.Revision
	g.mu.Unlock()
	g.metrics.Serving(servedOf(ro, s))
	g.metrics.LastGood(snap.AppliedAt)
	g.finish(a)
	return true
}

// adoptSnapshot runs when the fetched head is the revision served from
// the snapshot: the fresh clone holds it now, so it becomes the clone's
// last good revision again (with the time it was first applied).
func (g *Syncer) adoptSnapshot(store *gitrepo.Store, id string) {
	g.mu.Lock()
	from, at := g.st.snapshot, g.st.lastGood.Time
	g.mu.Unlock()
	if from != id {
		return
	}
	lg := gitrepo.LastGood{Revision: id, Ref: gitrepo.NormalizeRef(g.cfg.Ref), Remote: g.cfg.Remote.Redacted(), AppliedAt: at}
	if err := store.SetLastGood(lg); err != nil {
		g.log.Errorf("revision %s (served from the snapshot) could not be recorded as last good in the rebuilt clone: %v", id, err)
		return
	}
	g.mu.Lock()
	g.st.snapshot = ""
	g.mu.Unlock()
	g.log.Infof("the clone in %s is rebuilt: it holds the last good revision %s again", g.cfg.State, id)
}

// persistSnapshot writes the snapshot of the revision that just became
// last good. A failure is logged, not fatal: the clone still holds it.
func (g *Syncer) persistSnapshot(store *gitrepo.Store, lg gitrepo.LastGood) {
	t0 := time.Now()
	info, err := store.WriteSnapshot(lg, g.cfg.Path)
	if err != nil {
		g.log.Errorf("last good revision %s: %v; if the clone is damaged while the remote is down this node will have nothing to serve", lg.Revision, err)
		return
	}
	g.log.Infof("snapshot of the last good revision %s written to %s (%d objects, %d bytes, %v)",
		lg.Revision, filepath.Join(g.cfg.State, gitrepo.SnapshotFile), info.Objects, info.Bytes, time.Since(t0).Round(time.Millisecond))
}

// ensureSnapshot writes the snapshot at boot when the one on disk is
// missing or of another revision (a state directory from before
// snapshots existed, or a crash between recording and writing it).
func (g *Syncer) ensureSnapshot(store *gitrepo.Store, lg gitrepo.LastGood) {
	if id, err := gitrepo.SnapshotRevision(filepath.Join(g.cfg.State, gitrepo.SnapshotFile)); err == nil && id == lg.Revision {
		return
	}
	g.persistSnapshot(store, lg)
}

// maintain prunes the clone when it holds more than prunePacks packs and
// reports the state directory's size.
func (g *Syncer) maintain(store *gitrepo.Store) {
	if store == nil || store.Repository() == nil {
		return
	}
	bytes, packs := store.Usage()
	if packs > prunePacks {
		t0 := time.Now()
		st, err := store.Prune(pruneKeepHistory)
		switch {
		case errors.Is(err, gitrepo.ErrBusy):
		case err != nil:
			g.log.Errorf("pruning the clone in %s: %v", g.cfg.State, err)
		default:
			g.log.Infof("pruned the clone in %s: %d -> %d bytes, %d -> %d packs; kept the last good revision %s, the tracked head %s, %d commits in all (%v)",
				g.cfg.State, st.Before, st.After, st.PacksBefore, st.Packs, st.LastGood, st.Tracked, st.Commits, time.Since(t0).Round(time.Millisecond))
			bytes, packs = st.After, st.Packs
		}
	}
	g.metrics.StateDir(bytes, packs)
}
