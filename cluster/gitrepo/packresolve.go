package gitrepo

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"crypto"
	"errors"
	"fmt"
	stdhash "hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/hash"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// packResolver stores a received thin pack as a pack of whole objects,
// with its index, in the store's pack folder: every delta is applied to
// its base (from the pack, or from the store for the bases a thin pack
// leaves out) and written whole, deflated at the fastest level; whole
// objects are copied as received.
//
// It exists for the cost of a one-record change (issue 21). Completing
// the thin pack with its bases and handing it to go-git's pack writer,
// which indexes what it is given, inflated every appended base twice,
// applied each delta once to hash it, and left the changed file stored as
// a delta: every read of it (the load, the snapshot file) inflated the
// base and applied the delta again. Here each object is inflated at most
// once, the index is written from what resolving computed, and the
// changed file is read back from the object cache, or by one inflate once
// it has left it. The pack holds the changed files whole, as the
// completed pack held their bases whole.
type packResolver struct {
	dir     string // objects/pack
	objects storer.EncodedObjectStorer
	// reindex makes the storage list the pack folder again: go-git's
	// supported way to learn of a pack it did not write itself.
	reindex func()
	// cache, if set, is the storage's cache of decoded objects: the
	// objects resolved from deltas go in it, so that the load reading the
	// changed file right after finds it there instead of inflating it.
	cache cache.Object
}

// errUnresolved says a pack needs what packResolver does not do (a delta
// before its base in the pack, a base the store lacks): the completion
// path takes it and reports what is wrong.
var errUnresolved = errors.New("a delta's base is neither before it in the pack nor in the store")

// maxResolvedSize bounds one object packResolver holds in memory; larger
// ones go through go-git's streaming path.
const maxResolvedSize = 1 << 30

// presizeLimit bounds a buffer made at the size a received pack declares
// for what is read into it.
const presizeLimit = 64 << 20

// maxCachedResolved bounds the bytes of resolved objects a pack keeps for
// the object cache until it is stored (a third of go-git's default cache).
const maxCachedResolved = 32 << 20

