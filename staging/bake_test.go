package staging

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/probe"
	"github.com/gitops-dns/resolverd/staging/stagingtest"
	"github.com/go-git/go-git/v5/plumbing"
)

// The canary's self-probe history in these tests: a run every 50 ms, a gap
// longer than 1 s is a gap (loaded CI machines delay a tick by far less),
// a bake of 2 s.
const (
	testInterval = 50 * time.Millisecond
	testMaxGap   = time.Second
	testBake     = 2 * time.Second
)

// bakeFixture is a revision promoted to the canary us-east, whose node ns1
// (a DNS server on 127.0.0.5) probes itself and serves its history on a
// status endpoint, as resolverd does; the bake started when the canary's
// verification was recorded.
type bakeFixture struct {
	l       *lab
	r       *testRepo
	good    plumbing.Hash
	broken  *model.Revision // the data of a revision whose gate probe db-primary fails
	status  *stagingtest.StatusNode
	started time.Time // the canary's recorded verification: the bake's start
	from    time.Time // the window judged: from the second after the record (whole seconds in git)
}

func newBakeFixture(t *testing.T) *bakeFixture { return newBakeFixtureProbing(t, "") }

// newBakeFixtureProbing is newBakeFixture whose canary node probes itself
// at selfIP ("" = its own address, 127.0.0.5), serving what the canary
// serves there: a node whose own path works while the clients' does not.
func newBakeFixtureProbing(t *testing.T, selfIP string) *bakeFixture {
	t.Helper()
	f := &bakeFixture{l: newLab(t), r: newTestRepo(t)}
	f.good = f.r.commit(goodParams(f.l.fwdPort), "good")
	p := goodParams(f.l.fwdPort)
	p.Serial, p.DBPrimary = 2, "198.18.5.99"
	f.broken = f.r.load(f.r.commit(p, "breaks db-primary"))

	canary := f.l.nodes["us-east/ns1"]
	if selfIP == "" {
		selfIP = "127.0.0.5"
	}
	dnsAddr := netip.AddrPortFrom(netip.MustParseAddr(selfIP), f.l.port).String()
	f.status = stagingtest.StartStatus(t, "127.0.0.5", "us-east", "ns1", testInterval, testMaxGap,
		func() (string, string, []model.Probe) {
			canary.mu.Lock()
			defer canary.mu.Unlock()
			if canary.served == nil {
				return dnsAddr, "", nil
			}
			return dnsAddr, canary.served.ID, canary.served.Probes
		})

	if rep := verifyAndSave(t, f.l, f.r, f.good, "staging", time.Now()); !rep.Pass {
		t.Fatal("staging fails verify")
	}
	if _, err := f.promote(false); err != nil {
		t.Fatal(err)
	}
	// The canary takes the revision; its verification, when recorded,
	// starts the bake.
	rev := f.r.load(f.good)
	f.l.serve("us-east", rev)
	rep, err := Verify(context.Background(), rev, "us-east", f.l.opts())
	if err != nil || !rep.Pass {
		t.Fatalf("canary fails verify: %v %+v", err, rep)
	}
	f.started = time.Now()
	f.from = f.started.Truncate(time.Second).Add(time.Second)
	who := operator
	who.When = f.started
	if _, err := Save(f.r.repo, rep, who, false); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *bakeFixture) promote(afterBake bool) (*Promotion, error) {
	return f.promoteWatching(afterBake, nil)
}

func (f *bakeFixture) promoteWatching(afterBake bool, watch *WatchOptions) (*Promotion, error) {
	rev := f.r.load(f.good)
	return Promote(context.Background(), PromoteOptions{
		Repo: f.r.repo, Revision: rev, To: "production", Remote: "origin", Who: operator,
		AfterBake: afterBake, Bake: testBake, Watch: watch,
		ReVerify: func(ctx context.Context, clusterName string) (*Report, error) {
			return Verify(ctx, rev, clusterName, f.l.opts())
		},
		Status: StatusOptions{Addrs: map[string]netip.AddrPort{"ns1": f.status.Addr}, Timeout: time.Second},
	})
}

// at sleeps until d into the window judged.
func (f *bakeFixture) at(d time.Duration) { time.Sleep(time.Until(f.from.Add(d))) }

// breakAt makes the canary answer the revision's id with the data of the
// broken one (its gate probe db-primary fails) from d into the window.
func (f *bakeFixture) breakAt(d time.Duration) {
	f.at(d)
	f.l.nodes["us-east/ns1"].serveAs(f.r.load(f.good), f.broken)
}

