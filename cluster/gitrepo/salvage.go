package gitrepo

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
)

// A state directory damaged by a crash or a bad disk is salvaged rather
// than thrown away when what is damaged can be rebuilt from what is
// intact (issue 17: a node with git down served nothing, fallback records
// included, because its HEAD file was empty). The clone's HEAD and config
// carry nothing the node needs (it reads its own refs), so a damaged one
// is rewritten as git init writes it; a damaged refs/gitops/last-good is
// rewritten from the last-good record and the record from the ref. Only
// what cannot be rebuilt is quarantined. git itself does the same for
// what it can derive: `git fsck` rebuilds nothing, but `git init` on an
// existing repository rewrites a missing HEAD and config and keeps the
// objects.

// Files of a bare clone as git init writes them.
const (
	initHEAD   = "ref: refs/heads/master\n"
	initConfig = "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n"
)

// repairFiles rewrites the HEAD and config files of the bare repository at
// p when they are missing, empty or do not parse, provided the repository
// otherwise exists (its objects folder is there). It returns what it
// repaired.
func repairFiles(p string) []string {
	if fi, err := os.Stat(filepath.Join(p, "objects")); err != nil || !fi.IsDir() {
		return nil
	}
	var done []string
	if data, err := os.ReadFile(filepath.Join(p, "HEAD")); err != nil || !validHEAD(data) {
		if WriteFileAtomic(filepath.Join(p, "HEAD"), []byte(initHEAD)) == nil {
			done = append(done, "HEAD")
		}
	}
	if data, err := os.ReadFile(filepath.Join(p, "config")); err != nil || !validConfig(data) {
		if WriteFileAtomic(filepath.Join(p, "config"), []byte(initConfig)) == nil {
			done = append(done, "config")
		}
	}
	return done
}

// validHEAD: a symbolic ref to refs/... or a full commit id, one line.
func validHEAD(data []byte) bool {
	s := strings.TrimSuffix(string(data), "\n")
	if strings.ContainsAny(s, "\n\x00") {
		return false
	}
	if t, ok := strings.CutPrefix(s, "ref: "); ok {
		return strings.HasPrefix(t, "refs/") && plumbing.ReferenceName(t).Validate() == nil
	}
	return plumbing.IsHash(s)
}

// validConfig: not empty (a truncated write leaves an empty file) and
// parsed by go-git as a repository config.
func validConfig(data []byte) bool {
	if len(bytes.TrimSpace(data)) == 0 || bytes.IndexByte(data, 0) >= 0 {
		return false
	}
	return config.NewConfig().Unmarshal(data) == nil
}

// refFile reads the loose ref file of name: exists is false when there is
// none (it may still be packed), ok when it holds one full commit id.
func (s *Store) refFile(name plumbing.ReferenceName) (h plumbing.Hash, exists, ok bool) {
	data, err := os.ReadFile(filepath.Join(s.dir, RepoDir, filepath.FromSlash(string(name))))
	if errors.Is(err, os.ErrNotExist) {
		return plumbing.ZeroHash, false, false
	}
	t := strings.TrimSuffix(string(data), "\n")
	if err != nil || !plumbing.IsHash(t) {
		return plumbing.ZeroHash, true, false
	}
	return plumbing.NewHash(t), true, true
}

// repairRefs rewrites a damaged refs/gitops/last-good from the last-good
// record when the record is intact and its commit is in the store, and
// removes a damaged refs/gitops/tracked (the next fetch writes it again).
func (s *Store) repairRefs() []string {
	var done []string
	if _, exists, ok := s.refFile(LastGoodRef); exists && !ok {
		if lg, err := s.LastGood(); err == nil {
			if _, err := s.repo.CommitObject(plumbing.NewHash(lg.Revision)); err == nil {
				if err := s.repo.Storer.SetReference(plumbing.NewHashReference(LastGoodRef, plumbing.NewHash(lg.Revision))); err == nil {
					done = append(done, LastGoodRef+" (from the "+LastGoodFile+" record)")
				}
			}
		}
	}
	if _, exists, ok := s.refFile(TrackedRef); exists && !ok {
		if os.Remove(filepath.Join(s.dir, RepoDir, filepath.FromSlash(TrackedRef))) == nil {
			done = append(done, TrackedRef+" (removed: the next fetch writes it)")
		}
	}
	return done
}

// RestoreLastGood rewrites the last-good record from refs/gitops/last-good
// when the record is missing or damaged but the ref is intact: the record
// says which revision, ref and remote; ref and remote are the node's
// settings, and the time applied is the ref file's modification time (the
// two are written together). The caller checks the commit's objects.
func (s *Store) RestoreLastGood(ref, remote string) (LastGood, error) {
	if s.repo == nil {
		return LastGood{}, &Error{Class: ClassCorruptObject, Op: "read", URL: s.dir, Err: errors.New("no repository")}
	}
	p := filepath.Join(s.dir, RepoDir, filepath.FromSlash(LastGoodRef))
	h, exists, ok := s.refFile(LastGoodRef)
	if !exists {
		return LastGood{}, &Error{Class: ClassCorruptObject, Op: "read", URL: p, Err: errors.New("no ref to restore the last-good record from")}
	}
	if !ok {
		return LastGood{}, &Error{Class: ClassCorruptObject, Op: "read", URL: p, Err: errors.New("the ref is damaged too")}
	}
	lg := LastGood{Revision: h.String(), Ref: NormalizeRef(ref), Remote: remote}
	if fi, err := os.Stat(p); err == nil {
		lg.AppliedAt = fi.ModTime().UTC()
	}
	if err := s.SetLastGood(lg); err != nil {
		return LastGood{}, fmt.Errorf("restoring %s: %w", LastGoodFile, err)
	}
	return lg, nil
}
