package staging

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

var operator = object.Signature{Name: "Operator", Email: "op@corp.internal"}

// remoteRef reads a ref of the bare origin repository.
func remoteRef(t *testing.T, r *testRepo, name string) (plumbing.Hash, bool) {
	t.Helper()
	origin, err := git.PlainOpen(r.origin)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := origin.Reference(plumbing.ReferenceName(name), false)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return plumbing.ZeroHash, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return ref.Hash(), true
}

// verifyAndSave runs a real verification of h on a cluster whose nodes serve
// it and records it when it passes.
func verifyAndSave(t *testing.T, l *lab, r *testRepo, h plumbing.Hash, clusterName string, when time.Time) *Report {
	t.Helper()
	rev := r.load(h)
	l.serve(clusterName, rev)
	rep, err := Verify(context.Background(), rev, clusterName, l.opts())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Pass {
		who := operator
		who.When = when
		if _, err := Save(r.repo, rep, who, false); err != nil {
			t.Fatal(err)
		}
	}
	return rep
}

func TestPromote(t *testing.T) {
	l := newLab(t)
	r := newTestRepo(t)
	t0 := time.Date(2026, 7, 21, 12, 0, 0, 0, time.UTC)

	c1 := r.commit(goodParams(l.fwdPort), "c1: good")
	p := goodParams(l.fwdPort)
	p.Serial, p.DBPrimary = 2, "198.18.5.99"
	c2 := r.commit(p, "c2: breaks db-primary")
	p = goodParams(l.fwdPort)
	p.Serial = 3
	c3 := r.commit(p, "c3: fix")
	p.Serial = 9
	side := r.commit(p, "side: not on top of production", c1) // sibling of c2

	promote := func(h plumbing.Hash, afterBake bool, now time.Time) (*Promotion, error) {
		return Promote(context.Background(), PromoteOptions{
			Repo: r.repo, Revision: r.load(h), To: "production", Remote: "origin",
			AfterBake: afterBake, Bake: time.Hour, Who: operator, Now: func() time.Time { return now },
			ReVerify: func(ctx context.Context, clusterName string) (*Report, error) {
				return Verify(ctx, r.load(h), clusterName, l.opts())
			},
		})
	}

	// An unverified revision is refused.
	if _, err := promote(c1, false, t0); !errors.Is(err, ErrNotVerified) {
		t.Fatalf("unverified c1: err %v, want ErrNotVerified", err)
	}
	if _, ok := remoteRef(t, r, "refs/heads/production"); ok {
		t.Fatal("production moved for an unverified revision")
	}

	// A good revision passes, is recorded, and is promoted.
	if rep := verifyAndSave(t, l, r, c1, "staging", t0); !rep.Pass {
		t.Fatal("c1 fails verify")
	}
	pr, err := promote(c1, false, t0)
	if err != nil {
		t.Fatal(err)
	}
	if pr.Ref != "refs/heads/production" || pr.To != c1 || !pr.From.IsZero() {
		t.Fatalf("promotion %+v", pr)
	}
	if h, _ := remoteRef(t, r, "refs/heads/production"); h != c1 {
		t.Fatalf("origin production at %s, want c1 %s", h, c1)
	}
	if _, ok := remoteRef(t, r, VerifiedTag("staging", c1.String()).String()); !ok {
		t.Fatal("the verification record was not pushed")
	}
	// The canary only shares the ref with nobody: no warning.
	if len(pr.Warnings) != 0 {
		t.Fatalf("warnings %v", pr.Warnings)
	}

	// A revision that breaks a probed name fails verify, is not recorded,
	// and cannot be promoted.
	if rep := verifyAndSave(t, l, r, c2, "staging", t0); rep.Pass {
		t.Fatal("c2 passes verify")
	}
	if _, err := LoadRecord(r.repo, "staging", c2.String()); !errors.Is(err, ErrNotVerified) {
		t.Fatalf("c2 recorded: %v", err)
	}
	if _, err := promote(c2, false, t0); !errors.Is(err, ErrNotVerified) {
		t.Fatalf("c2: err %v, want ErrNotVerified", err)
	}
	// A verification of another revision does not count for c3.
	if _, err := promote(c3, false, t0); !errors.Is(err, ErrNotVerified) {
		t.Fatalf("c3 before its verify: err %v", err)
	}

	// A verified revision that is not on top of production is refused.
	if rep := verifyAndSave(t, l, r, side, "staging", t0); !rep.Pass {
		t.Fatal("side fails verify")
	}
	c3rep := verifyAndSave(t, l, r, c3, "staging", t0)
	if !c3rep.Pass {
		t.Fatal("c3 fails verify")
	}
	if _, err := promote(c3, false, t0); err != nil {
		t.Fatal(err)
	}
	_, err = promote(side, false, t0)
	if !errors.Is(err, ErrNotFastForward) || !strings.Contains(err.Error(), "not an ancestor") {
		t.Fatalf("side: err %v, want ErrNotFastForward", err)
	}
	if h, _ := remoteRef(t, r, "refs/heads/production"); h != c3 {
		t.Fatalf("origin production at %s after a refused promotion, want c3", h)
	}

	// Canary bake: eu-west tracks production-baked, moved only after the
	// canary us-east served c3 for the bake time with probes passing.
	if _, err := promote(c3, true, t0); !errors.Is(err, ErrNotVerified) {
		t.Fatalf("after-bake before the canary's verify: %v", err)
	}
	if rep := verifyAndSave(t, l, r, c3, "us-east", t0); !rep.Pass {
		t.Fatal("canary fails verify")
	}
	if _, err := promote(c3, true, t0.Add(20*time.Minute)); !errors.Is(err, ErrBakeNotComplete) || !strings.Contains(err.Error(), "40m0s of the 1h0m0s bake remain") {
		t.Fatalf("after 20m: err %v, want ErrBakeNotComplete", err)
	}
	if _, ok := remoteRef(t, r, "refs/heads/production-baked"); ok {
		t.Fatal("production-baked moved before the bake time")
	}
	// The rest of the bake (the canary watched throughout, re-verified,
	// production-baked moved) is TestBakeWatchesTheCanary's.
	// Promoting again is a no-op, not an error.
	if pr, err := promote(c3, false, t0); err != nil || !pr.AlreadyThere {
		t.Fatalf("again: %+v %v", pr, err)
	}
}

