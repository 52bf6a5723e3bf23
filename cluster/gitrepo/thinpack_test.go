package gitrepo

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"

	"github.com/gitops-dns/resolverd/cluster/gitrepo/gittest"
)

// bigZone is a zone-like file of n distinct lines, enough that a fetch of
// it whole is far larger than a fetch of a one-line change.
func bigZone(seed, n int, extra string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "h%07d IN A 10.%d.%d.%d\n", i, seed, (i>>8)&255, i&255)
	}
	return b.String() + extra
}

// packs lists the store's pack files.
func packs(t *testing.T, s *Store) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(s.Dir(), RepoDir, "objects", "pack", "pack-*.pack"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// packIndex reads the index of pack file p.
func packIndex(t *testing.T, p string) *idxfile.MemoryIndex {
	t.Helper()
	f, err := os.Open(strings.TrimSuffix(p, ".pack") + ".idx")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	idx := idxfile.NewMemoryIndex()
	if err := idxfile.NewDecoder(f).Decode(idx); err != nil {
		t.Fatal(err)
	}
	return idx
}

// blobOf is the blob id of file name in commit h of the source repo.
func (s *srcRepo) blobOf(h plumbing.Hash, name string) plumbing.Hash {
	s.t.Helper()
	c, err := s.repo.CommitObject(h)
	if err != nil {
		s.t.Fatal(err)
	}
	f, err := c.File(name)
	if err != nil {
		s.t.Fatal(err)
	}
	return f.Hash
}

// A shallow fetch of a new head brings what changed, not the whole tree
// again (issue 21: git's upload-pack packs every object of the new commit
// for a shallow request unless the pack may be thin), and the store then
// holds the new revision whole and readable, over every transport.
func TestShallowFetchBringsTheChangeOnly(t *testing.T) {
	src := newSrcRepo(t)
	for i := range 4 {
		src.commit(fmt.Sprintf("zones/z%d.zone", i), bigZone(i, 20000, ""), nil)
	}
	daemon := gittest.StartDaemon(t, src.root)
	web := gittest.StartHTTP(t, src.root)
	for i, tc := range []struct {
		name string
		r    Remote
	}{{"local path", Remote{URL: src.dir}}, {"git daemon", Remote{URL: daemon.URL("config")}}, {"http", Remote{URL: web.URL("config")}}} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			r.Depth, r.Timeout = 1, 10*time.Second
			s := openStore(t)
			h1, err := s.Fetch(bg, r, "master")
			if err != nil {
				t.Fatal(err)
			}
			before := packs(t, s)
			change := bigZone(2, 20000, fmt.Sprintf("changed IN A 10.9.9.%d\n", i))
			h2 := src.commit("zones/z2.zone", change, nil)
			if got, err := s.Fetch(bg, r, "master"); err != nil || got != h2 {
				t.Fatalf("second fetch: %v %v, want %v", got, err, h2)
			}
			var added []string
			for _, p := range packs(t, s) {
				if !slices.Contains(before, p) {
					added = append(added, p)
				}
			}
			if len(added) != 1 {
				t.Fatalf("the fetch added packs %v, want one", added)
			}
			idx := packIndex(t, added[0])
			for _, f := range []string{"zones/z0.zone", "zones/z1.zone", "zones/z3.zone"} {
				if ok, _ := idx.Contains(src.blobOf(h2, f)); ok {
					t.Errorf("the fetch of a change of z2.zone brought %s again (unchanged since %s)", f, h1)
				}
			}
			if err := s.CheckCommit(h2, "", 100); err != nil {
				t.Fatal(err)
			}
			c, err := s.Repository().CommitObject(h2)
			if err != nil {
				t.Fatal(err)
			}
			f, err := c.File("zones/z2.zone")
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := f.Contents(); got != change {
				t.Errorf("zones/z2.zone read back from the store differs from what was committed (%d bytes, want %d)", len(got), len(change))
			}
			if err := s.CheckCommit(h1, "", 100); err != nil {
				t.Fatalf("the previous revision is gone after the fetch: %v", err)
			}
			// The changed file was resolved by the fetch: the load that
			// follows finds it in go-git's object cache.
			if _, ok := s.objects.Get(src.blobOf(h2, "zones/z2.zone")); !ok {
				t.Error("the changed file is not in the object cache after the fetch")
			}
			// Changed again: its base is now the object the last fetch
			// resolved.
			again := bigZone(2, 20000, fmt.Sprintf("changed IN A 10.9.8.%d\n", i))
			h3 := src.commit("zones/z2.zone", again, nil)
			if got, err := s.Fetch(bg, r, "master"); err != nil || got != h3 {
				t.Fatalf("third fetch: %v %v, want %v", got, err, h3)
			}
			c3, err := s.Repository().CommitObject(h3)
			if err != nil {
				t.Fatal(err)
			}
			if f, err := c3.File("zones/z2.zone"); err != nil {
				t.Fatal(err)
			} else if got, _ := f.Contents(); got != again {
				t.Errorf("zones/z2.zone changed twice reads back %d bytes, want %d", len(got), len(again))
			}
		})
	}
}

