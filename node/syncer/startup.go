package syncer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/gitops-dns/resolverd/cluster/gitrepo"
)

// maxWalkBack bounds the first-parent commits tried, newest first, when a
// node without a last good revision finds the head invalid.
const maxWalkBack = 50

// ReasonServingOlderRevision is the Ready reason of a node that found the
// head invalid at its first sync and serves the newest valid revision of
// the head's first-parent history instead.
const ReasonServingOlderRevision = "ServingOlderRevision"

// where names the Corefile line of a setting ("" when unknown).
func (c Config) where(key string) string {
	if w := c.Origin[key]; w != "" {
		return w + ": "
	}
	return ""
}

// checkSettings runs at start when no last good revision exists: a
// mistake in the node's own settings (a local repository path that does
// not exist, a cluster or node the repository does not have) would make
// it answer SERVFAIL to everything forever, so it is an error naming the
// Corefile line, and the process does not start. A remote that cannot be
// reached, or a head that does not load, is no such mistake: the node
// starts and keeps trying.
func (g *Syncer) checkSettings(ctx context.Context) error {
	if gitrepo.IsLocalPath(g.cfg.Remote.URL) {
		if _, err := os.Stat(g.cfg.Remote.URL); err != nil {
			return fmt.Errorf("%srepo %s: %w", g.cfg.where("repo"), g.cfg.Remote.URL, err)
		}
	}
	store, err := gitrepo.OpenStore(g.cfg.State)
	if err != nil {
		return nil // reported by the sync
	}
	h, err := store.Fetch(ctx, g.cfg.Remote, g.cfg.Ref)
	if err != nil {
		if gitrepo.IsLocalPath(g.cfg.Remote.URL) && gitrepo.ClassOf(err) == gitrepo.ClassRepoNotFound {
			return fmt.Errorf("%srepo %s: not a git repository: %w", g.cfg.where("repo"), g.cfg.Remote.URL, err)
		}
		return nil
	}
	rev, _, err := gitrepo.LoadCommit(store.Repository(), h, g.cfg.Path)
	if err != nil {
		return nil // the walk back handles an invalid head
	}
	c := rev.ClusterByName(g.cfg.Cluster)
	if c == nil {
		return fmt.Errorf("%scluster %q is not in %s %s at %s (clusters: %s)", g.cfg.where("cluster"), g.cfg.Cluster,
			g.cfg.Remote.Redacted(), gitrepo.NormalizeRef(g.cfg.Ref), h, strings.Join(rev.ClusterNames(), ", "))
	}
	names := make([]string, 0, len(c.Nodes))
	for _, n := range c.Nodes {
		if n.Name == g.cfg.Node {
			return nil
		}
		names = append(names, n.Name)
	}
	return fmt.Errorf("%snode %q is not in cluster %s of %s %s at %s (nodes: %s)", g.cfg.where("node"), g.cfg.Node, g.cfg.Cluster,
		g.cfg.Remote.Redacted(), gitrepo.NormalizeRef(g.cfg.Ref), h, strings.Join(names, ", "))
}

// walkBack runs when a node serving nothing (no last good revision) finds
// the head invalid: it tries the head's first parents, newest first (at
// most maxWalkBack, deepening a shallow clone), and applies the first that
// passes everything a head must pass. The node then serves it with Ready
// reason ServingOlderRevision and keeps following the branch.
func (g *Syncer) walkBack(ctx context.Context, store *gitrepo.Store, head plumbing.Hash, refused Attempt) Attempt {
	deeper := g.cfg.Remote
	if deeper.Depth > 0 && deeper.Depth < maxWalkBack+1 {
		deeper.Depth = maxWalkBack + 1
		if got, err := store.Fetch(ctx, deeper, g.cfg.Ref); err != nil || got != head {
			return refused
		}
	}
	h := head
	for i := 1; i <= maxWalkBack; i++ {
		c, err := object.GetCommit(store.Repository().Storer, h)
		if err != nil || len(c.ParentHashes) == 0 {
			return refused
		}
		h = c.ParentHashes[0]
		if _, err := object.GetCommit(store.Repository().Storer, h); errors.Is(err, plumbing.ErrObjectNotFound) {
			return refused // the shallow boundary
		}
		a := g.apply(ctx, store, h, nil, nil, nil)
		if a.Result != ResultApplied {
			continue
		}
		g.mu.Lock()
		g.st.older = h.String()
		g.mu.Unlock()
		refused.Message = fmt.Sprintf("%s; serving the newest valid revision of its history instead, %s (%d commits back)", refused.Message, h, i)
		g.log.Warningf("head %s is invalid (%s) and no revision was served before: serving %s, %d first-parent commits back, and following %s", head, refused.Reason, h, i, gitrepo.NormalizeRef(g.cfg.Ref))
		return refused
	}
	return refused
}
