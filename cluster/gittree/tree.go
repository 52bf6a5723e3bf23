// Package gittree reads a config folder out of a git commit as an fs.FS, so
// that package cluster loads revisions without knowing git. Objects are read
// through go-git, never from a working directory.
package gittree

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Commit is the config folder of one commit, ready for cluster.Load.
type Commit struct {
	FS      fs.FS  // the folder's tree, read from git objects (never a working directory)
	Dir     string // the folder, cleaned ("" = the repo's root)
	ID      string // full commit id
	Message string // full commit message
}

// Open reads commit of repo and the tree of its folder dir. The error says
// what could not be read (a missing object, no such folder).
func Open(repo *git.Repository, commit plumbing.Hash, dir string) (Commit, error) {
	c, err := repo.CommitObject(commit)
	if err != nil {
		return Commit{}, fmt.Errorf("reading commit %s: %w", commit, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return Commit{}, fmt.Errorf("reading the tree of commit %s: %w", commit, err)
	}
	dir = strings.Trim(path.Clean("/"+dir), "/")
	if dir != "" {
		sub, err := tree.Tree(dir)
		if err != nil {
			return Commit{}, fmt.Errorf("commit %s has no folder %s: %w", commit, dir, err)
		}
		tree = sub
	}
	return Commit{FS: TreeFS(tree), Dir: dir, ID: c.Hash.String(), Message: c.Message}, nil
}

// TreeFS exposes a git tree as a read-only fs.FS (with ReadFile and ReadDir
// fast paths). Symlinks and submodules are listed but cannot be opened as
// regular files.
func TreeFS(t *object.Tree) fs.FS { return treeFS{t} }

type treeFS struct{ t *object.Tree }

var (
	_ fs.ReadFileFS = treeFS{}
	_ fs.ReadDirFS  = treeFS{}
	_ fs.StatFS     = treeFS{}
)

func (f treeFS) lookupDir(name string) (*object.Tree, error) {
	if name == "." {
		return f.t, nil
	}
	return f.t.Tree(name)
}

func (f treeFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if t, err := f.lookupDir(name); err == nil {
		ents, err := f.readDir(name, t)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &treeDir{info: dirInfo(path.Base(name)), ents: ents}, nil
	}
	data, info, err := f.readFile(name)
	if err != nil {
		return nil, err
	}
	return &treeFile{info: info, r: bytes.NewReader(data)}, nil
}

func (f treeFS) readFile(name string) ([]byte, fileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, fileInfo{}, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	e, err := f.t.FindEntry(name)
	if err != nil {
		return nil, fileInfo{}, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	if e.Mode == filemode.Dir {
		return nil, fileInfo{}, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	if !e.Mode.IsFile() || e.Mode == filemode.Symlink {
		return nil, fileInfo{}, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("not a regular file (git mode %s)", e.Mode)}
	}
	file, err := f.t.TreeEntryFile(e)
	if err != nil {
		return nil, fileInfo{}, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	r, err := file.Reader()
	if err != nil {
		return nil, fileInfo{}, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer r.Close()
	data, err := readBlob(r, file.Size)
	if err != nil {
		return nil, fileInfo{}, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	return data, fileInfo{name: path.Base(name), size: file.Size, mode: 0o444}, nil
}

// Blob returns the git blob id of regular file name: the hash of its
// content, which git computed when the commit was made. Loading a revision
// against a base reuses what was parsed from a file whose blob did not
// change (cluster.BlobFS).
func (f treeFS) Blob(name string) (string, bool) {
	if !fs.ValidPath(name) {
		return "", false
	}
	e, err := f.t.FindEntry(name)
	if err != nil || !e.Mode.IsFile() || e.Mode == filemode.Symlink {
		return "", false
	}
	return e.Hash.String(), true
}

func (f treeFS) ReadFile(name string) ([]byte, error) {
	data, _, err := f.readFile(name)
	return data, err
}

func (f treeFS) Stat(name string) (fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return dirInfo("."), nil
	}
	e, err := f.t.FindEntry(name)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	return f.entryInfo(path.Dir(name), e)
}

func (f treeFS) entryInfo(dir string, e *object.TreeEntry) (fs.FileInfo, error) {
	switch {
	case e.Mode == filemode.Dir:
		return dirInfo(e.Name), nil
	case e.Mode == filemode.Symlink:
		return fileInfo{name: e.Name, mode: fs.ModeSymlink | 0o777}, nil
	case e.Mode == filemode.Submodule:
		return fileInfo{name: e.Name, mode: fs.ModeIrregular}, nil
	}
	size, err := f.t.Size(path.Join(dir, e.Name))
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: path.Join(dir, e.Name), Err: err}
	}
	return fileInfo{name: e.Name, size: size, mode: 0o444}, nil
}

func (f treeFS) readDir(dir string, t *object.Tree) ([]fs.DirEntry, error) {
	out := make([]fs.DirEntry, 0, len(t.Entries))
	for i := range t.Entries {
		e := &t.Entries[i]
		out = append(out, treeDirEntry{fs: f, dir: dir, e: e})
	}
	// git trees are sorted by name with directories compared as "name/";
	// fs.ReadDir promises plain name order.
	sortDirEntries(out)
	return out, nil
}

func (f treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrInvalid}
	}
	t, err := f.lookupDir(name)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	return f.readDir(name, t)
}

