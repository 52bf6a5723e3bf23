package gitrepo

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gitops-dns/resolverd/cluster/gitrepo/gittest"
	"github.com/gitops-dns/resolverd/cluster/gittree"
)

// goodStore is a state directory whose last good revision is the head of
// a fresh source repository with a config folder.
func goodStore(t *testing.T) (*Store, *srcRepo, plumbing.Hash) {
	t.Helper()
	src := newSrcRepo(t)
	src.commit("other/readme", "not config\n", nil)
	src.commit("dns/zones/a.zone", strings.Repeat("a.example. 300 IN A 192.0.2.1\n", 50), nil)
	h := src.commit("dns/policy.yaml", "fallback:\n  ttl: 30\n", nil)
	s := openStore(t)
	if got, err := s.Fetch(bg, Remote{URL: src.dir}, "master"); err != nil || got != h {
		t.Fatalf("fetch: %v %v", got, err)
	}
	if err := s.SetLastGood(LastGood{Revision: h.String(), Ref: "refs/heads/master", AppliedAt: time.Unix(1_790_000_000, 0).UTC()}); err != nil {
		t.Fatal(err)
	}
	return s, src, h
}

// A damaged HEAD, config, last-good record or ref is repaired from what is
// intact; the clone is kept and its last good revision reads back.
func TestSalvage(t *testing.T) {
	for _, tc := range []struct {
		name, file, content, repaired string
	}{
		{"empty HEAD", RepoDir + "/HEAD", "", "HEAD"},
		{"garbage HEAD", RepoDir + "/HEAD", "\x00\x01garbage\n", "HEAD"},
		{"truncated HEAD", RepoDir + "/HEAD", "ref: ", "HEAD"},
		{"empty config", RepoDir + "/config", "", "config"},
		{"garbage config", RepoDir + "/config", "[core\n\tbare = \x00\x00", "config"},
		{"truncated config", RepoDir + "/config", "[co", "config"},
		{"empty last-good ref", RepoDir + "/" + LastGoodRef, "", LastGoodRef},
		{"garbage last-good ref", RepoDir + "/" + LastGoodRef, "zz\n", LastGoodRef},
		{"garbage tracked ref", RepoDir + "/" + TrackedRef, "ref: nowhere", TrackedRef},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, h := goodStore(t)
			if err := os.WriteFile(filepath.Join(s.Dir(), tc.file), []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			s2, err := OpenStore(s.Dir())
			if err != nil {
				t.Fatalf("open after damaging %s: %v", tc.file, err)
			}
			if r := strings.Join(s2.Repairs(), ", "); !strings.Contains(r, tc.repaired) {
				t.Fatalf("repairs %q, want %s", r, tc.repaired)
			}
			if got, err := s2.Resolve(LastGoodRef); err != nil || got != h {
				t.Fatalf("last good ref after repair: %v %v", got, err)
			}
			if err := s2.CheckCommit(h, "dns", 100); err != nil {
				t.Fatal(err)
			}
			if s3, err := OpenStore(s.Dir()); err != nil || len(s3.Repairs()) != 0 {
				t.Fatalf("a second open repairs again: %v %v", s3.Repairs(), err)
			}
		})
	}
	for _, content := range []string{"", "{", `{"revision":"deadbeef`} {
		s, _, h := goodStore(t)
		os.WriteFile(filepath.Join(s.Dir(), LastGoodFile), []byte(content), 0o644)
		s2, err := OpenStore(s.Dir())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s2.LastGood(); ClassOf(err) != ClassCorruptObject {
			t.Fatalf("record %q: %v", content, err)
		}
		lg, err := s2.RestoreLastGood("master", "git://x")
		if err != nil || lg.Revision != h.String() || lg.Ref != "refs/heads/master" || lg.AppliedAt.IsZero() {
			t.Fatalf("restore from the ref: %+v %v", lg, err)
		}
		if back, err := s2.LastGood(); err != nil || back != lg {
			t.Fatalf("record after restore: %+v %v", back, err)
		}
	}
	// Record and ref both damaged: nothing to restore from.
	s, _, _ := goodStore(t)
	os.WriteFile(filepath.Join(s.Dir(), LastGoodFile), nil, 0o644)
	os.WriteFile(filepath.Join(s.Dir(), RepoDir, LastGoodRef), nil, 0o644)
	s2, _ := OpenStore(s.Dir())
	if _, err := s2.RestoreLastGood("master", ""); ClassOf(err) != ClassCorruptObject {
		t.Fatalf("restore with the ref damaged too: %v", err)
	}
}