// packObjects is `git pack-objects --revs` of want minus have (none when
// zero) in the source repo (thin: deltas may refer to have's objects).
func (s *srcRepo) packObjects(thin bool, want, have plumbing.Hash) []byte {
	s.t.Helper()
	args := []string{"pack-objects", "--revs", "--stdout", "--delta-base-offset"}
	if thin {
		args = append(args, "--thin")
	}
	cmd := exec.Command("git", args...)
	cmd.Dir = s.dir
	in := want.String() + "\n"
	if !have.IsZero() {
		in += "--not\n" + have.String() + "\n"
	}
	cmd.Stdin = strings.NewReader(in)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		s.t.Fatalf("git pack-objects: %v: %s", err, stderr.String())
	}
	return out.Bytes()
}

// writePack writes pack through the store's fetch storage, as a fetch does.
func writePack(s *Store, pack []byte) error {
	fs := fetchStorer{Storer: s.Repository().Storer, dir: filepath.Join(s.Dir(), RepoDir, "objects", "pack")}
	w, err := fs.PackfileWriter()
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, bytes.NewReader(pack)); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// A thin pack is completed with the bases its deltas need (from the
// store) before it is indexed; a pack that is damaged or needs a base the
// store lacks is refused and leaves nothing behind.
func TestPackCompleter(t *testing.T) {
	src := newSrcRepo(t)
	old := src.commit("zones/a.zone", bigZone(1, 5000, ""), nil)
	head := src.commit("zones/a.zone", bigZone(1, 5000, "new IN A 10.9.9.9\n"), nil)
	thin := src.packObjects(true, head, old)
	full := src.packObjects(false, head, old)
	if len(thin) >= len(full)/4 {
		t.Fatalf("git made no thin pack (%d bytes, %d without --thin): the test tests nothing", len(thin), len(full))
	}
	stored := func(t *testing.T) *Store {
		s := openStore(t)
		if err := writePack(s, src.packObjects(false, old, plumbing.ZeroHash)); err != nil {
			t.Fatal(err)
		}
		return s
	}
	t.Run("thin", func(t *testing.T) {
		s := stored(t)
		before := packs(t, s)
		if err := writePack(s, thin); err != nil {
			t.Fatal(err)
		}
		if err := s.CheckCommit(head, "", 10); err != nil {
			t.Fatal(err)
		}
		temporaries(t, s)
		// The changed file is stored whole, deflated at the fastest level,
		// not git's default (a fetch's time, issue 21): the stored pack
		// holds it in more bytes than git's own pack of the base did.
		var size int64
		for _, p := range packs(t, s) {
			if slices.Contains(before, p) {
				continue
			}
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			size = fi.Size()
		}
		if git := int64(len(src.packObjects(false, old, plumbing.ZeroHash))); size < git+git/20 {
			t.Errorf("completed pack of %d bytes, git's pack of the base's commit %d: the base was deflated at git's level, want the fastest", size, git)
		}
	})
	t.Run("whole", func(t *testing.T) {
		s := stored(t)
		if err := writePack(s, full); err != nil {
			t.Fatal(err)
		}
		if err := s.CheckCommit(head, "", 10); err != nil {
			t.Fatal(err)
		}
		temporaries(t, s)
	})
	t.Run("base missing", func(t *testing.T) {
		s := openStore(t)
		err := writePack(s, thin)
		if err == nil || !strings.Contains(err.Error(), "base") {
			t.Fatalf("a thin pack without its base in the store: %v, want an error naming the base", err)
		}
		if n := len(packs(t, s)); n != 0 {
			t.Errorf("%d packs written", n)
		}
		temporaries(t, s)
	})
	t.Run("damaged", func(t *testing.T) {
		s := stored(t)
		bad := slices.Clone(thin)
		bad[len(bad)/2] ^= 0x55
		if err := writePack(s, bad); err == nil {
			t.Fatal("a damaged pack was accepted")
		}
		if n := len(packs(t, s)); n != 1 {
			t.Errorf("%d packs, want the first one only", n)
		}
		temporaries(t, s)
	})
}