// TestBakeWatchesTheCanary: promote --after-bake judges the canary by what
// its node saw throughout the bake, not only at its end (seed 000: a canary
// that broke in the middle of its bake and recovered passed).
func TestBakeWatchesTheCanary(t *testing.T) {
	for _, tc := range []struct {
		name   string
		during func(f *bakeFixture) // what happens in the bake
		want   []string             // in the refusal; none: the promotion passes
	}{
		{name: "healthy", during: func(*bakeFixture) {}},
		{
			name: "fails mid-bake and recovers",
			during: func(f *bakeFixture) {
				f.breakAt(600 * time.Millisecond)
				f.at(1100 * time.Millisecond)
				f.l.serve("us-east", f.r.load(f.good))
			},
			want: []string{"us-east/ns1: failed its gate probes from ", "probe db-primary (db-primary.corp.internal. A @127.0.0.5:",
				"lacks 198.18.5.10", "198.18.5.99"},
		},
		{
			name: "down mid-bake: status unreachable, history restarted",
			during: func(f *bakeFixture) {
				f.at(300 * time.Millisecond)
				f.status.Stop()
				f.at(300*time.Millisecond + testMaxGap + 500*time.Millisecond)
				f.status.Start()
			},
			want: []string{"us-east/ns1: no self-probe result from ", "its history starts at"},
		},
		{
			name:   "status unreachable at the end",
			during: func(f *bakeFixture) { f.status.Stop() },
			want:   []string{"us-east/ns1: its status cannot be read", "nothing shows it passed its probes during the bake"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newBakeFixture(t)
			tc.during(f)
			f.at(testBake + 100*time.Millisecond)

			// What the old gate judged by: the canary passes now.
			if rep, err := Verify(context.Background(), f.r.load(f.good), "us-east", f.l.opts()); err != nil || !rep.Pass {
				t.Fatalf("re-verification at the end of the bake: %v %+v", err, rep)
			}
			pr, err := f.promote(true)
			baked, _ := remoteRef(t, f.r, "refs/heads/production-baked")
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if baked != f.good || len(pr.Watched) != 1 || len(pr.Watched[0].Problems) != 0 || pr.Watched[0].Runs < 10 {
					t.Fatalf("production-baked at %s, watched %+v", baked, pr.Watched)
				}
				if s := pr.Watched[0].Summary(); !strings.Contains(s, "us-east/ns1 passed its gate probes throughout the bake") {
					t.Fatalf("summary %q", s)
				}
				if _, ok := remoteRef(t, f.r, BakedTag("us-east", f.good.String()).String()); !ok || len(pr.Baked) != 1 {
					t.Fatal("the bake record was not pushed")
				}
				return
			}
			t.Logf("refusal: %v", err)
			var be *BakeError
			if !errors.Is(err, ErrBakeFailed) || !errors.As(err, &be) {
				t.Fatalf("err %v, want ErrBakeFailed", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("refusal lacks %q:\n%v", w, err)
				}
			}
			if !baked.IsZero() {
				t.Fatal("production-baked moved")
			}
			if _, ok := remoteRef(t, f.r, BakedTag("us-east", f.good.String()).String()); ok {
				t.Fatal("a bake record was pushed")
			}
		})
	}
}

// TestBakeWatchedLive: with WatchOptions, promote --after-bake run before
// the bake ends waits it out, probing the canary itself meanwhile: it
// refuses at the first problem, before the bake ends, also one the node's
// own self-probes do not see (its clients' path broken, its own fine).
func TestBakeWatchedLive(t *testing.T) {
	for _, tc := range []struct {
		name   string
		selfIP string             // where the canary probes itself ("" its own address)
		during func(*bakeFixture) // in the bake, while promote waits
		want   []string           // in the refusal; none: the promotion passes
	}{
		{name: "healthy", during: func(*bakeFixture) {}},
		{
			name:   "fails mid-bake: refused at once",
			during: func(f *bakeFixture) { f.breakAt(600 * time.Millisecond) },
			// Whichever look sees it first: the node's history or dnsctl's probes.
			want: []string{"us-east/ns1", "failed its gate probes from ", "lacks 198.18.5.10"},
		},
		{
			name:   "the clients' path breaks, the node's own does not",
			selfIP: "127.0.0.2", // stg1, serving the same revision
			during: func(f *bakeFixture) { f.breakAt(600 * time.Millisecond) },
			want:   []string{"us-east/ns1, probed by dnsctl: failed its gate probes from ", "@127.0.0.5:", "lacks 198.18.5.10"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newBakeFixtureProbing(t, tc.selfIP)
			f.l.serve("staging", f.r.load(f.good))
			go tc.during(f)
			var lines []string
			pr, err := f.promoteWatching(true, &WatchOptions{Every: 100 * time.Millisecond, Probe: f.l.opts(), Progress: func(s string) { lines = append(lines, s) }})
			done := time.Now()
			baked, _ := remoteRef(t, f.r, "refs/heads/production-baked")
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if done.Before(f.started.Truncate(time.Second).Add(testBake)) || baked != f.good || len(lines) == 0 {
					t.Fatalf("returned at %s (bake from %s), production-baked at %s, progress %q", done, f.started, baked, lines)
				}
				live := 0
				for _, w := range pr.Watched {
					if w.Live && len(w.Problems) == 0 && w.Runs >= 5 {
						live++
					}
				}
				if live != 1 || !strings.Contains(pr.Watched[0].Summary(), "runs of dnsctl probing it") {
					t.Fatalf("watched %+v", pr.Watched)
				}
				return
			}
			t.Logf("refusal: %v", err)
			if !errors.Is(err, ErrBakeFailed) {
				t.Fatalf("err %v, want ErrBakeFailed", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("refusal lacks %q:\n%v", w, err)
				}
			}
			if !done.Before(f.from.Add(testBake)) {
				t.Errorf("refused at %s, after the bake's end %s: not at once", done, f.from.Add(testBake))
			}
			if !baked.IsZero() {
				t.Fatal("production-baked moved")
			}
		})
	}
}

