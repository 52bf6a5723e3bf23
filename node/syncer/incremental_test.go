package syncer

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gitops-dns/resolverd/cluster"
	"github.com/gitops-dns/resolverd/cluster/gitrepo"
	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/fastpath"
	"github.com/gitops-dns/resolverd/node"
	"github.com/gitops-dns/resolverd/zones"
)

// randomRepo is the state of a generated config repo the equivalence test
// changes step by step: zones (origin -> data lines), their serials, the
// policy's TTL bounds and the cluster's forward rules.
type randomRepo struct {
	r       *rand.Rand
	zones   map[string][]string
	serials map[string]int
	minTTL  int
	forward []string
	next    int // for unique names and addresses
	// repair is a zone a step left broken or without a new serial: the
	// next step fixes it as well (a repo broken for good tests nothing).
	repair string
}

func (s *randomRepo) zoneText(origin string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s\n$TTL 300\n@ IN SOA ns1.corp.internal. hostmaster.corp.internal. %d 3600 600 1209600 300\n", origin, s.serials[origin])
	b.WriteString("  IN NS ns1.corp.internal.\n  IN NS ns2.corp.internal.\n")
	for _, l := range s.zones[origin] {
		b.WriteString(l + "\n")
	}
	return b.String()
}

func (s *randomRepo) record() string {
	s.next++
	return fmt.Sprintf("h%d IN A 198.18.%d.%d", s.next, 10+s.next/250%200, s.next%250+1)
}

func (s *randomRepo) origins() []string {
	var out []string
	for o := range s.zones {
		out = append(out, o)
	}
	sort.Strings(out)
	return out
}

func (s *randomRepo) clusterText() string {
	t := "name: dev\nenvironment: staging\ntrack: refs/heads/main\nnodes:\n  - {name: local, address: 127.0.0.1}\nrecursion:\n  allow: [127.0.0.0/8]\n"
	if len(s.forward) > 0 {
		t += "forward:\n"
		for _, f := range s.forward {
			t += "  - {zone: " + f + ", to: [198.18.9.9]}\n"
		}
	}
	return t
}

func (s *randomRepo) policyText() string {
	return fmt.Sprintf("fallback:\n  ttl: 30\nlimits:\n  max_delete_percent: 50\n  min_ttl: %d\n  max_ttl: 86400\n", s.minTTL)
}

