package gitrepo

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
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
// writer cannot index such a pack; Store.Fetch stores it resolved
// (packResolver) or, failing that, completes it first as git's index-pack
// --fix-thin does (packCompleter), so the process asks for thin packs.
// Store.Fetch is the only fetch in the process.
func init() {
	transport.UnsupportedCapabilities = slices.DeleteFunc(slices.Clone(transport.UnsupportedCapabilities),
		func(c capability.Capability) bool { return c == capability.ThinPack })
}

// fetchStorer is the store's object storage as a fetch writes into it:
// every received pack goes through a packCompleter.
type fetchStorer struct {
	storage.Storer
	dir   string       // objects/pack, for the received pack's temporary file
	cache cache.Object // the storage's cache of decoded objects, if known
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
	c := &packCompleter{tmp: tmp, objects: f.Storer, packs: pw}
	if ri, ok := f.Storer.(interface{ Reindex() }); ok {
		c.resolved = &packResolver{dir: f.dir, objects: f.Storer, reindex: ri.Reindex, cache: f.cache}
	}
	return c, nil
}

// packCompleter receives a pack into a temporary file. On Close, a pack
// whose deltas refer to objects it does not hold (the client's "have"s,
// in the store) is stored resolved by packResolver; if that cannot be
// done, every such object is appended to it whole and the completed pack
// is handed to the store's pack writer (which indexes it). A pack that
// needs nothing is handed over as it came.
type packCompleter struct {
	tmp     *os.File
	objects storer.EncodedObjectStorer
	packs   storer.PackfileWriter
	// resolved, when the storage can be told of a pack written beside
	// it, stores a thin pack resolved instead of completed.
	resolved *packResolver
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
	entries, count, err := c.scan(size)
	if err != nil {
		return fmt.Errorf("received pack: %w", err)
	}
	external := externalBases(entries)
	if len(external) > 0 && c.resolved != nil {
		// Resolved into a pack of whole objects, indexed here. Anything it
		// cannot resolve (a base after its delta, a base the store lacks,
		// a malformed delta) is left to the completion below, which
		// reports it as go-git does.
		if err := c.resolved.write(c.tmp, entries, count); err == nil {
			return nil
		}
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

// packEntry is one object of a received pack as its scan found it.
type packEntry struct {
	offset, end int64               // its bytes in the pack: header and deflated data
	typ         plumbing.ObjectType // as stored: an object type or a delta type
	ofsBase     int64               // OFS_DELTA: its base's offset
	refBase     plumbing.Hash       // REF_DELTA: its base's id
	hash        plumbing.Hash       // whole objects: the object's id
}

// scan reads the received pack once (its checksum is verified) and
// returns its entries in pack order and its object count.
func (c *packCompleter) scan(size int64) ([]packEntry, uint32, error) {
	if _, err := c.tmp.Seek(0, io.SeekStart); err != nil {
		return nil, 0, err
	}
	s := packfile.NewScanner(bufio.NewReaderSize(c.tmp, 64<<10))
	_, count, err := s.Header()
	if err != nil {
		return nil, 0, err
	}
	entries := make([]packEntry, 0, min(count, 1<<16))
	// Bounded by the pack: each object is at least a header byte and a
	// zlib stream, and the scanner stops at its end.
	for range count {
		oh, err := s.NextObjectHeader()
		if err != nil {
			return nil, 0, err
		}
		e := packEntry{offset: oh.Offset, typ: oh.Type, ofsBase: oh.OffsetReference, refBase: oh.Reference}
		switch oh.Type {
		case plumbing.REFDeltaObject, plumbing.OFSDeltaObject:
			_, _, err = s.NextObject(io.Discard)
		default:
			h := plumbing.NewHasher(oh.Type, oh.Length)
			_, _, err = s.NextObject(h)
			e.hash = h.Sum()
		}
		if err != nil {
			return nil, 0, err
		}
		if n := len(entries); n > 0 {
			entries[n-1].end = oh.Offset
		}
		entries = append(entries, e)
	}
	if _, err := s.Checksum(); err != nil {
		return nil, 0, err
	}
	if n := len(entries); n > 0 {
		entries[n-1].end = size - hash.Size
	}
	return entries, count, nil
}

// externalBases returns the bases of the pack's REF deltas that it does
// not hold whole, in the order first referred to.
func externalBases(entries []packEntry) []plumbing.Hash {
	held := map[plumbing.Hash]bool{}
	for _, e := range entries {
		if !e.typ.IsDelta() {
			held[e.hash] = true
		}
	}
	var out []plumbing.Hash
	for _, e := range entries {
		if e.typ == plumbing.REFDeltaObject && !held[e.refBase] {
			held[e.refBase] = true // once
			out = append(out, e.refBase)
		}
	}
	return out
}

// complete writes the received pack (size bytes in c.tmp) to w with the
// objects external appended whole: its header's count grows by theirs,
// and the checksum is recomputed over the new content.
func (c *packCompleter) complete(w io.Writer, size int64, count uint32, external []plumbing.Hash) error {
	if uint64(count)+uint64(len(external)) > 1<<32-1 {
		return errors.New("too many objects")
	}
	out := newPackOut(w)
	out.header(count + uint32(len(external)))
	// The objects as received, without the old header and checksum.
	if err := out.raw(io.NewSectionReader(c.tmp, 12, size-12-hash.Size)); err != nil {
		return err
	}
	for _, h := range external {
		if err := c.appendObject(out, h); err != nil {
			return err
		}
	}
	_, err := out.finish()
	return err
}

// appendObject writes object h of the store to out as a whole pack entry.
func (c *packCompleter) appendObject(out *packOut, h plumbing.Hash) error {
	o, err := c.objects.EncodedObject(plumbing.AnyObject, h)
	if err != nil {
		return fmt.Errorf("base %s of a delta: %w", h, err)
	}
	t, n := o.Type(), o.Size()
	if !t.Valid() || t.IsDelta() || n < 0 {
		return fmt.Errorf("base %s of a delta is a %s", h, t)
	}
	r, err := o.Reader()
	if err != nil {
		return fmt.Errorf("base %s of a delta: %w", h, err)
	}
	defer r.Close()
	if err := out.whole(t, n, r); err != nil {
		return fmt.Errorf("base %s of a delta: %w", h, err)
	}
	return nil
}