// A snapshot holds the config folder of the last good revision and reads
// back into a repository gittree opens, with the same commit id; any
// damage to the file is refused as a checksum mismatch.
func TestSnapshot(t *testing.T) {
	s, _, h := goodStore(t)
	lg, _ := s.LastGood()
	info, err := s.WriteSnapshot(lg, "/dns/")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(s.Dir(), SnapshotFile)
	fi, err := os.Stat(p)
	if err != nil || fi.Size() != info.Bytes {
		t.Fatalf("snapshot file: %v %v, want %d bytes", fi, err, info.Bytes)
	}
	snap, err := ReadSnapshot(p)
	if err != nil {
		t.Fatal(err)
	}
	if snap.LastGood != lg || snap.Path != "dns" || snap.Objects != info.Objects {
		t.Fatalf("read back %+v %q %d", snap.LastGood, snap.Path, snap.Objects)
	}
	c, err := gittree.Open(snap.Repo, h, "dns")
	if err != nil || c.ID != h.String() {
		t.Fatalf("open the snapshot's commit: %v", err)
	}
	want, _ := gittree.Open(s.Repository(), h, "dns")
	for _, name := range []string{"zones/a.zone", "policy.yaml"} {
		a, err1 := readFS(c, name)
		b, err2 := readFS(want, name)
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Fatalf("%s from the snapshot differs from the clone: %v %v", name, err1, err2)
		}
	}
	if _, err := gittree.Open(snap.Repo, h, "other"); err == nil {
		t.Fatal("the snapshot holds a folder outside the config")
	}
	entries, _ := os.ReadDir(s.Dir())
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}

	good, _ := os.ReadFile(p)
	for _, tc := range []struct {
		name string
		mut  func([]byte) []byte
		want string
	}{
		{"one byte flipped in a blob", func(b []byte) []byte { b[len(b)/2] ^= 1; return b }, "checksum mismatch"},
		{"one byte flipped in the header", func(b []byte) []byte { b[len(snapshotMagic)+5] ^= 1; return b }, "checksum mismatch"},
		{"checksum flipped", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, "checksum mismatch"},
		{"truncated", func(b []byte) []byte { return b[:len(b)-100] }, "no end frame"},
		{"empty", func([]byte) []byte { return nil }, "truncated"},
		{"zeroed tail", func(b []byte) []byte { clear(b[len(b)/2:]); return b }, "no end frame"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.WriteFile(p, tc.mut(bytes.Clone(good)), 0o644)
			_, err := ReadSnapshot(p)
			if ClassOf(err) != ClassCorruptObject || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("damaged snapshot: %v, want corrupt-object %q", err, tc.want)
			}
		})
	}
	if _, err := ReadSnapshot(filepath.Join(s.Dir(), "none")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing snapshot: %v", err)
	}
}

func readFS(c gittree.Commit, name string) ([]byte, error) { return fs.ReadFile(c.FS, name) }

// FuzzParseSnapshot: the snapshot parser reads disk data: whatever the
// bytes, it returns an error or a snapshot whose commit is in its
// repository, never panics, never reads past the size it is given.
func FuzzParseSnapshot(f *testing.F) {
	src := newSrcRepo(f)
	src.commit("dns/zones/a.zone", "a.example. 300 IN A 192.0.2.1\n", nil)
	h := src.commit("dns/policy.yaml", "{}\n", nil)
	var buf bytes.Buffer
	objs, err := snapshotObjects(src.repo, h, "dns")
	if err != nil {
		f.Fatal(err)
	}
	if _, err := writeSnapshot(&buf, src.repo, snapshotHeader{LastGood: LastGood{Revision: h.String()}, Path: "dns"}, objs); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(snapshotMagic))
	f.Add([]byte(snapshotMagic + "h\x02{}e\x20" + strings.Repeat("\x00", 32)))
	f.Add([]byte(snapshotMagic + "b\xff\xff\xff\xff\xff\xff\xff\xff\x7f"))
	f.Fuzz(func(t *testing.T, data []byte) {
		snap, err := ParseSnapshot(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		if _, err := snap.Repo.CommitObject(plumbing.NewHash(snap.Revision)); err != nil {
			t.Fatalf("parsed snapshot without its commit: %v", err)
		}
		if checkSnapshotSum(bytes.NewReader(data), int64(len(data))) != nil {
			t.Fatal("the parser accepted what the checksum check refuses")
		}
	})
}

