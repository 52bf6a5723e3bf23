package gitrepo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// The clone only grew: every fetched revision stays as a pack, rejected
// ones included (issue 17: ~10 MB per revision of a 2M-record repo). Prune
// rewrites it with only what a node needs: the last good revision, the
// tracked head and the first-parent history between them (bounded), each
// with its whole tree, in one new pack, in a fresh folder swapped in for
// the old one. A fresh folder rather than go-git's RepackObjects + Prune:
// those keep every object reachable from any ref through the whole
// history the ancestry walk deepened (up to MaxLineage commits) and
// delete packs in place, where a crash in the middle leaves a clone with
// half its objects; a new folder is complete before it replaces the old,
// and the old is restored at the next open if the swap was cut short. It
// is what `git clone --depth` of the kept refs would produce, without the
// network. The caller holds the state directory's lock (LockState); the
// store's own lock keeps fetches out meanwhile.

// Folders of a prune in progress, beside RepoDir.
const (
	pruneNew = RepoDir + ".new" // being written
	pruneOld = RepoDir + ".old" // the clone being replaced
)

// maxPruneObjects bounds the objects a prune copies.
const maxPruneObjects = 5_000_000

// ErrBusy is returned by Prune while a fetch runs.
var ErrBusy = errors.New("a fetch is running")

// PruneStats is what Prune did.
type PruneStats struct {
	Commits, Objects   int   // kept
	Before, After      int64 // bytes of the state directory
	PacksBefore, Packs int
	Shallow            int // kept commits whose parents were cut
	LastGood, Tracked  string
}

// Usage returns the bytes of every file in the state directory and the
// number of packs of the clone (at most 1,000,000 entries are walked).
func (s *Store) Usage() (bytes int64, packs int) {
	n := 0
	_ = filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if n++; n > 1_000_000 {
			return filepath.SkipAll
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				bytes += fi.Size()
			}
			if strings.HasSuffix(p, ".pack") && filepath.Base(filepath.Dir(p)) == "pack" {
				packs++
			}
		}
		return nil
	})
	return bytes, packs
}