// TestJudgeHistory: the verdict over a window, from histories written out.
func TestJudgeHistory(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 15, 0, 0, 0, time.UTC)
	at := func(m float64) time.Time { return t0.Add(time.Duration(m * float64(time.Minute))) }
	span := func(from, to float64, rev string, failed ...string) probe.Span {
		return probe.Span{From: at(from), To: at(to), Runs: int((to-from)*4) + 1, Revision: rev, Pass: len(failed) == 0, Failed: failed}
	}
	hist := func(since float64, spans ...probe.Span) *probe.History {
		return &probe.History{IntervalSeconds: 15, MaxGapSeconds: 40, Since: at(since), Spans: spans}
	}
	for _, tc := range []struct {
		name string
		n    int // problems; 0: passes
		h    *probe.History
		want []string // in the problems
	}{
		{"covered", 0, hist(-90, span(-90, -0.25, "old"), span(0, 70, "rev")), nil},
		{"run just before the start vouches for it", 0, hist(-5, span(-5, -0.5, "old"), span(0.2, 60.3, "rev")), nil},
		{"failure in the middle", 1, hist(-1, span(-1, 20, "rev"), span(20.25, 25, "rev", "zones:3:5: probe db: rcode SERVFAIL, want NOERROR"), span(25.25, 60, "rev")),
			[]string{"failed its gate probes from 2026-12-03T15:20:15Z to 2026-12-03T15:25:00Z (4m45s, 20 runs): zones:3:5: probe db: rcode SERVFAIL, want NOERROR"}},
		{"another revision served", 1, hist(-1, span(-1, 30, "rev"), span(30.25, 60, "other")), []string{"served other, not rev"}},
		{"restarted", 1, hist(12, span(12, 60, "rev")), []string{"no self-probe result from 2026-12-03T15:00:00Z to 2026-12-03T15:12:00Z (12m0s", "its history starts at 2026-12-03T15:12:00Z"}},
		{"gap inside", 1, hist(-1, span(-1, 20, "rev"), span(22, 60, "rev")), []string{"no self-probe result from 2026-12-03T15:20:00Z to 2026-12-03T15:22:00Z (2m0s", "not probing itself"}},
		{"stopped before the end", 1, hist(-1, span(-1, 50, "rev")), []string{"no self-probe result from 2026-12-03T15:50:00Z to 2026-12-03T16:00:00Z"}},
		{"dropped", 1, &probe.History{IntervalSeconds: 15, MaxGapSeconds: 40, Since: at(-100), Dropped: 3, Spans: []probe.Span{span(5, 60, "rev")}}, []string{"older spans were dropped"}},
		{"empty", 1, hist(-1), []string{"no self-probe result from 2026-12-03T15:00:00Z to 2026-12-03T16:00:00Z"}},
		{"no gap bound", 1, &probe.History{Spans: []probe.Span{span(-1, 60, "rev")}}, []string{"no maximum gap"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, problems := judgeHistory(tc.h, "rev", t0, at(60))
			if len(problems) != tc.n {
				t.Fatalf("problems %q, want %d", problems, tc.n)
			}
			for _, w := range tc.want {
				if !strings.Contains(strings.Join(problems, "\n"), w) {
					t.Errorf("problems %q lack %q", problems, w)
				}
			}
		})
	}
}
