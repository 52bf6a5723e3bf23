package gitrepo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// Names inside the state directory.
const (
	RepoDir      = "repo.git"  // bare repository: objects of every fetched revision
	LastGoodFile = "last-good" // JSON LastGood, written atomically
	TrackedRef   = "refs/gitops/tracked"
	LastGoodRef  = "refs/gitops/last-good" // keeps the last good commit reachable
)

// ErrNoLastGood is returned by LastGood when none was ever recorded.
var ErrNoLastGood = errors.New("no last good revision recorded")

// LastGood is the record of the last revision a node applied successfully.
type LastGood struct {
	Revision  string    `json:"revision"`
	Ref       string    `json:"ref,omitempty"`
	Remote    string    `json:"remote,omitempty"`
	AppliedAt time.Time `json:"applied_at"`
}

// Store is a node's state directory: a bare repository holding every fetched
// revision's objects, and the last good revision. Fetches are serialized.
type Store struct {
	dir     string
	mu      sync.Mutex // one fetch at a time
	repo    *git.Repository
	repairs []string // what open repaired
	// readOnly: a snapshot's objects in memory (Snapshot.Store), never
	// fetched into.
	readOnly bool
	// objects is go-git's cache of decoded objects for repo, held here so
	// that a fetch can put in it the files it resolved (packResolver).
	objects cache.Object
}

// OpenStore opens (creating if needed) the state directory dir. A bare
// repository that exists but cannot be opened is an error of class
// corrupt-object: the caller reports it and may Quarantine it.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, &Error{Class: ClassConfig, Op: "open", URL: dir, Err: err}
	}
	s := &Store{dir: dir}
	if err := s.open(); err != nil {
		return s, err
	}
	return s, nil
}

func (s *Store) open() error {
	p := filepath.Join(s.dir, RepoDir)
	recoverSwap(s.dir)
	s.repairs = repairFiles(p)
	abs, err := filepath.Abs(p)
	if err != nil {
		return &Error{Class: ClassConfig, Op: "open", URL: p, Err: err}
	}
	// The storage PlainOpen and PlainInit make for a bare repository, over
	// a cache of decoded objects the store holds (a fetch puts in it the
	// files it resolved: packResolver).
	s.objects = cache.NewObjectLRUDefault()
	st := filesystem.NewStorage(osfs.New(abs), s.objects)
	r, err := git.Open(st, nil)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		if _, serr := os.Stat(p); serr == nil {
			// The folder is there but git does not see a repository in it.
			return &Error{Class: ClassCorruptObject, Op: "open", URL: p, Err: err}
		}
		r, err = git.Init(st, nil)
	}
	if err != nil {
		return &Error{Class: ClassCorruptObject, Op: "open", URL: p, Err: err}
	}
	if _, err := r.Storer.Reference(plumbing.HEAD); err != nil && !errors.Is(err, plumbing.ErrReferenceNotFound) {
		return &Error{Class: ClassCorruptObject, Op: "open", URL: p, Err: fmt.Errorf("HEAD: %w", err)}
	}
	if fi, err := os.Stat(filepath.Join(p, "objects")); err != nil || !fi.IsDir() {
		return &Error{Class: ClassCorruptObject, Op: "open", URL: p, Err: errors.New("no objects folder")}
	}
	s.repo = r
	s.repairs = append(s.repairs, s.repairRefs()...)
	return nil
}

// Repairs names what opening the store repaired (a damaged HEAD, config
// or ref of the clone, rewritten from what is intact), for one log line.
func (s *Store) Repairs() []string { return s.repairs }

// Dir returns the state directory.
func (s *Store) Dir() string { return s.dir }

// Repository returns the bare repository (nil when OpenStore failed).
func (s *Store) Repository() *git.Repository { return s.repo }