// temporaries fails when the received pack's temporary file is left.
func temporaries(t *testing.T, s *Store) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(s.Dir(), RepoDir, "objects", "pack", "tmp_thin_*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// packKinds counts the entries of pack by how they are stored: whole,
// OFS_DELTA, and REF_DELTA against an object the pack does not hold.
func packKinds(t testing.TB, pack []byte) (whole, ofs, external int) {
	t.Helper()
	s := packfile.NewScanner(bytes.NewReader(pack))
	_, count, err := s.Header()
	if err != nil {
		t.Fatal(err)
	}
	var entries []packEntry
	for range count {
		oh, err := s.NextObjectHeader()
		if err != nil {
			t.Fatal(err)
		}
		e := packEntry{typ: oh.Type, refBase: oh.Reference}
		h := plumbing.NewHasher(oh.Type, oh.Length)
		if _, _, err := s.NextObject(h); err != nil {
			t.Fatal(err)
		}
		e.hash = h.Sum()
		switch oh.Type {
		case plumbing.OFSDeltaObject:
			ofs++
		case plumbing.REFDeltaObject:
		default:
			whole++
		}
		entries = append(entries, e)
	}
	return whole, ofs, len(externalBases(entries))
}

// A thin pack is stored resolved: every delta applied to its base (in the
// pack, or in the store for the bases the pack leaves out) and written
// whole, in a pack and index git itself verifies, and every object reads
// back as committed.
func TestThinPackStoredResolved(t *testing.T) {
	src := newSrcRepo(t)
	old := src.commit("zones/a.zone", bigZone(1, 5000, ""), nil)
	src.commit("zones/b.zone", bigZone(1, 5000, "b1 IN A 10.9.9.8\n"), nil)
	src.commit("zones/b.zone", bigZone(1, 5000, "b2 IN A 10.9.9.7\n"), nil)
	changed := bigZone(1, 5000, "new IN A 10.9.9.9\n")
	head := src.commit("zones/a.zone", changed, nil)
	thin := src.packObjects(true, head, old)
	if _, ofs, external := packKinds(t, thin); ofs == 0 || external == 0 {
		t.Fatalf("git's thin pack has %d OFS deltas and %d bases outside it: want both, or the test tests less than it says", ofs, external)
	}
	s := openStore(t)
	if err := writePack(s, src.packObjects(false, old, plumbing.ZeroHash)); err != nil {
		t.Fatal(err)
	}
	before := packs(t, s)
	if err := writePack(s, thin); err != nil {
		t.Fatal(err)
	}
	temporaries(t, s)
	var added string
	for _, p := range packs(t, s) {
		if !slices.Contains(before, p) {
			added = p
		}
	}
	if added == "" {
		t.Fatal("no pack written")
	}
	stored, err := os.ReadFile(added)
	if err != nil {
		t.Fatal(err)
	}
	whole, ofs, external := packKinds(t, stored)
	indexed, _ := packIndex(t, added).Count()
	if whole == 0 || ofs+external > 0 || int64(whole) != indexed {
		t.Errorf("stored pack: %d whole objects, %d OFS deltas, %d external bases, %d in its index: want every object whole and indexed", whole, ofs, external, indexed)
	}
	if out, err := exec.Command("git", "verify-pack", "-v", strings.TrimSuffix(added, ".pack")+".idx").CombinedOutput(); err != nil {
		t.Fatalf("git verify-pack: %v\n%s", err, out)
	}
	for _, h := range []plumbing.Hash{old, head} {
		if err := s.CheckCommit(h, "", 100); err != nil {
			t.Fatal(err)
		}
	}
	c, err := s.Repository().CommitObject(head)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"zones/a.zone": changed, "zones/b.zone": bigZone(1, 5000, "b2 IN A 10.9.9.7\n")} {
		f, err := c.File(name)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := f.Contents(); got != want {
			t.Errorf("%s read back from the store differs from what was committed (%d bytes, want %d)", name, len(got), len(want))
		}
	}
}

