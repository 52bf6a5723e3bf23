package gitrepo

import (
	"bytes"
	"io"
	"slices"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// applyDelta applies what go-git's PatchDelta applies, to the same
// bytes, and refuses what it refuses, with three differences: a delta
// shorter than 4 bytes is refused (patch-delta.c's DELTA_SIZE_MIN; go-git
// takes 2); a size in the header cut short by the delta's end, or longer
// than 10 bytes, is refused (git and go-git take the bytes there are: a
// cut destination size reads as an empty object; no git writes either);
// and an empty base is allowed (go-git refuses it; not compared).
func FuzzApplyDelta(f *testing.F) {
	base := []byte("h0000000 IN A 10.0.0.0\nh0000001 IN A 10.0.0.1\n")
	f.Add(base, []byte{byte(len(base)), 5, 0x90, 5, 'x'})                            // copy 5 from 0... short
	f.Add(base, []byte{byte(len(base)), 10, 0x91, 2, 5, 5, 'h', 'e', 'l', 'l', 'o'}) // copy, insert
	f.Add(base, []byte{byte(len(base)), byte(len(base)), 0x90, byte(len(base))})
	f.Add(base, []byte{byte(len(base)), 3, 0, 1, 2, 3})  // reserved op
	f.Add(base, []byte{byte(len(base)), 3, 3, 'a', 'b'}) // insert past the end
	f.Add(base, []byte{byte(len(base)), 1, 0x80 | 0x10}) // size 0 means 0x10000
	f.Fuzz(func(t *testing.T, base, delta []byte) {
		if len(base) == 0 {
			return
		}
		got, err := applyDelta(base, delta)
		if len(delta) < 4 {
			if err == nil {
				t.Fatalf("a delta of %d bytes applied: %q", len(delta), got)
			}
			return
		}
		if headerCut(delta) {
			if err == nil {
				t.Fatalf("a delta whose header is cut short or overlong applied: %q", got)
			}
			return
		}
		want, wantErr := packfile.PatchDelta(base, delta)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("applyDelta: %v, go-git: %v", err, wantErr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("applyDelta: %q, go-git: %q", got, want)
		}
	})
}

// headerCut reports whether one of a delta's two header sizes (base 128,
// little-endian, high bit set on every byte but the last) runs past the
// delta's end or over 10 bytes.
func headerCut(delta []byte) bool {
	i := 0
	for range 2 {
		for n := 0; ; n++ {
			if i >= len(delta) || n == 10 {
				return true
			}
			i++
			if delta[i-1]&0x80 == 0 {
				break
			}
		}
	}
	return false
}

// A received pack, however damaged, is refused or stored so that every
// object its stored index names reads back as content whose id is that
// name; nothing panics.
func FuzzStoreThinPack(f *testing.F) {
	src := newSrcRepo(f)
	old := src.commit("zones/a.zone", bigZone(1, 300, ""), nil)
	src.commit("zones/b.zone", bigZone(1, 300, "b1 IN A 10.9.9.8\n"), nil)
	head := src.commit("zones/a.zone", bigZone(1, 300, "new IN A 10.9.9.9\n"), nil)
	base := src.packObjects(false, old, plumbing.ZeroHash)
	f.Add(src.packObjects(true, head, old))
	f.Add(src.packObjects(false, head, old))
	f.Fuzz(func(t *testing.T, pack []byte) {
		s := openStore(t)
		if err := writePack(s, base); err != nil {
			t.Fatal(err)
		}
		before := packs(t, s)
		if writePack(s, pack) != nil {
			return
		}
		for _, p := range packs(t, s) {
			if slices.Contains(before, p) {
				continue
			}
			entries, err := packIndex(t, p).Entries()
			if err != nil {
				t.Fatal(err)
			}
			// Bounded by the index.
			for {
				e, err := entries.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				o, err := s.Repository().Storer.EncodedObject(plumbing.AnyObject, e.Hash)
				if err != nil {
					t.Fatalf("object %s of the stored pack: %v", e.Hash, err)
				}
				r, err := o.Reader()
				if err != nil {
					t.Fatal(err)
				}
				h := plumbing.NewHasher(o.Type(), o.Size())
				if _, err := io.Copy(h, r); err != nil {
					t.Fatalf("object %s: %v", e.Hash, err)
				}
				if h.Sum() != e.Hash {
					t.Fatalf("object %s reads back as %s", e.Hash, h.Sum())
				}
			}
		}
	})
}