// Prune keeps the last good revision and the tracked head with their
// trees and drops every other fetched revision: after many rejected
// revisions were fetched, the clone is back to about the size of two
// revisions, the kept ones read back, and a fetch of a new head still
// works (the cut history is recorded as shallow).
func TestPrune(t *testing.T) {
	src := newSrcRepo(t)
	big := func(i int) string {
		var b strings.Builder
		for j := range 3000 {
			fmt.Fprintf(&b, "h%d-%d.example. 300 IN A 192.0.2.%d\n", i, j, j%250)
		}
		return b.String()
	}
	lg := src.commit("dns/zones/a.zone", big(0), nil)
	d := gittest.StartDaemon(t, src.root)
	r := Remote{URL: d.URL("config"), Timeout: 10 * time.Second, Depth: 1}
	s := openStore(t)
	if h, err := s.Fetch(bg, r, "master"); err != nil || h != lg {
		t.Fatalf("fetch: %v %v", h, err)
	}
	s.SetLastGood(LastGood{Revision: lg.String()})
	base, _ := s.Usage()
	var head plumbing.Hash
	for i := range 30 { // rejected revisions: fetched, never last good
		head = src.commit("dns/zones/a.zone", big(i+1), nil)
		if h, err := s.Fetch(bg, r, "master"); err != nil || h != head {
			t.Fatalf("fetch %d: %v %v", i, h, err)
		}
	}
	if _, err := s.Lineage(bg, r, "master", head, lg); err != nil { // deepens the clone
		t.Fatal(err)
	}
	st, err := s.Prune(10) // 30 commits apart: more than the history kept
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("prune: %+v (one revision: %d bytes)", st, base)
	if st.Before < 10*base || st.After > 3*base || st.Packs != 1 {
		t.Fatalf("prune from %d to %d bytes (%d packs), one revision is %d: want at most 3 revisions and one pack", st.Before, st.After, st.Packs, base)
	}
	if st.LastGood != lg.String() || st.Tracked != head.String() || st.Commits != 2 || st.Shallow != 1 {
		t.Fatalf("kept %+v, want the last good (the root commit) and the tracked head (shallow)", st)
	}
	for _, h := range []plumbing.Hash{lg, head} {
		if err := s.CheckCommit(h, "dns", 100); err != nil {
			t.Fatalf("after prune: %v", err)
		}
	}
	s2, err := OpenStore(s.Dir()) // as the next boot
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s2.Resolve(LastGoodRef); err != nil || got != lg {
		t.Fatalf("last good after prune and reopen: %v %v", got, err)
	}
	next := src.commit("dns/zones/a.zone", big(99), nil)
	if h, err := s2.Fetch(bg, r, "master"); err != nil || h != next {
		t.Fatalf("fetch after prune: %v %v", h, err)
	}
	if err := s2.CheckCommit(next, "dns", 100); err != nil {
		t.Fatalf("new head after prune: %v", err)
	}
	if _, err := s2.Lineage(bg, r, "master", next, lg); err != nil {
		t.Fatalf("lineage after prune: %v", err)
	}

	// A short history between the last good revision and the head is kept.
	s2.SetLastGood(LastGood{Revision: next.String()})
	var mid []plumbing.Hash
	for i := range 3 {
		mid = append(mid, src.commit("dns/zones/a.zone", big(200+i), nil))
	}
	if _, err := s2.Fetch(bg, r, "master"); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Lineage(bg, r, "master", mid[2], next); err != nil {
		t.Fatal(err)
	}
	if st, err := s2.Prune(50); err != nil || st.Commits != 4 || st.Shallow != 1 {
		t.Fatalf("prune with 2 commits between: %+v %v, want 4 commits kept, the last good one shallow", st, err)
	}
	if l, err := s2.Lineage(bg, Remote{URL: "git://127.0.0.1:1/none", Timeout: time.Second}, "master", mid[2], next); err != nil || len(l.FirstParent) != 3 {
		t.Fatalf("lineage after prune, offline: %+v %v", l, err)
	}
}

// A prune cut short between its two renames is undone at the next open.
func TestPruneSwapRecovered(t *testing.T) {
	s, _, h := goodStore(t)
	cur := filepath.Join(s.Dir(), RepoDir)
	if err := os.Rename(cur, filepath.Join(s.Dir(), pruneOld)); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(s.Dir(), pruneNew, "objects"), 0o755)
	s2, err := OpenStore(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s2.Resolve(LastGoodRef); err != nil || got != h {
		t.Fatalf("after an interrupted swap: %v %v", got, err)
	}
	for _, n := range []string{pruneOld, pruneNew} {
		if _, err := os.Stat(filepath.Join(s.Dir(), n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind: %v", n, err)
		}
	}
}