// Quarantine moves the repository and the last good record aside, into
// dir/quarantine-<time>/ (nothing is deleted), and starts a fresh bare
// repository. It is what a node does when the state directory is corrupted.
func (s *Store) Quarantine(now time.Time) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := filepath.Join(s.dir, "quarantine-"+now.UTC().Format("20060102T150405.000000000Z"))
	if err := os.MkdirAll(q, 0o755); err != nil {
		return "", err
	}
	for _, name := range []string{RepoDir, LastGoodFile} {
		if err := os.Rename(filepath.Join(s.dir, name), filepath.Join(q, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return q, fmt.Errorf("quarantine %s: %w", name, err)
		}
	}
	s.repo = nil
	return q, s.open()
}

// LastGood reads the recorded last good revision. A record that exists but
// does not parse is an error of class corrupt-object.
func (s *Store) LastGood() (LastGood, error) {
	p := filepath.Join(s.dir, LastGoodFile)
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return LastGood{}, ErrNoLastGood
	}
	if err != nil {
		return LastGood{}, &Error{Class: ClassCorruptObject, Op: "read", URL: p, Err: err}
	}
	lg, err := ParseLastGood(data)
	if err != nil {
		return LastGood{}, &Error{Class: ClassCorruptObject, Op: "read", URL: p, Err: fmt.Errorf("%s: %w", p, err)}
	}
	return lg, nil
}

// ParseLastGood decodes the record of the last good revision.
func ParseLastGood(data []byte) (LastGood, error) {
	var lg LastGood
	if len(data) > 64<<10 {
		return lg, fmt.Errorf("record of %d bytes is too large", len(data))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&lg); err != nil {
		return LastGood{}, err
	}
	if !plumbing.IsHash(lg.Revision) {
		return LastGood{}, fmt.Errorf("revision %q is not a full commit id", lg.Revision)
	}
	return lg, nil
}

// SetLastGood records lg atomically (temporary file, fsync, rename, fsync
// of the folder) and points LastGoodRef at it.
func (s *Store) SetLastGood(lg LastGood) error {
	if !plumbing.IsHash(lg.Revision) {
		return fmt.Errorf("last good: %q is not a full commit id", lg.Revision)
	}
	data, err := json.MarshalIndent(lg, "", "  ")
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(filepath.Join(s.dir, LastGoodFile), append(data, '\n')); err != nil {
		return err
	}
	if s.repo != nil {
		ref := plumbing.NewHashReference(LastGoodRef, plumbing.NewHash(lg.Revision))
		if err := s.repo.Storer.SetReference(ref); err != nil {
			return fmt.Errorf("last good ref: %w", err)
		}
	}
	return nil
}

// WriteFileAtomic writes data to path so that a reader sees the old or the
// new content, never a part: temporary file in the same folder, fsync,
// rename, fsync of the folder.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// CheckCommit verifies that commit h and every object of its tree below
// folder dir ("" = all) are in the store and readable. A failure is an error
// of class corrupt-object. At most maxObjects files are read.
func (s *Store) CheckCommit(h plumbing.Hash, dir string, maxObjects int) error {
	if s.repo == nil {
		return &Error{Class: ClassCorruptObject, Op: "read", URL: s.dir, Err: errors.New("no repository")}
	}
	c, err := s.repo.CommitObject(h)
	if err != nil {
		return &Error{Class: ClassCorruptObject, Op: "read", URL: filepath.Join(s.dir, RepoDir), Err: fmt.Errorf("commit %s: %w", h, err)}
	}
	t, err := c.Tree()
	if err != nil {
		return &Error{Class: ClassCorruptObject, Op: "read", URL: filepath.Join(s.dir, RepoDir), Err: fmt.Errorf("tree of %s: %w", h, err)}
	}
	if dir = strings.Trim(dir, "/"); dir != "" && dir != "." {
		if t, err = t.Tree(dir); err != nil {
			return &Error{Class: ClassCorruptObject, Op: "read", URL: filepath.Join(s.dir, RepoDir), Err: fmt.Errorf("folder %s of %s: %w", dir, h, err)}
		}
	}
	n := 0
	err = t.Files().ForEach(func(f *object.File) error {
		n++
		if maxObjects > 0 && n > maxObjects {
			return fmt.Errorf("more than %d files", maxObjects)
		}
		r, err := f.Reader()
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		defer r.Close()
		if _, err := io.Copy(io.Discard, r); err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		return nil
	})
	if err != nil {
		return &Error{Class: ClassCorruptObject, Op: "read", URL: filepath.Join(s.dir, RepoDir), Err: fmt.Errorf("revision %s: %w", h, err)}
	}
	return nil
}

