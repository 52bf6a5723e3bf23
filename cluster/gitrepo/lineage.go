package gitrepo

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// MaxLineage bounds the commits walked (and the history deepened) between
// the last good revision and a new head: a longer gap is refused as not
// proven to descend, and the clone never holds more history than this.
const MaxLineage = 1000

// ErrNotDescendant is returned by Lineage when the head does not descend
// from the base: a history rewrite (force-push to an older or unrelated
// commit). Nodes refuse it (reason NotFastForward) unless an operator
// accepts that exact commit.
var ErrNotDescendant = errors.New("does not descend from the last good revision")

// Lineage is how head relates to base in the store's history.
type Lineage struct {
	// FirstParent is the first-parent chain from base (excluded) to head
	// (included), oldest first, when base is on head's first-parent line;
	// nil when base is reached only through a merged branch.
	FirstParent []plumbing.Hash
	// Walked is how many commits were read to prove the descent.
	Walked int
}

// Lineage proves that head descends from base (every parent, not only the
// first), deepening a shallow clone from the remote as needed (depth
// doubling up to MaxLineage). It returns an error wrapping
// ErrNotDescendant when head's history is complete within the bound and
// base is not in it, or when the bound is reached first.
func (s *Store) Lineage(ctx context.Context, r Remote, ref string, head, base plumbing.Hash) (Lineage, error) {
	depth := max(r.Depth, 1)
	for {
		l, incomplete, err := s.walk(head, base)
		if err != nil || !incomplete || depth >= MaxLineage {
			if err == nil && incomplete {
				err = fmt.Errorf("head %s: %w: not found within %d commits", head, ErrNotDescendant, MaxLineage)
			}
			return l, err
		}
		// A shallow boundary was reached before base: fetch more history.
		depth = min(max(depth*4, 64), MaxLineage)
		deeper := r
		deeper.Depth = depth
		got, err := s.Fetch(ctx, deeper, ref)
		if err != nil {
			return Lineage{}, err
		}
		if got != head {
			return Lineage{}, &Error{Class: ClassOther, Op: "fetch", URL: r.Redacted(), Err: fmt.Errorf("the ref moved from %s to %s while its history was fetched", head, got)}
		}
	}
}

// walk searches base among head's ancestors, breadth first, reading at
// most MaxLineage commits. incomplete is true when a parent is missing
// (the shallow boundary) and base was not found.
func (s *Store) walk(head, base plumbing.Hash) (l Lineage, incomplete bool, err error) {
	if head == base {
		return Lineage{FirstParent: []plumbing.Hash{}}, false, nil
	}
	seen := map[plumbing.Hash]bool{head: true}
	queue := []plumbing.Hash{head}
	found := false
	for len(queue) > 0 && !found {
		if l.Walked >= MaxLineage {
			return l, true, nil
		}
		h := queue[0]
		queue = queue[1:]
		c, err := object.GetCommit(s.repo.Storer, h)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			incomplete = true
			continue
		}
		if err != nil {
			return l, false, &Error{Class: ClassCorruptObject, Op: "read", URL: s.dir, Err: fmt.Errorf("commit %s: %w", h, err)}
		}
		l.Walked++
		for _, p := range c.ParentHashes {
			if p == base {
				found = true
			}
			if !seen[p] {
				seen[p] = true
				queue = append(queue, p)
			}
		}
	}
	if !found {
		if incomplete {
			return l, true, nil
		}
		return l, false, fmt.Errorf("head %s %w %s", head, ErrNotDescendant, base)
	}
	// The first-parent chain, if base is on it.
	var chain []plumbing.Hash
	for h := head; h != base && len(chain) < MaxLineage; {
		chain = append(chain, h)
		c, err := object.GetCommit(s.repo.Storer, h)
		if err != nil || len(c.ParentHashes) == 0 {
			chain = nil
			break
		}
		h = c.ParentHashes[0]
	}
	if len(chain) == MaxLineage {
		chain = nil
	}
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i]
	}
	l.FirstParent = chain
	return l, false, nil
}
