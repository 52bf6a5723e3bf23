package gitrepo

import (
	"bufio"
	"compress/zlib"
	"crypto"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/hash"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage"
)

// A shallow fetch (Remote.Depth > 0, the default) of a new head must be
// answered with a thin pack, or it costs the whole tree: git's upload-pack
// runs pack-objects with --shallow for it, and without --thin that packs
// every object of the new commit, whatever the client said it has (a
// one-record change of a 1M-record repo fetched 4.9 MB in 2.6 s instead of
// 5 objects, 448 bytes: issue 21). A thin pack (gitprotocol-capabilities
// "thin-pack") may hold deltas against objects the client has and the pack
// does not. go-git filters thin-pack out of every request because its pack
// writer cannot index such a pack; Store.Fetch completes it first, as
// git's index-pack --fix-thin does (packCompleter), so the process asks
// for thin packs. Store.Fetch is the only fetch in the process.
func init() {
	transport.UnsupportedCapabilities = slices.DeleteFunc(slices.Clone(transport.UnsupportedCapabilities),
		func(c capability.Capability) bool { return c == capability.ThinPack })
}

// fetchStorer is the store's object storage as a fetch writes into it:
// every received pack goes through a packCompleter.
type fetchStorer struct {
	storage.Storer
	dir string // objects/pack, for the received pack's temporary file
}

// PackfileWriter implements storer.PackfileWriter.
func (f fetchStorer) PackfileWriter() (io.WriteCloser, error) {
	pw, ok := f.Storer.(storer.PackfileWriter)
	if !ok {
		return nil, errors.New("the store cannot write packs")
	}
	tmp, err := os.CreateTemp(f.dir, "tmp_thin_")
	if err != nil {
		return nil, err
	}
	return &packCompleter{tmp: tmp, objects: f.Storer, packs: pw}, nil
}

// packCompleter receives a pack into a temporary file; on Close it
// appends to it, whole, every object a delta of the pack refers to and
// the pack does not hold (read from the store: the client's "have"s),
// and hands the completed pack to the store's pack writer (which indexes
// it). A pack that needs nothing is handed over as it came.
type packCompleter struct {
	tmp     *os.File
	objects storer.EncodedObjectStorer
	packs   storer.PackfileWriter
}

func (c *packCompleter) Write(p []byte) (int, error) { return c.tmp.Write(p) }

func (c *packCompleter) Close() error {
	defer os.Remove(c.tmp.Name())
	defer c.tmp.Close()
	size, err := c.tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if size == 0 {
		return nil // nothing fetched: go-git writes no pack either
	}
	external, count, err := c.missingBases()
	if err != nil {
		return fmt.Errorf("received pack: %w", err)
	}
	w, err := c.packs.PackfileWriter()
	if err != nil {
		return err
	}
	if _, err := c.tmp.Seek(0, io.SeekStart); err != nil {
		w.Close()
		return err
	}
	if len(external) == 0 {
		if _, err := io.Copy(w, c.tmp); err != nil {
			w.Close()
			return err
		}
		return w.Close()
	}
	if err := c.complete(w, size, count, external); err != nil {
		w.Close()
		return fmt.Errorf("completing the received thin pack: %w", err)
	}
	return w.Close()
}