// step makes one random change, writes what it touched and returns the
// commit message.
func (s *randomRepo) step(repo *testRepo) string {
	if o := s.repair; o != "" {
		s.repair = ""
		if _, ok := s.zones[o]; ok {
			s.serials[o]++
			repo.write("zones/"+o+"zone", s.zoneText(o))
		}
	}
	os := s.origins()
	o := os[s.r.IntN(len(os))]
	bump := s.r.IntN(10) != 0 // now and then a change forgets the serial
	msg := ""
	switch k := s.r.IntN(9); k {
	case 0, 1: // modify a record
		if n := len(s.zones[o]); n > 0 {
			i := s.r.IntN(n)
			name, _, _ := strings.Cut(s.zones[o][i], " ")
			s.next++
			s.zones[o][i] = fmt.Sprintf("%s IN A 198.18.%d.%d", name, 200+s.next%50, s.next%250+1)
		}
		msg = "modify a record of " + o
	case 2: // add records
		for range 1 + s.r.IntN(3) {
			s.zones[o] = append(s.zones[o], s.record())
		}
		msg = "add records to " + o
	case 3: // remove a record
		if n := len(s.zones[o]); n > 1 {
			i := s.r.IntN(n)
			s.zones[o] = slices.Delete(s.zones[o], i, i+1)
		}
		msg = "remove a record of " + o
	case 4: // a new zone, sometimes below a served one
		s.next++
		n := fmt.Sprintf("svc%d.example.", s.next)
		if s.r.IntN(2) == 0 {
			n = fmt.Sprintf("team%d.corp.internal.", s.next)
		}
		s.zones[n] = []string{s.record(), s.record()}
		s.serials[n] = 1
		repo.write("zones/"+n+"zone", s.zoneText(n))
		return "add zone " + n
	case 5: // delete a zone (not the one the probe and fallback name)
		if o == "corp.internal." || len(os) < 3 {
			return s.step(repo)
		}
		delete(s.zones, o)
		if _, err := repo.wt.Remove(cfgPath + "/zones/" + o + "zone"); err != nil {
			panic(err)
		}
		msg = "delete zone " + o
		if s.r.IntN(2) == 0 {
			msg += "\n\nDNS-Allow-Mass-Delete: retired"
		}
		return msg
	case 6: // policy: the TTL bounds (lint again)
		s.minTTL = []int{30, 30, 60}[s.r.IntN(3)]
		repo.write("policy.yaml", s.policyText())
		return "policy min_ttl " + fmt.Sprint(s.minTTL)
	case 7: // forward rules inside the served zones come and go
		f := fmt.Sprintf("fw%d.corp.internal.", s.r.IntN(3))
		if i := slices.Index(s.forward, f); i >= 0 {
			s.forward = slices.Delete(s.forward, i, i+1)
		} else {
			s.forward = append(s.forward, f)
		}
		repo.write("clusters/dev.yaml", s.clusterText())
		return "forward " + f
	case 8: // a broken record
		s.zones[o] = append(s.zones[o], "bad IN A 300.1.1.1")
		repo.write("zones/"+o+"zone", s.zoneText(o))
		s.zones[o] = s.zones[o][:len(s.zones[o])-1]
		s.repair = o
		return "break " + o
	}
	if bump {
		s.serials[o]++
	} else {
		s.repair = o
	}
	repo.write("zones/"+o+"zone", s.zoneText(o))
	return msg
}