// appendDelta is a delta (gitformat-pack) that makes base followed by
// extra: one copy of the whole base (in 64 KiB copies), one insert.
func appendDelta(base []byte, extra string) []byte {
	size := func(b []byte, n int) []byte {
		for ; n >= 0x80; n >>= 7 {
			b = append(b, byte(n)|0x80)
		}
		return append(b, byte(n))
	}
	d := size(size(nil, len(base)), len(base)+len(extra))
	for off := 0; off < len(base); off += 0x10000 {
		n := min(0x10000, len(base)-off)
		d = append(d, 0x80|0x0f|0x30, byte(off), byte(off>>8), byte(off>>16), byte(off>>24), byte(n), byte(n>>8))
	}
	return append(append(d, byte(len(extra))), extra...)
}

// A thin pack the resolver does not take (here a delta whose base comes
// after it in the pack) is completed with its missing bases and indexed by
// go-git instead, and every object reads back.
func TestThinPackDeltaBeforeItsBase(t *testing.T) {
	s := openStore(t)
	stored := []byte(bigZone(1, 3000, ""))
	h, err := s.Repository().Storer.SetEncodedObject(blobObject(stored))
	if err != nil {
		t.Fatal(err)
	}
	inPack := []byte(bigZone(2, 3000, ""))
	inPackID := blobObject(inPack).Hash()
	var pack bytes.Buffer
	out := newPackOut(&pack)
	out.header(3)
	// 1: a delta of the blob that comes third; 2: a delta of the stored
	// blob (the pack is thin); 3: the base of the first.
	for _, e := range []struct {
		base []byte
		id   plumbing.Hash
	}{{inPack, inPackID}, {stored, h}} {
		d := appendDelta(e.base, "x IN A 10.9.9.9\n")
		out.Write(append(entryHeader(plumbing.REFDeltaObject, int64(len(d))), e.id[:]...))
		z := zlib.NewWriter(out)
		z.Write(d)
		z.Close()
	}
	if err := out.whole(plumbing.BlobObject, int64(len(inPack)), bytes.NewReader(inPack)); err != nil {
		t.Fatal(err)
	}
	if _, err := out.finish(); err != nil {
		t.Fatal(err)
	}
	if err := writePack(s, pack.Bytes()); err != nil {
		t.Fatal(err)
	}
	temporaries(t, s)
	for _, want := range [][]byte{inPack, append(slices.Clone(inPack), "x IN A 10.9.9.9\n"...), append(slices.Clone(stored), "x IN A 10.9.9.9\n"...)} {
		o, err := s.Repository().Storer.EncodedObject(plumbing.BlobObject, blobObject(want).Hash())
		if err != nil {
			t.Fatalf("blob of %d bytes: %v", len(want), err)
		}
		r, _ := o.Reader()
		got, _ := io.ReadAll(r)
		if !bytes.Equal(got, want) {
			t.Errorf("blob %s reads back %d bytes, want %d", o.Hash(), len(got), len(want))
		}
	}
}

func blobObject(content []byte) *plumbing.MemoryObject {
	o := &plumbing.MemoryObject{}
	o.SetType(plumbing.BlobObject)
	o.Write(content)
	o.SetSize(int64(len(content)))
	return o
}