// write resolves the pack in src (scanned into entries, count objects in
// its header) and stores the result as pack-<checksum>.pack and .idx. On
// error nothing is left in the pack folder but temporary files it removes.
func (r *packResolver) write(src *os.File, entries []packEntry, count uint32) (err error) {
	tmp, err := os.CreateTemp(r.dir, "tmp_thin_pack_")
	if err != nil {
		return err
	}
	defer func() {
		tmp.Close()
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	out := newPackOut(tmp)
	out.header(count)

	// What later deltas of this pack take as their base: kept in memory
	// from when it is resolved until the end of the pack.
	ofsBases := map[int64]bool{}
	refBases := map[plumbing.Hash]bool{}
	for _, e := range entries {
		switch e.typ {
		case plumbing.OFSDeltaObject:
			ofsBases[e.ofsBase] = true
		case plumbing.REFDeltaObject:
			refBases[e.refBase] = true
		}
	}
	type object struct {
		typ     plumbing.ObjectType
		content []byte
	}
	kept := map[int64]object{}             // by offset in src
	keptByID := map[plumbing.Hash]object{} // the same, by object id
	sc := packfile.NewScanner(src)         // src is seekable: objects are read by offset
	index := new(idxfile.Writer)
	var resolved []*resolvedObject // for the cache, up to maxCachedResolved bytes
	cached := 0
	// Bounded by the pack's entries, each read once.
	for _, e := range entries {
		var o object
		var id plumbing.Hash
		at := out.n
		out.crc.Reset()
		if !e.typ.IsDelta() {
			if err := out.raw(io.NewSectionReader(src, e.offset, e.end-e.offset)); err != nil {
				return err
			}
			o.typ, id = e.typ, e.hash
			if ofsBases[e.offset] || refBases[id] {
				if o.content, err = inflateAt(sc, e.offset); err != nil {
					return err
				}
			}
		} else {
			delta, err := inflateAt(sc, e.offset)
			if err != nil {
				return err
			}
			var base object
			var ok bool
			switch e.typ {
			case plumbing.OFSDeltaObject:
				if base, ok = kept[e.ofsBase]; !ok {
					return errUnresolved
				}
			default:
				if base, ok = keptByID[e.refBase]; !ok {
					if base.typ, base.content, err = r.stored(e.refBase); err != nil {
						return err
					}
				}
			}
			if o.content, err = applyDelta(base.content, delta); err != nil {
				return err
			}
			o.typ = base.typ
			h := plumbing.NewHasher(o.typ, int64(len(o.content)))
			h.Write(o.content)
			id = h.Sum()
			if err := out.whole(o.typ, int64(len(o.content)), bytes.NewReader(o.content)); err != nil {
				return err
			}
			if cached += len(o.content); cached <= maxCachedResolved {
				resolved = append(resolved, &resolvedObject{id: id, typ: o.typ, content: o.content})
			}
		}
		index.Add(id, uint64(at), out.crc.Sum32())
		if ofsBases[e.offset] || refBases[id] {
			kept[e.offset], keptByID[id] = o, o
		}
	}
	sum, err := out.finish()
	if err != nil {
		return err
	}
	if err := index.OnFooter(sum); err != nil {
		return err
	}
	idx, err := index.Index()
	if err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := r.place(tmp.Name(), sum, idx); err != nil {
		return err
	}
	r.reindex()
	if r.cache != nil {
		for _, o := range resolved {
			r.cache.Put(o)
		}
	}
	return nil
}

// resolvedObject is an object resolved from a delta, as go-git's object
// cache holds it: its id is known (computed once when resolved; go-git's
// MemoryObject would hash it again) and it is never written.
type resolvedObject struct {
	id      plumbing.Hash
	typ     plumbing.ObjectType
	content []byte
}

func (o *resolvedObject) Hash() plumbing.Hash         { return o.id }
func (o *resolvedObject) Type() plumbing.ObjectType   { return o.typ }
func (o *resolvedObject) SetType(plumbing.ObjectType) {}
func (o *resolvedObject) Size() int64                 { return int64(len(o.content)) }
func (o *resolvedObject) SetSize(int64)               {}
func (o *resolvedObject) Writer() (io.WriteCloser, error) {
	return nil, errors.New("a resolved object is read-only")
}
func (o *resolvedObject) Reader() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(o.content)), nil
}

// stored returns object h of the store, whole: the base of a thin pack's
// delta.
func (r *packResolver) stored(h plumbing.Hash) (plumbing.ObjectType, []byte, error) {
	o, err := r.objects.EncodedObject(plumbing.AnyObject, h)
	if err != nil {
		return 0, nil, errUnresolved
	}
	if r, ok := o.(*resolvedObject); ok {
		// Resolved by an earlier fetch (the same file changed again) and
		// still cached: immutable, read in place.
		return r.typ, r.content, nil
	}
	if o.Size() < 0 || o.Size() > maxResolvedSize {
		return 0, nil, fmt.Errorf("base %s: %d bytes", h, o.Size())
	}
	rd, err := o.Reader()
	if err != nil {
		return 0, nil, err
	}
	defer rd.Close()
	b := make([]byte, o.Size())
	if _, err := io.ReadFull(rd, b); err != nil {
		return 0, nil, fmt.Errorf("base %s: %w", h, err)
	}
	return o.Type(), b, nil
}

