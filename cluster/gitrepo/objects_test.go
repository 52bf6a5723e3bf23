package gitrepo

import (
	"io"
	"testing"
	"time"
)

// The zone files a load reads stay in go-git's object cache (up to 96 MiB)
// until ReleaseObjects empties it; they read the same afterwards, and a
// pruned clone's cache is released too (issue 21: memory kept while
// serving).
func TestReleaseObjects(t *testing.T) {
	src := newSrcRepo(t)
	content := bigZone(1, 2000, "")
	h := src.commit("zones/a.zone", content, nil)
	blob := src.blobOf(h, "zones/a.zone")
	s := openStore(t)
	r := Remote{URL: src.dir, Depth: 1, Timeout: 10 * time.Second}
	if _, err := s.Fetch(bg, r, "master"); err != nil {
		t.Fatal(err)
	}
	read := func() string {
		t.Helper()
		o, err := s.Repository().BlobObject(blob)
		if err != nil {
			t.Fatal(err)
		}
		rd, err := o.Reader()
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Close()
		data, err := io.ReadAll(rd)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	cached := func() bool { _, ok := s.objects.Get(blob); return ok }
	for round, prune := range []bool{false, true} {
		if prune {
			if err := s.SetLastGood(LastGood{Revision: h.String()}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Prune(1); err != nil {
				t.Fatal(err)
			}
		}
		if read() != content {
			t.Fatalf("round %d: the zone file reads back different", round)
		}
		if !cached() {
			t.Fatalf("round %d: the zone file read is not in go-git's cache: the test tests nothing", round)
		}
		s.ReleaseObjects()
		if cached() {
			t.Errorf("round %d: the zone file is still cached after ReleaseObjects", round)
		}
		if read() != content {
			t.Errorf("round %d: the zone file reads back different after ReleaseObjects", round)
		}
	}
}