// TestIncrementalApplyEqualsFullLoad applies a series of random changes
// (records modified, added and removed; zones added, some below a served
// zone, and deleted, with and without the trailer; the policy's TTL bounds;
// forward rules inside the zones; broken records; forgotten serials)
// through the syncer, which reuses what each revision shares with the last
// good one, and checks every verdict, findings, snapshot and the fast
// path's precomputed answers against a full load of the same commit
// checked against a full load of the same base.
func TestIncrementalApplyEqualsFullLoad(t *testing.T) {
	const steps = 40
	repo := newTestRepo(t)
	s := &randomRepo{r: rand.New(rand.NewPCG(21, 1)), zones: map[string][]string{}, serials: map[string]int{}, minTTL: 30}
	s.zones["corp.internal."] = []string{"ns1 IN A 198.18.1.1", "ns2 IN A 198.18.2.1", "db-primary IN A 198.18.5.10", "low 45 IN A 198.18.7.7"}
	s.serials["corp.internal."] = 1
	for i := range 3 {
		o := fmt.Sprintf("z%d.example.", i)
		for range 20 {
			s.zones[o] = append(s.zones[o], s.record())
		}
		s.serials[o] = 1
	}
	for _, o := range s.origins() {
		repo.write("zones/"+o+"zone", s.zoneText(o))
	}
	repo.write("policy.yaml", s.policyText())
	repo.write("clusters/dev.yaml", s.clusterText())
	repo.commit("start")

	g, _ := newTestGitOps(t, repo.dir, t.TempDir())
	g.cfg.Probes = false
	logged := &findingLog{Logger: g.log}
	g.log = logged
	var fullBase *model.Revision // the last applied commit, loaded whole
	var answers *fastpath.Answers
	applied, rejected, shared := 0, 0, 0
	var pending []plumbing.Hash // commits since the last applied one
	for i := 0; i <= steps; i++ {
		msg := "start"
		if i > 0 {
			msg = s.step(repo)
		}
		id := repo.commit(msg)
		pending = append(pending, plumbing.NewHash(id))
		prev := g.holder.Snapshot()
		logged.lines = nil
		a := g.SyncOnce(bg)

		full, findings, err := gitrepo.LoadCommit(repo.repo, plumbing.NewHash(id), cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		findings = append(findings, cluster.Check(full, fullBase)...)
		if fullBase != nil {
			// Several commits since the last good one: deletions judged
			// per commit, the intermediate ones loaded whole too (a base
			// without ZoneFiles gives them nothing to reuse).
			whole := *fullBase
			whole.ZoneFiles = nil
			findings = g.judgeEachCommit(repo.repo, full, findings, &whole, &gitrepo.Lineage{FirstParent: pending})
		}
		var want []string
		for _, f := range findings {
			want = append(want, f.String())
		}
		wantResult := ResultApplied
		if zones.HasErrors(findings) {
			wantResult = ResultRejected
		}
		// Every finding is logged, applied or not (Attempt keeps the
		// first ones of a refused revision only).
		if a.Result != wantResult || !slices.Equal(logged.lines, want) {
			t.Fatalf("step %d (%s): incremental %s %v\nfull load: %s %v", i, firstLine(msg), a.Result, logged.lines, wantResult, want)
		}
		if a.Result == ResultRejected {
			rejected++
			if g.holder.Snapshot() != prev {
				t.Fatalf("step %d: a rejected revision changed what is served", i)
			}
			continue
		}
		applied++
		pending = nil
		snap := g.holder.Snapshot()
		want2, err := node.NewSnapshot(full, g.cfg.Cluster, g.cfg.Node)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(snap, want2) {
			t.Fatalf("step %d (%s): the snapshot differs from a full load's: %s", i, firstLine(msg), snapshotDiff(snap, want2))
		}
		if prev != nil {
			for _, z := range snap.Revision.Zones {
				if slices.Contains(prev.Revision.Zones, z) {
					shared++
				}
			}
		}
		inc, err := fastpath.BuildFrom(answers, snap, fastpath.BuildOptions{})
		if err != nil {
			t.Fatal(err)
		}
		whole, err := fastpath.Build(want2, fastpath.BuildOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(inc, whole) {
			t.Fatalf("step %d (%s): the precomputed answers differ from a full build's", i, firstLine(msg))
		}
		answers, fullBase = inc, full
	}
	// The series must have exercised both verdicts and the reuse itself.
	if applied < steps/3 || rejected == 0 || shared == 0 {
		t.Fatalf("%d applied, %d rejected, %d zones shared with the previous revision: the series did not exercise the reuse", applied, rejected, shared)
	}
	t.Logf("%d applied, %d rejected, %d zones shared", applied, rejected, shared)
}

// findingLog is the syncer's logger that also keeps the findings it logs
// (the lines Warning and Error get).
type findingLog struct {
	Logger
	lines []string
}

func (l *findingLog) Warning(args ...any) {
	l.lines = append(l.lines, fmt.Sprint(args...))
	l.Logger.Warning(args...)
}
func (l *findingLog) Error(args ...any) {
	l.lines = append(l.lines, fmt.Sprint(args...))
	l.Logger.Error(args...)
}

// snapshotDiff names the first fields of two snapshots that differ.
func snapshotDiff(a, b *node.Snapshot) string {
	var out []string
	va, vb := reflect.ValueOf(*a), reflect.ValueOf(*b)
	for i := range va.NumField() {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			out = append(out, va.Type().Field(i).Name)
		}
	}
	ra, rb := reflect.ValueOf(*a.Revision), reflect.ValueOf(*b.Revision)
	for i := range ra.NumField() {
		if !reflect.DeepEqual(ra.Field(i).Interface(), rb.Field(i).Interface()) {
			out = append(out, "Revision."+ra.Type().Field(i).Name)
		}
	}
	for k, f := range a.Revision.ZoneFiles {
		if g := b.Revision.ZoneFiles[k]; !reflect.DeepEqual(f, g) {
			out = append(out, fmt.Sprintf("ZoneFiles[%s] %+v %+v", k, *f, *g))
		}
	}
	return strings.Join(out, ", ")
}
