package gitrepo

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
)

// SnapshotFile is the name, in the state directory, of the self-contained
// copy of the last good revision: what a node serves when its clone is
// unusable and its remote cannot be reached (issue 17).
const SnapshotFile = "last-good.snapshot"

// The snapshot format. A snapshot holds the git objects a revision's
// config folder is made of (its commit, the trees from the root down to
// the folder, every tree and blob below it), so that it loads through the
// same gittree + cluster.Load as a clone, and every object's id is
// recomputed from its content on reading: the commit id in the header is
// proven, not trusted. Layout:
//
//	magic        "resolverd-snapshot v1\n"
//	frames       kind (1 byte) | length (uvarint) | payload
//	  'h'        header, JSON (snapshotHeader), exactly one, first
//	  'c' 't' 'b'  a commit, tree or blob object's content
//	  'e'        end: payload = SHA-256 of every byte before this frame's kind byte; last
//
// It is written to a temporary file, renamed over the old one, as Unbound
// writes its auto-trust-anchor-file (validator/autotrust.c,
// autr_write_file: a temporary file named after the pid, then rename) and
// Flux's source-controller its artifacts (Storage.AtomicWriteFile: a
// temporary file, its digest computed while writing, then rename); the
// file and then the folder are also fsynced, so that after a crash or a
// power cut the old snapshot or the new one is there, never a part.
const snapshotMagic = "resolverd-snapshot v1\n"

// Snapshot frame kinds.
const (
	frameHeader = 'h'
	frameCommit = 'c'
	frameTree   = 't'
	frameBlob   = 'b'
	frameEnd    = 'e'
)

// Limits of a snapshot, for writing and (untrusted disk data) reading.
const (
	MaxSnapshotBytes   = 4 << 30 // a snapshot file larger than this is refused
	MaxSnapshotObjects = 2_000_000
	maxSnapshotHeader  = 64 << 10
)

// snapshotHeader is the header frame: the last good record and the
// config folder the objects cover.
type snapshotHeader struct {
	LastGood
	Path string `json:"path"`
}

// Snapshot is a snapshot file read back: the revision it records and an
// in-memory repository holding its objects.
type Snapshot struct {
	LastGood
	Path    string          // the config folder the objects cover
	Repo    *git.Repository // in memory: HEAD is the commit
	Objects int
	Bytes   int64
}

// Store is the snapshot as a read-only Store, for code that reads
// revisions from a store: Repository and CheckCommit work; Fetch refuses.
func (s *Snapshot) Store() *Store { return &Store{repo: s.Repo, readOnly: true} }

// SnapshotInfo is what WriteSnapshot wrote.
type SnapshotInfo struct {
	Objects int
	Bytes   int64
}

// WriteSnapshot writes the snapshot of last good revision lg (its config
// folder dir) into the state directory, atomically. It reads the objects
// from the clone, streaming: a blob is never held whole in memory.
func (s *Store) WriteSnapshot(lg LastGood, dir string) (SnapshotInfo, error) {
	if s.repo == nil {
		return SnapshotInfo{}, errors.New("snapshot: no repository")
	}
	if !plumbing.IsHash(lg.Revision) {
		return SnapshotInfo{}, fmt.Errorf("snapshot: %q is not a full commit id", lg.Revision)
	}
	dir = strings.Trim(path.Clean("/"+dir), "/")
	objs, err := snapshotObjects(s.repo, plumbing.NewHash(lg.Revision), dir)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("snapshot of %s: %w", lg.Revision, err)
	}
	final := filepath.Join(s.dir, SnapshotFile)
	f, err := os.CreateTemp(s.dir, "."+SnapshotFile+".tmp-*")
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("snapshot: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	n, err := writeSnapshot(f, s.repo, snapshotHeader{LastGood: lg, Path: dir}, objs)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err == nil {
		err = syncDir(s.dir)
	}
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("snapshot %s: %w", final, err)
	}
	return SnapshotInfo{Objects: len(objs), Bytes: n}, nil
}