// missingBases reads the received pack once (its checksum is verified)
// and returns the bases of its deltas that it does not hold, in the
// order first referred to, and its object count.
func (c *packCompleter) missingBases() ([]plumbing.Hash, uint32, error) {
	if _, err := c.tmp.Seek(0, io.SeekStart); err != nil {
		return nil, 0, err
	}
	s := packfile.NewScanner(bufio.NewReaderSize(c.tmp, 64<<10))
	_, count, err := s.Header()
	if err != nil {
		return nil, 0, err
	}
	held := map[plumbing.Hash]bool{}
	var refs []plumbing.Hash
	// Bounded by the pack: each object is at least a header byte and a
	// zlib stream, and the scanner stops at its end.
	for range count {
		oh, err := s.NextObjectHeader()
		if err != nil {
			return nil, 0, err
		}
		switch oh.Type {
		case plumbing.REFDeltaObject:
			refs = append(refs, oh.Reference)
			_, _, err = s.NextObject(io.Discard)
		case plumbing.OFSDeltaObject:
			// Its base is in the pack, by offset.
			_, _, err = s.NextObject(io.Discard)
		default:
			h := plumbing.NewHasher(oh.Type, oh.Length)
			_, _, err = s.NextObject(h)
			held[h.Sum()] = true
		}
		if err != nil {
			return nil, 0, err
		}
	}
	if _, err := s.Checksum(); err != nil {
		return nil, 0, err
	}
	var out []plumbing.Hash
	for _, r := range refs {
		if !held[r] {
			held[r] = true // once
			out = append(out, r)
		}
	}
	return out, count, nil
}

// complete writes the received pack (size bytes in c.tmp) to w with the
// objects external appended whole: its header's count grows by theirs,
// and the checksum is recomputed over the new content.
func (c *packCompleter) complete(w io.Writer, size int64, count uint32, external []plumbing.Hash) error {
	if uint64(count)+uint64(len(external)) > 1<<32-1 {
		return errors.New("too many objects")
	}
	sum := hash.New(crypto.SHA1)
	out := io.MultiWriter(w, sum)
	var header [12]byte
	if _, err := c.tmp.ReadAt(header[:], 0); err != nil {
		return err
	}
	binary.BigEndian.PutUint32(header[8:], count+uint32(len(external)))
	if _, err := out.Write(header[:]); err != nil {
		return err
	}
	// The objects as received, without the old header and checksum.
	if _, err := io.Copy(out, io.NewSectionReader(c.tmp, 12, size-12-hash.Size)); err != nil {
		return err
	}
	for _, h := range external {
		if err := c.appendObject(out, h); err != nil {
			return err
		}
	}
	_, err := w.Write(sum.Sum(nil))
	return err
}

// appendObject writes object h of the store to w as a whole pack entry:
// type and size header (gitformat-pack), then its zlib-compressed content.
func (c *packCompleter) appendObject(w io.Writer, h plumbing.Hash) error {
	o, err := c.objects.EncodedObject(plumbing.AnyObject, h)
	if err != nil {
		return fmt.Errorf("base %s of a delta: %w", h, err)
	}
	t, n := o.Type(), o.Size()
	if !t.Valid() || t.IsDelta() || n < 0 {
		return fmt.Errorf("base %s of a delta is a %s", h, t)
	}
	hdr := []byte{byte(t)<<4 | byte(n&0x0f)}
	for n >>= 4; n > 0; n >>= 7 {
		hdr[len(hdr)-1] |= 0x80
		hdr = append(hdr, byte(n&0x7f))
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	r, err := o.Reader()
	if err != nil {
		return fmt.Errorf("base %s of a delta: %w", h, err)
	}
	defer r.Close()
	// Deflated at the fastest level, not git's default: deflating a 2.6 MB
	// zone file took 70-100 ms of a one-record change's 0.2 s fetch (issue
	// 21); the fastest level takes a quarter of that and writes 15 % more
	// bytes (560 KB instead of 486 KB for a 100k-record zone) until the
	// next Prune rewrites every object at the default level. Stored, not
	// deflated at all, was faster still, but made each of the up to
	// prunePacks packs between two prunes hold the changed zone files 5-9
	// times larger than compressed (TestPruneBoundsState bounds the state
	// directory).
	z, _ := zlib.NewWriterLevel(w, zlib.BestSpeed)
	copied, err := io.Copy(z, io.LimitReader(r, o.Size()))
	if err != nil {
		return fmt.Errorf("base %s of a delta: %w", h, err)
	}
	if copied != o.Size() {
		return fmt.Errorf("base %s of a delta: %d bytes read, its header says %d", h, copied, o.Size())
	}
	return z.Close()
}
