package gitrepo

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gitops-dns/resolverd/cluster/gitrepo/gittest"
)

// Lineage proves descent over a shallow clone by deepening it from a real
// git daemon, and refuses an ancestor and an unrelated history.
func TestLineageDeepensShallowClone(t *testing.T) {
	src := newSrcRepo(t)
	old := src.commit("a.txt", "0", nil)
	base := src.commit("a.txt", "1", nil)
	d := gittest.StartDaemon(t, src.root)
	r := Remote{URL: d.URL("config"), Timeout: 10 * time.Second, Depth: 1}
	s := openStore(t)
	if h, err := s.Fetch(bg, r, "master"); err != nil || h != base {
		t.Fatalf("fetch: %v %v", h, err)
	}
	var head plumbing.Hash
	for i := range 100 {
		head = src.commit("a.txt", fmt.Sprint(i+2), nil)
	}
	if h, err := s.Fetch(bg, r, "master"); err != nil || h != head {
		t.Fatalf("fetch: %v %v", h, err)
	}
	l, err := s.Lineage(bg, r, "master", head, base)
	if err != nil || len(l.FirstParent) != 100 || l.FirstParent[99] != head {
		t.Fatalf("lineage of 100 commits: %d commits, %v", len(l.FirstParent), err)
	}
	if _, err := s.Lineage(bg, r, "master", head, head); err != nil {
		t.Fatalf("head against itself: %v", err)
	}
	// An ancestor of base, as a force-push back would make the head.
	if _, err := s.Lineage(bg, r, "master", old, base); !errors.Is(err, ErrNotDescendant) {
		t.Fatalf("ancestor: %v", err)
	}
}