// Prune rewrites the clone keeping the last good revision, the tracked
// head and, when the last good revision is on the head's first-parent
// line within keepHistory commits, the commits between them (what judging
// the head commit by commit reads), all with their trees. Everything else
// (rejected revisions, deepened history) goes. Commits whose parents are
// cut are recorded as shallow, so that the next fetch does not assume
// their history is here.
func (s *Store) Prune(keepHistory int) (PruneStats, error) {
	if !s.mu.TryLock() {
		return PruneStats{}, ErrBusy
	}
	defer s.mu.Unlock()
	if s.repo == nil || s.readOnly {
		return PruneStats{}, errors.New("prune: no repository")
	}
	var st PruneStats
	st.Before, st.PacksBefore = s.Usage()
	refs := map[plumbing.ReferenceName]plumbing.Hash{}
	var commits []plumbing.Hash
	kept := map[plumbing.Hash]bool{}
	keep := func(h plumbing.Hash) {
		if !kept[h] {
			kept[h] = true
			commits = append(commits, h)
		}
	}
	lg, lgErr := s.Resolve(LastGoodRef)
	tr, trErr := s.Resolve(TrackedRef)
	if trErr == nil {
		refs[TrackedRef] = tr
		st.Tracked = tr.String()
		keep(tr)
		if lgErr == nil {
			var chain []plumbing.Hash
			found := tr == lg
			for h, i := tr, 0; !found && i < keepHistory; i++ {
				c, err := s.repo.CommitObject(h)
				if err != nil || len(c.ParentHashes) == 0 {
					break
				}
				if h = c.ParentHashes[0]; h == lg {
					found = true
				} else {
					chain = append(chain, h)
				}
			}
			if found {
				for _, h := range chain {
					keep(h)
				}
			}
		}
	}
	if lgErr == nil {
		refs[LastGoodRef] = lg
		st.LastGood = lg.String()
		keep(lg)
	}
	if len(commits) == 0 {
		return st, errors.New("prune: neither the last good revision nor the tracked head resolves: nothing to keep")
	}
	objs, shallow, err := s.pruneObjects(commits, kept)
	if err != nil {
		return st, fmt.Errorf("prune: %w", err)
	}
	st.Commits, st.Objects, st.Shallow = len(commits), len(objs), len(shallow)

	nw := filepath.Join(s.dir, pruneNew)
	if err := os.RemoveAll(nw); err != nil {
		return st, fmt.Errorf("prune: %w", err)
	}
	if err := writeClone(nw, s.repo.Storer, objs, refs, shallow); err != nil {
		os.RemoveAll(nw)
		return st, fmt.Errorf("prune: writing %s: %w", nw, err)
	}
	// The swap: the old clone aside, the new one in its place. A crash
	// between the two renames is undone by recoverSwap at the next open.
	cur, old := filepath.Join(s.dir, RepoDir), filepath.Join(s.dir, pruneOld)
	if err := os.RemoveAll(old); err != nil {
		return st, fmt.Errorf("prune: %w", err)
	}
	if err := os.Rename(cur, old); err != nil {
		os.RemoveAll(nw)
		return st, fmt.Errorf("prune: %w", err)
	}
	if err := os.Rename(nw, cur); err != nil {
		_ = os.Rename(old, cur)
		return st, fmt.Errorf("prune: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		return st, fmt.Errorf("prune: %w", err)
	}
	r, err := git.PlainOpen(cur)
	if err != nil {
		return st, &Error{Class: ClassCorruptObject, Op: "prune", URL: cur, Err: err}
	}
	s.repo = r
	_ = os.RemoveAll(old)
	st.After, st.Packs = s.Usage()
	return st, nil
}

// pruneObjects lists the kept commits and every object of their trees,
// and the kept commits with a parent that is not kept.
func (s *Store) pruneObjects(commits []plumbing.Hash, kept map[plumbing.Hash]bool) (objs, shallow []plumbing.Hash, err error) {
	seen := map[plumbing.Hash]bool{}
	add := func(h plumbing.Hash) bool {
		if seen[h] {
			return false
		}
		seen[h] = true
		objs = append(objs, h)
		return true
	}
	var walk func(h plumbing.Hash) error
	walk = func(h plumbing.Hash) error {
		t, err := s.repo.TreeObject(h)
		if err != nil {
			return fmt.Errorf("tree %s: %w", h, err)
		}
		for _, e := range t.Entries {
			if e.Mode == filemode.Submodule || !add(e.Hash) {
				continue
			}
			if len(objs) > maxPruneObjects {
				return fmt.Errorf("more than %d objects", maxPruneObjects)
			}
			if e.Mode == filemode.Dir {
				if err := walk(e.Hash); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, h := range commits {
		c, err := object.GetCommit(s.repo.Storer, h)
		if err != nil {
			return nil, nil, fmt.Errorf("commit %s: %w", h, err)
		}
		add(h)
		if add(c.TreeHash) {
			if err := walk(c.TreeHash); err != nil {
				return nil, nil, err
			}
		}
		for _, p := range c.ParentHashes {
			if !kept[p] {
				shallow = append(shallow, h)
				break
			}
		}
	}
	return objs, shallow, nil
}

// writeClone makes a bare repository at dir holding objs (read from src)
// in one pack, the refs and the shallow list, and fsyncs it.
func writeClone(dir string, src storer.EncodedObjectStorer, objs []plumbing.Hash, refs map[plumbing.ReferenceName]plumbing.Hash, shallow []plumbing.Hash) error {
	r, err := git.PlainInit(dir, true)
	if err != nil {
		return err
	}
	pw, ok := r.Storer.(storer.PackfileWriter)
	if !ok {
		return errors.New("the storage cannot write packs")
	}
	w, err := pw.PackfileWriter()
	if err != nil {
		return err
	}
	// Window 0: no delta search; each blob is stored whole (zlib). With
	// git's default window (10) the pruned clone of a 200k-record repo was
	// half the size but the prune's heap peak went from nothing to +90 MiB
	// (the delta index of each multi-megabyte zone file), ~+450 MiB at 1M
	// records: a node's memory is for serving (issue 17's memory bound).
	if _, err := packfile.NewEncoder(w, src, false).Encode(objs, 0); err != nil {
		w.Close()
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	for name, h := range refs {
		if err := r.Storer.SetReference(plumbing.NewHashReference(name, h)); err != nil {
			return err
		}
	}
	if len(shallow) > 0 {
		if err := r.Storer.(storer.ShallowStorer).SetShallow(shallow); err != nil {
			return err
		}
	}
	return syncTree(dir)
}

// syncTree fsyncs every file and folder below dir.
func syncTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Sync()
	})
}

// recoverSwap finishes or undoes a prune cut short: a clone folder moved
// aside but not replaced is put back; a half-written new one and an old
// one already replaced are removed.
func recoverSwap(dir string) {
	cur, old := filepath.Join(dir, RepoDir), filepath.Join(dir, pruneOld)
	if _, err := os.Stat(cur); errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(old); err == nil {
			_ = os.Rename(old, cur)
		}
	}
	_ = os.RemoveAll(filepath.Join(dir, pruneNew))
	if _, err := os.Stat(cur); err == nil {
		_ = os.RemoveAll(old)
	}
}