// inflateAt returns the inflated data of the pack entry at offset (the
// delta itself for a delta).
func inflateAt(sc *packfile.Scanner, offset int64) ([]byte, error) {
	oh, err := sc.SeekObjectHeader(offset)
	if err != nil {
		return nil, err
	}
	if oh.Length < 0 || oh.Length > maxResolvedSize {
		return nil, fmt.Errorf("object at %d: %d bytes", offset, oh.Length)
	}
	// Made at the declared size up to presizeLimit: a header cannot make it
	// allocate more than the data it is followed by, plus that.
	buf := bytes.NewBuffer(make([]byte, 0, min(oh.Length, presizeLimit)))
	if _, _, err := sc.NextObject(buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// place moves the written pack (at tmp) and its index to their names in
// the pack folder, the index first, as go-git's pack writer does: a pack
// without an index is never listed, an index without its pack is not
// read. Packs are named by their checksum; one already there is kept.
func (r *packResolver) place(tmp string, sum plumbing.Hash, idx *idxfile.MemoryIndex) error {
	base := filepath.Join(r.dir, "pack-"+sum.String())
	if _, err := os.Stat(base + ".idx"); err != nil {
		f, err := os.CreateTemp(r.dir, "tmp_thin_idx_")
		if err != nil {
			return err
		}
		if _, err := idxfile.NewEncoder(f).Encode(idx); err != nil {
			f.Close()
			os.Remove(f.Name())
			return err
		}
		if err := f.Close(); err != nil {
			os.Remove(f.Name())
			return err
		}
		os.Chmod(f.Name(), 0o444)
		if err := os.Rename(f.Name(), base+".idx"); err != nil {
			os.Remove(f.Name())
			return err
		}
	}
	if _, err := os.Stat(base + ".pack"); err == nil {
		return os.Remove(tmp)
	}
	os.Chmod(tmp, 0o444)
	return os.Rename(tmp, base+".pack")
}

// packOut writes a pack (gitformat-pack, version 2): it counts the
// offset, the checksum of everything and the CRC-32 of the current entry.
type packOut struct {
	w   *bufio.Writer
	sum hash.Hash
	crc stdhash.Hash32
	n   int64
	z   *zlib.Writer
	err error
}

func newPackOut(w io.Writer) *packOut {
	return &packOut{w: bufio.NewWriterSize(w, 256<<10), sum: hash.New(crypto.SHA1), crc: crc32.NewIEEE()}
}

func (p *packOut) Write(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	n, err := p.w.Write(b)
	p.sum.Write(b[:n])
	p.crc.Write(b[:n])
	p.n += int64(n)
	p.err = err
	return n, err
}

// header writes the pack header for count objects.
func (p *packOut) header(count uint32) {
	p.Write([]byte{'P', 'A', 'C', 'K', 0, 0, 0, 2, byte(count >> 24), byte(count >> 16), byte(count >> 8), byte(count)})
}

// raw copies an entry as it was received.
func (p *packOut) raw(r io.Reader) error {
	_, err := io.Copy(p, r)
	return err
}

// whole writes the n bytes of r as a whole object of type t: its entry
// header (entryHeader), then the content deflated at the fastest level.
//
// Not git's default level: deflating a 2.6 MB zone file took 70-100 ms of
// a one-record change's 0.2 s fetch (issue 21); the fastest level takes a
// quarter of that and writes 15 % more bytes (560 KB instead of 486 KB
// for a 100k-record zone) until the next Prune rewrites every object at
// the default level. Stored, not deflated at all, was faster still, but
// made each of the up to prunePacks packs between two prunes hold the
// changed zone files 5-9 times larger than compressed
// (TestPruneBoundsState bounds the state directory).
func (p *packOut) whole(t plumbing.ObjectType, n int64, r io.Reader) error {
	if _, err := p.Write(entryHeader(t, n)); err != nil {
		return err
	}
	if p.z == nil {
		p.z, _ = zlib.NewWriterLevel(p, zlib.BestSpeed)
	} else {
		p.z.Reset(p)
	}
	copied, err := io.Copy(p.z, io.LimitReader(r, n))
	if err != nil {
		return err
	}
	if copied != n {
		return fmt.Errorf("%d bytes read, its header says %d", copied, n)
	}
	return p.z.Close()
}

// finish writes the trailing checksum and flushes; it returns the
// checksum, which names the pack.
func (p *packOut) finish() (plumbing.Hash, error) {
	var sum plumbing.Hash
	copy(sum[:], p.sum.Sum(nil))
	if p.err != nil {
		return sum, p.err
	}
	if _, err := p.w.Write(sum[:]); err != nil {
		return sum, err
	}
	return sum, p.w.Flush()
}

// entryHeader is a pack entry's type and size header (gitformat-pack:
// 3 bits of type, the size in little-endian groups of 4 then 7 bits).
func entryHeader(t plumbing.ObjectType, n int64) []byte {
	hdr := []byte{byte(t)<<4 | byte(n&0x0f)}
	for n >>= 4; n > 0; n >>= 7 {
		hdr[len(hdr)-1] |= 0x80
		hdr = append(hdr, byte(n&0x7f))
	}
	return hdr
}

// errBadDelta: a delta that does not apply to its base.
var errBadDelta = errors.New("invalid delta")

// applyDelta returns base with delta applied (gitformat-pack,
// "Deltified representation"): the base's size and the result's, as
// little-endian base-128 numbers, then instructions, each either a copy of
// a range of the base (high bit set: which offset and size bytes follow in
// the low 7 bits; a size of 0 means 0x10000) or an insert of the next 1-127
// bytes of the delta. Every instruction is checked against the base, the
// result's declared size and the delta's end, and the delta must be used
// up exactly, as git's patch-delta.c requires. The result is allocated at
// its declared size once when plausible (go-git's PatchDelta grows it from
// 64 KiB, which copied a 2.6 MB zone file about six times).
func applyDelta(base, delta []byte) ([]byte, error) {
	if len(delta) < 4 { // DELTA_SIZE_MIN
		return nil, errBadDelta
	}
	srcSize, delta, ok := deltaSize(delta)
	if !ok || srcSize != uint64(len(base)) {
		return nil, errBadDelta
	}
	dstSize, delta, ok := deltaSize(delta)
	if !ok || dstSize > maxResolvedSize {
		return nil, errBadDelta
	}
	// Made at the declared size when that is plausible (copies can repeat
	// the base, so the result may be larger than base and delta together;
	// it then grows): a header alone cannot make it allocate much.
	out := make([]byte, 0, min(dstSize, 2*uint64(len(base)+len(delta))))
	// Bounded by the delta: every instruction consumes at least one byte.
	for len(delta) > 0 {
		op := delta[0]
		delta = delta[1:]
		switch {
		case op&0x80 != 0:
			var off, n uint64
			var ok bool
			if off, delta, ok = copyField(op, 4, delta); !ok {
				return nil, errBadDelta
			}
			if n, delta, ok = copyField(op>>4, 3, delta); !ok {
				return nil, errBadDelta
			}
			if n == 0 {
				n = 0x10000
			}
			if off+n > uint64(len(base)) || uint64(len(out))+n > dstSize {
				return nil, errBadDelta
			}
			out = append(out, base[off:off+n]...)
		case op != 0:
			n := int(op)
			if n > len(delta) || uint64(len(out)+n) > dstSize {
				return nil, errBadDelta
			}
			out = append(out, delta[:n]...)
			delta = delta[n:]
		default:
			return nil, errBadDelta // reserved
		}
	}
	if uint64(len(out)) != dstSize {
		return nil, errBadDelta
	}
	return out, nil
}

// copyField reads a copy instruction's offset (4 bytes at most, present
// as bits 0-3 of the instruction say) or size (3, bits 4-6, shifted down
// into bits): little-endian, absent bytes zero.
func copyField(present byte, bytes int, delta []byte) (uint64, []byte, bool) {
	var v uint64
	for i := range bytes {
		if present&(1<<i) != 0 {
			if len(delta) == 0 {
				return 0, nil, false
			}
			v |= uint64(delta[0]) << (8 * i)
			delta = delta[1:]
		}
	}
	return v, delta, true
}

// deltaSize reads one size of a delta's header: little-endian base 128,
// at most 10 bytes.
func deltaSize(b []byte) (uint64, []byte, bool) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			return v, b[i+1:], true
		}
	}
	return 0, nil, false
}