func TestSaveKeepsFirstRecord(t *testing.T) {
	l := newLab(t)
	r := newTestRepo(t)
	h := r.commit(goodParams(l.fwdPort), "good")
	t0 := time.Date(2026, 7, 21, 12, 0, 0, 0, time.UTC)
	verifyAndSave(t, l, r, h, "staging", t0)
	verifyAndSave(t, l, r, h, "staging", t0.Add(time.Hour))
	rec, err := LoadRecord(r.repo, "staging", h.String())
	if err != nil {
		t.Fatal(err)
	}
	if !rec.When.Equal(t0) || rec.Report.Revision != h.String() || !rec.Report.Pass {
		t.Fatalf("record %+v, want the first one at %s", rec, t0)
	}
	// A failing report is never recorded.
	if _, err := Save(r.repo, &Report{Revision: h.String(), Cluster: "staging"}, operator, false); err == nil {
		t.Fatal("a failing report was recorded")
	}
	// A tag that is not a dnsctl record does not count.
	if _, err := r.repo.CreateTag("verified/us-east/"+h.String(), h, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRecord(r.repo, "us-east", h.String()); !errors.Is(err, ErrNotVerified) {
		t.Fatalf("lightweight tag accepted: %v", err)
	}
}

func TestPromoteLocalOnly(t *testing.T) {
	l := newLab(t)
	r := newTestRepo(t)
	h := r.commit(goodParams(l.fwdPort), "good")
	verifyAndSave(t, l, r, h, "staging", time.Now())
	pr, err := Promote(context.Background(), PromoteOptions{Repo: r.repo, Revision: r.load(h), To: "production"})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := r.repo.Reference(pr.Ref, false)
	if err != nil || ref.Hash() != h {
		t.Fatalf("local %s: %v %v", pr.Ref, ref, err)
	}
}