func sortDirEntries(es []fs.DirEntry) {
	sort.Slice(es, func(i, j int) bool { return es[i].Name() < es[j].Name() })
}

type treeDirEntry struct {
	fs  treeFS
	dir string
	e   *object.TreeEntry
}

func (d treeDirEntry) Name() string { return d.e.Name }
func (d treeDirEntry) IsDir() bool  { return d.e.Mode == filemode.Dir }
func (d treeDirEntry) Type() fs.FileMode {
	switch d.e.Mode {
	case filemode.Dir:
		return fs.ModeDir
	case filemode.Symlink:
		return fs.ModeSymlink
	case filemode.Submodule:
		return fs.ModeIrregular
	}
	return 0
}

// Info is what Stat reports for the entry.
func (d treeDirEntry) Info() (fs.FileInfo, error) { return d.fs.entryInfo(d.dir, d.e) }

type fileInfo struct {
	name string
	size int64
	mode fs.FileMode
}

func dirInfo(name string) fileInfo { return fileInfo{name: name, mode: fs.ModeDir | 0o555} }

func (i fileInfo) Name() string       { return i.name }
func (i fileInfo) Size() int64        { return i.size }
func (i fileInfo) Mode() fs.FileMode  { return i.mode }
func (i fileInfo) ModTime() time.Time { return time.Time{} }
func (i fileInfo) IsDir() bool        { return i.mode.IsDir() }
func (i fileInfo) Sys() any           { return nil }

type treeFile struct {
	info fileInfo
	r    *bytes.Reader
}

func (f *treeFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *treeFile) Read(p []byte) (int, error) { return f.r.Read(p) }
func (f *treeFile) Close() error               { return nil }

type treeDir struct {
	info fileInfo
	ents []fs.DirEntry
	off  int
}

func (d *treeDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *treeDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errors.New("is a directory")}
}
func (d *treeDir) Close() error { return nil }
func (d *treeDir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.ents[d.off:]
	if n <= 0 {
		d.off = len(d.ents)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.off += n
	return rest[:n], nil
}

// readBlob reads a blob of size bytes from r into a buffer made at that
// size (io.ReadAll grows one from 512 bytes: a 2.6 MB zone file was
// copied a dozen times). A size beyond presizeLimit is read growing, so
// that a damaged header cannot make it allocate at once what it claims.
func readBlob(r io.Reader, size int64) ([]byte, error) {
	if size < 0 || size > presizeLimit {
		return io.ReadAll(io.LimitReader(r, size))
	}
	data := make([]byte, size)
	n, err := io.ReadFull(r, data)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return data[:n], nil // shorter than its header says: as ReadAll returned it
	}
	return data, err
}

// presizeLimit is the largest blob readBlob reads into a buffer made at
// its size.
const presizeLimit = 256 << 20