// snapshotObjects lists, in writing order, the objects of commit h that
// config folder dir needs: the commit, the trees from the root down to
// dir, and everything below dir (submodules excepted: their commits are
// not in this repository).
func snapshotObjects(repo *git.Repository, h plumbing.Hash, dir string) ([]plumbing.Hash, error) {
	c, err := repo.CommitObject(h)
	if err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	objs := []plumbing.Hash{h, c.TreeHash}
	t, err := repo.TreeObject(c.TreeHash)
	if err != nil {
		return nil, fmt.Errorf("tree: %w", err)
	}
	if dir != "" {
		for part := range strings.SplitSeq(dir, "/") {
			e, err := t.FindEntry(part)
			if err != nil || e.Mode != filemode.Dir {
				return nil, fmt.Errorf("no folder %s", dir)
			}
			if t, err = repo.TreeObject(e.Hash); err != nil {
				return nil, fmt.Errorf("tree %s: %w", part, err)
			}
			objs = append(objs, e.Hash)
		}
	}
	seen := map[plumbing.Hash]bool{}
	var walk func(t *object.Tree) error
	walk = func(t *object.Tree) error {
		for _, e := range t.Entries {
			if seen[e.Hash] || e.Mode == filemode.Submodule {
				continue
			}
			seen[e.Hash] = true
			if len(objs) >= MaxSnapshotObjects {
				return fmt.Errorf("more than %d objects", MaxSnapshotObjects)
			}
			objs = append(objs, e.Hash)
			if e.Mode == filemode.Dir {
				sub, err := repo.TreeObject(e.Hash)
				if err != nil {
					return fmt.Errorf("tree %s: %w", e.Name, err)
				}
				if err := walk(sub); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return objs, walk(t)
}

// writeSnapshot writes the snapshot stream to w and returns its length.
func writeSnapshot(w io.Writer, repo *git.Repository, hdr snapshotHeader, objs []plumbing.Hash) (int64, error) {
	sum := sha256.New()
	cw := &countWriter{w: io.MultiWriter(w, sum)}
	bw := bufio.NewWriterSize(cw, 1<<20)
	head, err := json.Marshal(hdr)
	if err != nil {
		return 0, err
	}
	writeFrame := func(kind byte, size int64) {
		var b [1 + binary.MaxVarintLen64]byte
		b[0] = kind
		n := binary.PutUvarint(b[1:], uint64(size))
		bw.Write(b[:1+n])
	}
	bw.WriteString(snapshotMagic)
	writeFrame(frameHeader, int64(len(head)))
	bw.Write(head)
	for _, h := range objs {
		o, err := repo.Storer.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return 0, fmt.Errorf("object %s: %w", h, err)
		}
		var kind byte
		switch o.Type() {
		case plumbing.CommitObject:
			kind = frameCommit
		case plumbing.TreeObject:
			kind = frameTree
		case plumbing.BlobObject:
			kind = frameBlob
		default:
			return 0, fmt.Errorf("object %s: unexpected %s", h, o.Type())
		}
		r, err := o.Reader()
		if err != nil {
			return 0, fmt.Errorf("object %s: %w", h, err)
		}
		writeFrame(kind, o.Size())
		n, err := io.Copy(bw, r)
		r.Close()
		if err == nil && n != o.Size() {
			err = fmt.Errorf("%d bytes read, %d expected", n, o.Size())
		}
		if err != nil {
			return 0, fmt.Errorf("object %s: %w", h, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return 0, err
	}
	// The end frame: its kind byte and the checksum of everything before.
	digest := sum.Sum(nil)
	var end bytes.Buffer
	end.WriteByte(frameEnd)
	var l [binary.MaxVarintLen64]byte
	end.Write(l[:binary.PutUvarint(l[:], uint64(len(digest)))])
	end.Write(digest)
	if _, err := cw.Write(end.Bytes()); err != nil {
		return 0, err
	}
	return cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ReadSnapshot reads and checks the snapshot file at p. Any damage (a
// checksum that does not match, a truncated or malformed frame, objects
// that do not make the commit the header names) is an error of class
// corrupt-object: the snapshot is not served.
func ReadSnapshot(p string) (*Snapshot, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > MaxSnapshotBytes {
		return nil, &Error{Class: ClassCorruptObject, Op: "read", URL: p, Err: fmt.Errorf("snapshot of %d bytes is larger than %d", fi.Size(), int64(MaxSnapshotBytes))}
	}
	// The checksum first, over the whole file: damage anywhere reads as a
	// checksum mismatch, whatever frame it hit.
	if err := checkSnapshotSum(f, fi.Size()); err != nil {
		return nil, &Error{Class: ClassCorruptObject, Op: "read", URL: p, Err: err}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	snap, err := ParseSnapshot(bufio.NewReaderSize(f, 1<<20), fi.Size())
	if err != nil {
		return nil, &Error{Class: ClassCorruptObject, Op: "read", URL: p, Err: err}
	}
	return snap, nil
}

// SnapshotRevision reads only the header of the snapshot file at p and
// returns the commit it records, unverified: enough to know whether a
// snapshot of the last good revision exists without reading it all.
func SnapshotRevision(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	r := &snapshotReader{r: bufio.NewReader(f), sum: sha256.New(), left: len64(snapshotMagic) + 1 + binary.MaxVarintLen64 + maxSnapshotHeader}
	if magic, err := r.read(len(snapshotMagic)); err != nil || string(magic) != snapshotMagic {
		return "", errors.New("not a resolverd snapshot")
	}
	if kind, err := r.byte(); err != nil || kind != frameHeader {
		return "", errors.New("no header")
	}
	n, err := binary.ReadUvarint(r)
	if err != nil || n > maxSnapshotHeader {
		return "", errors.New("bad header length")
	}
	data, err := r.read(int(n))
	if err != nil {
		return "", err
	}
	var h snapshotHeader
	if err := json.Unmarshal(data, &h); err != nil {
		return "", err
	}
	return h.Revision, nil
}

func len64(s string) int64 { return int64(len(s)) }

// snapshotTrailer is the length of the end frame: kind, length 32, digest.
const snapshotTrailer = 2 + sha256.Size

// checkSnapshotSum compares the end frame's checksum with the SHA-256 of
// the bytes before it.
func checkSnapshotSum(r io.ReaderAt, size int64) error {
	if size < int64(len(snapshotMagic))+snapshotTrailer {
		return fmt.Errorf("truncated: %d bytes", size)
	}
	var trailer [snapshotTrailer]byte
	if _, err := r.ReadAt(trailer[:], size-snapshotTrailer); err != nil {
		return err
	}
	if trailer[0] != frameEnd || trailer[1] != sha256.Size {
		return errors.New("truncated or damaged: no end frame with a SHA-256 checksum at the end")
	}
	sum := sha256.New()
	if _, err := io.Copy(sum, io.NewSectionReader(r, 0, size-snapshotTrailer)); err != nil {
		return err
	}
	if got := sum.Sum(nil); !bytes.Equal(got, trailer[2:]) {
		return fmt.Errorf("checksum mismatch: the file says SHA-256 %x, its content is %x", trailer[2:], got)
	}
	return nil
}

// ParseSnapshot reads a snapshot of at most size bytes from r (disk data:
// untrusted, every length bounded by what is left) into an in-memory
// repository and checks it: the SHA-256 checksum, then that the header's
// commit is among the objects and names a tree the objects hold.
func ParseSnapshot(r io.Reader, size int64) (*Snapshot, error) {
	p := &snapshotReader{r: r, sum: sha256.New(), left: size}
	magic, err := p.read(len(snapshotMagic))
	if err != nil || string(magic) != snapshotMagic {
		return nil, errors.New("not a resolverd snapshot (bad magic)")
	}
	st := memory.NewStorage()
	var hdr *snapshotHeader
	objects := 0
	for {
		kind, err := p.byte()
		if err != nil {
			return nil, fmt.Errorf("truncated: no end frame (%w)", err)
		}
		digest := p.sum.Sum(nil) // what the end frame's checksum covers
		p.sum.Write([]byte{kind})
		n, err := binary.ReadUvarint(p)
		if err != nil {
			return nil, fmt.Errorf("frame length: %w", err)
		}
		if n > uint64(p.left) {
			return nil, fmt.Errorf("frame of %d bytes with %d left", n, p.left)
		}
		switch kind {
		case frameEnd:
			got, err := p.read(int(n))
			if err != nil {
				return nil, err
			}
			if !bytes.Equal(got, digest) {
				return nil, fmt.Errorf("checksum mismatch: the file says %x, its content is %x", got, digest)
			}
			if p.left != 0 {
				return nil, fmt.Errorf("%d bytes after the end frame", p.left)
			}
			if hdr == nil {
				return nil, errors.New("no header")
			}
			return finishSnapshot(st, *hdr, objects, size)
		case frameHeader:
			if hdr != nil || objects > 0 || n > maxSnapshotHeader {
				return nil, errors.New("misplaced or oversized header")
			}
			data, err := p.read(int(n))
			if err != nil {
				return nil, err
			}
			var h snapshotHeader
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&h); err != nil {
				return nil, fmt.Errorf("header: %w", err)
			}
			if !plumbing.IsHash(h.Revision) {
				return nil, fmt.Errorf("header: revision %q is not a full commit id", h.Revision)
			}
			hdr = &h
		case frameCommit, frameTree, frameBlob:
			if hdr == nil {
				return nil, errors.New("object before the header")
			}
			if objects++; objects > MaxSnapshotObjects {
				return nil, fmt.Errorf("more than %d objects", MaxSnapshotObjects)
			}
			t := map[byte]plumbing.ObjectType{frameCommit: plumbing.CommitObject, frameTree: plumbing.TreeObject, frameBlob: plumbing.BlobObject}[kind]
			o := st.NewEncodedObject()
			o.SetType(t)
			o.SetSize(int64(n))
			w, err := o.Writer()
			if err != nil {
				return nil, err
			}
			if _, err := io.CopyN(w, p, int64(n)); err != nil {
				return nil, fmt.Errorf("object: %w", err)
			}
			w.Close()
			if _, err := st.SetEncodedObject(o); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unknown frame kind %#x", kind)
		}
	}
}

// finishSnapshot checks that the objects make the header's commit and the
// tree of its folder, and opens them as a repository.
func finishSnapshot(st *memory.Storage, hdr snapshotHeader, objects int, size int64) (*Snapshot, error) {
	h := plumbing.NewHash(hdr.Revision)
	if err := st.SetReference(plumbing.NewHashReference(plumbing.HEAD, h)); err != nil {
		return nil, err
	}
	repo, err := git.Open(st, nil)
	if err != nil {
		return nil, err
	}
	c, err := repo.CommitObject(h)
	if err != nil {
		return nil, fmt.Errorf("commit %s is not in the snapshot: %w", h, err)
	}
	t, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("tree of %s is not in the snapshot: %w", h, err)
	}
	if hdr.Path != "" {
		if _, err := t.Tree(hdr.Path); err != nil {
			return nil, fmt.Errorf("folder %s of %s is not in the snapshot: %w", hdr.Path, h, err)
		}
	}
	return &Snapshot{LastGood: hdr.LastGood, Path: hdr.Path, Repo: repo, Objects: objects, Bytes: size}, nil
}

// snapshotReader reads a snapshot stream, hashing what it consumes and
// never reading past the size it was given.
type snapshotReader struct {
	r    io.Reader
	sum  hash.Hash
	left int64
	one  [1]byte
}

func (p *snapshotReader) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n, err := p.r.Read(b)
	p.left -= int64(n)
	p.sum.Write(b[:n])
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// ReadByte hashes the byte (frame lengths).
func (p *snapshotReader) ReadByte() (byte, error) {
	if _, err := io.ReadFull(p, p.one[:]); err != nil {
		return 0, err
	}
	return p.one[0], nil
}

// byte reads a frame kind without hashing it: the end frame's checksum
// covers what comes before its kind byte.
func (p *snapshotReader) byte() (byte, error) {
	if p.left <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if _, err := io.ReadFull(p.r, p.one[:]); err != nil {
		return 0, err
	}
	p.left--
	return p.one[0], nil
}

func (p *snapshotReader) read(n int) ([]byte, error) {
	if int64(n) > p.left {
		return nil, io.ErrUnexpectedEOF
	}
	b := make([]byte, n)
	_, err := io.ReadFull(p, b)
	return b, err
}

// syncDir fsyncs folder dir: a rename in it is durable after this.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