// Fetch fetches ref from the remote into the store, with the remote's
// deadline, and returns the commit it points at. Only that ref is fetched
// (shallow when r.Depth > 0); tags are not. A failed fetch returns an
// *Error and leaves everything fetched before in place.
func (s *Store) Fetch(ctx context.Context, r Remote, ref string) (plumbing.Hash, error) {
	ref = NormalizeRef(ref)
	fail := func(err error) (plumbing.Hash, error) {
		var e *Error
		if errors.As(err, &e) {
			return plumbing.ZeroHash, err
		}
		c := classify(err)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			c = ClassTimeout
		}
		return plumbing.ZeroHash, &Error{Class: c, Op: "fetch", URL: r.Redacted(), Err: err}
	}
	if !s.mu.TryLock() {
		return fail(&Error{Class: ClassTimeout, Op: "fetch", URL: r.Redacted(), Err: errors.New("a previous fetch is still running")})
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout())
	ep, auth, err := r.prepare()
	if err != nil {
		s.mu.Unlock()
		cancel()
		return fail(err)
	}
	if s.repo == nil || s.readOnly {
		s.mu.Unlock()
		cancel()
		return fail(&Error{Class: ClassCorruptObject, Op: "fetch", URL: s.dir, Err: errors.New("state repository is not open")})
	}
	if ep.Protocol == "http" || ep.Protocol == "https" {
		installHTTP()
	}
	if err := preflight(ctx, ep); err != nil {
		s.mu.Unlock()
		cancel()
		return fail(err)
	}
	var caBundle []byte
	if r.CAFile != "" && ep.Protocol == "https" {
		if caBundle, err = os.ReadFile(r.CAFile); err != nil {
			s.mu.Unlock()
			cancel()
			return fail(&Error{Class: ClassConfig, Op: "fetch", URL: r.Redacted(), Err: fmt.Errorf("ca_file: %w", err)})
		}
	}
	if ep.Protocol == "file" {
		if h, ok := s.localUnchanged(ep.Path, ref); ok {
			s.mu.Unlock()
			cancel()
			return h, nil
		}
	}
	packs := fetchStorer{Storer: s.repo.Storer, dir: s.packDir(), cache: s.objects}
	remote := git.NewRemote(packs, &config.RemoteConfig{Name: "origin", URLs: []string{ep.String()}})
	opts := &git.FetchOptions{
		RemoteName: "origin",
		RefSpecs:   []config.RefSpec{config.RefSpec("+" + ref + ":" + TrackedRef)},
		Auth:       auth,
		Depth:      r.Depth,
		Tags:       git.NoTags,
		Force:      true,
		CABundle:   caBundle,
	}
	done := make(chan error, 1)
	go func() {
		// The lock is held until go-git returns, even if we stop waiting:
		// the next fetch must not write the store concurrently.
		err := remote.FetchContext(ctx, opts)
		s.mu.Unlock()
		done <- err
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		select {
		case err = <-done:
		default:
			cancel()
			return fail(&Error{Class: ClassTimeout, Op: "fetch", URL: r.Redacted(), Err: ctx.Err()})
		}
	}
	cancel()
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		s.removeTemporary()
		return fail(err)
	}
	h, err := s.Resolve(TrackedRef)
	if err != nil {
		return fail(err)
	}
	return h, nil
}

// localUnchanged reports whether the repository at path (a remote on this
// machine) still has ref where the last fetch left TrackedRef, and if so
// the commit it names. It reads the two references in process: go-git
// fetches over the file transport by starting git-upload-pack, a process
// that shares the node's cores with its queries (a few milliseconds of CPU
// each time), and the sync loop polls an unchanged repository every few
// seconds. Anything it cannot read leaves the decision to the fetch, which
// reports it.
func (s *Store) localUnchanged(path, ref string) (plumbing.Hash, bool) {
	mine, err := s.repo.Reference(TrackedRef, false)
	if err != nil {
		return plumbing.ZeroHash, false
	}
	remote, err := git.PlainOpen(path)
	if err != nil {
		return plumbing.ZeroHash, false
	}
	theirs, err := remote.Reference(plumbing.ReferenceName(ref), true)
	if err != nil || theirs.Hash() != mine.Hash() {
		return plumbing.ZeroHash, false
	}
	h, err := s.peel(TrackedRef, mine.Hash())
	if err != nil {
		return plumbing.ZeroHash, false
	}
	return h, true
}

// Resolve returns the commit a local reference of the store points at
// (annotated tags are peeled). Each object on the way is read once: the sync
// loop resolves the tracked ref on every poll.
func (s *Store) Resolve(name string) (plumbing.Hash, error) {
	ref, err := s.repo.Reference(plumbing.ReferenceName(name), true)
	if err != nil {
		return plumbing.ZeroHash, &Error{Class: ClassRefNotFound, Op: "resolve", URL: s.dir, Err: fmt.Errorf("%s: %w", name, err)}
	}
	return s.peel(name, ref.Hash())
}

// peel returns the commit h names (h itself, or what its annotated tags
// point at); name is the reference h was read from, for errors.
func (s *Store) peel(name string, h plumbing.Hash) (plumbing.Hash, error) {
	for range 11 { // bounded: tags of tags
		obj, err := s.repo.Object(plumbing.AnyObject, h)
		if err != nil {
			return plumbing.ZeroHash, &Error{Class: ClassCorruptObject, Op: "resolve", URL: s.dir, Err: fmt.Errorf("%s -> %s: %w", name, h, err)}
		}
		switch o := obj.(type) {
		case *object.Commit:
			return h, nil
		case *object.Tag:
			h = o.Target
			continue
		}
		return plumbing.ZeroHash, &Error{Class: ClassCorruptObject, Op: "resolve", URL: s.dir, Err: fmt.Errorf("%s -> %s: a %s, not a commit", name, h, obj.Type())}
	}
	return plumbing.ZeroHash, &Error{Class: ClassCorruptObject, Op: "resolve", URL: s.dir, Err: fmt.Errorf("%s: more than 10 nested tags", name)}
}

// NormalizeRef turns "main" into "refs/heads/main"; "HEAD" and full names
// are kept; "" means HEAD.
func NormalizeRef(ref string) string {
	switch {
	case ref == "" || ref == "HEAD":
		return "HEAD"
	case strings.HasPrefix(ref, "refs/"):
		return ref
	}
	return "refs/heads/" + ref
}

// packDir is the clone's pack folder: where a fetch writes its pack, and
// its temporary files (removeTemporary).
func (s *Store) packDir() string { return filepath.Join(s.dir, RepoDir, "objects", "pack") }

// removeTemporary deletes the temporary pack and object files a failed
// fetch left in the store (go-git's tmp_pack_*, tmp_obj_*, packCompleter's
// tmp_thin_*): on a full disk
// they are what filled it. Called only after go-git returned, while no
// fetch runs.
func (s *Store) removeTemporary() {
	if !s.mu.TryLock() {
		return // a fetch runs again: its files are not ours to remove
	}
	defer s.mu.Unlock()
	for _, pattern := range []string{"tmp_pack_*", "tmp_obj_*", "tmp_thin_*"} {
		names, _ := filepath.Glob(filepath.Join(s.packDir(), pattern))
		for _, n := range names {
			_ = os.Remove(n)
		}
	}
}
