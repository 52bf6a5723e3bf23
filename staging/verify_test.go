package staging

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/staging/stagingtest"
	"github.com/miekg/dns"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func findCheck(t *testing.T, rep *Report, kind Kind, node, subject string) Check {
	t.Helper()
	for _, c := range rep.Checks {
		if c.Kind == kind && c.Node == node && c.Subject == subject {
			return c
		}
	}
	t.Fatalf("no %s check %q on %q in %+v", kind, subject, node, rep.Checks)
	return Check{}
}

func TestVerify(t *testing.T) {
	l := newLab(t)
	r := newTestRepo(t)
	good := r.load(r.commit(goodParams(l.fwdPort), "good"))
	p := goodParams(l.fwdPort)
	p.Serial, p.DBPrimary = 2, "198.18.5.99"
	badGate := r.load(r.commit(p, "db-primary moves"))
	p = goodParams(l.fwdPort)
	p.Serial, p.Intranet = 3, "198.18.5.81"
	badNonGate := r.load(r.commit(p, "intranet moves"))
	p = goodParams(deadPort(t))
	p.Serial = 4
	deadFwd := r.load(r.commit(p, "forward target gone"))

	tests := []struct {
		name     string
		rev      *model.Revision
		serve    func()
		wantPass bool
		check    func(t *testing.T, rep *Report)
	}{
		{"good revision passes", good, func() { l.serve("staging", good) }, true, func(t *testing.T, rep *Report) {
			for _, n := range []string{"stg1", "stg2"} {
				if c := findCheck(t, rep, KindProbe, n, "db-primary"); c.Status != StatusPass {
					t.Errorf("%s db-primary: %+v", n, c)
				}
				// Drift: the zone says .21, the fallback .20: a warning naming both.
				c := findCheck(t, rep, KindFallback, n, "git.corp.internal. A")
				if c.Status != StatusWarn || !strings.Contains(c.Detail, "fallback says 198.18.5.20, normal resolution says 198.18.5.21") {
					t.Errorf("%s git drift: %+v", n, c)
				}
				if c := findCheck(t, rep, KindFallback, n, "db-primary.corp.internal. A"); c.Status != StatusPass {
					t.Errorf("%s db-primary fallback: %+v", n, c)
				}
				if c := findCheck(t, rep, KindFallback, n, "ct.log.example. A"); c.Status != StatusWarn || !strings.Contains(c.Detail, "answered from its fallback records") {
					t.Errorf("%s ct.log fallback: %+v", n, c)
				}
			}
			if c := findCheck(t, rep, KindForward, "", "partner.example. -> 127.0.0.4:"+itoa(l.fwdPort)); c.Status != StatusPass {
				t.Errorf("forward target: %+v", c)
			}
		}},
		{"broken gate probe fails", badGate, func() { l.serve("staging", badGate) }, false, func(t *testing.T, rep *Report) {
			c := findCheck(t, rep, KindProbe, "stg2", "db-primary")
			if c.Status != StatusFail || !strings.Contains(c.Detail, "lacks 198.18.5.10") {
				t.Errorf("db-primary: %+v", c)
			}
		}},
		{"broken non-gate probe warns", badNonGate, func() { l.serve("staging", badNonGate) }, true, func(t *testing.T, rep *Report) {
			if c := findCheck(t, rep, KindProbe, "stg1", "intranet"); c.Status != StatusWarn {
				t.Errorf("intranet: %+v", c)
			}
		}},
		{"dead forward target fails", deadFwd, func() { l.serve("staging", deadFwd) }, false, func(t *testing.T, rep *Report) {
			for _, c := range rep.Checks {
				if c.Kind == KindForward && c.Status != StatusFail {
					t.Errorf("forward: %+v", c)
				}
			}
		}},
		{"a node on another revision fails", good, func() { l.serve("staging", good); l.nodes["stg2"].serve(badGate) }, false, func(t *testing.T, rep *Report) {
			n := rep.Nodes[1]
			if n.Name != "stg2" || n.ServesRevision || n.Served != badGate.ID || !strings.Contains(n.Detail, "not "+good.ID+" after waiting") {
				t.Errorf("stg2: %+v", n)
			}
			for _, c := range rep.Checks {
				if c.Node == "stg2" {
					t.Errorf("check run on a node that does not serve the revision: %+v", c)
				}
			}
		}},
		{"waits for a node to apply", good, func() { l.serve("staging", badGate); l.nodes["stg1"].serveLater(good, 3); l.nodes["stg2"].serve(good) }, true, func(t *testing.T, rep *Report) {
			if n := rep.Nodes[0]; !n.ServesRevision || n.Polls != 4 {
				t.Errorf("stg1: %+v, want served after 4 polls", n)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.serve()
			opt := l.opts()
			opt.Wait = 5 * time.Second
			if !tc.wantPass && strings.Contains(tc.name, "another revision") {
				opt.Wait = 300 * time.Millisecond // it will never serve it
			}
			rep, err := Verify(context.Background(), tc.rev, "staging", opt)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Pass != tc.wantPass {
				var b strings.Builder
				rep.Render(&b, "text")
				t.Fatalf("pass %t, want %t:\n%s", rep.Pass, tc.wantPass, b.String())
			}
			tc.check(t, rep)
		})
	}
}

func TestVerifyCannotRun(t *testing.T) {
	r := newTestRepo(t)
	rev := r.load(r.commit(goodParams(53), "good"))
	if _, err := Verify(context.Background(), rev, "nowhere", Options{}); err == nil || !strings.Contains(err.Error(), `no such cluster "nowhere"`) {
		t.Fatalf("err %v", err)
	}
	if _, err := Verify(context.Background(), &model.Revision{}, "staging", Options{}); err == nil {
		t.Fatal("no error for a revision without id")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestReportGolden renders a passing and a failing verification in every
// format and compares with testdata/golden (ports and commit ids replaced).
func TestReportGolden(t *testing.T) {
	l := newLab(t)
	r := newTestRepo(t)
	good := r.load(r.commit(goodParams(l.fwdPort), "good"))
	p := goodParams(l.fwdPort)
	p.Serial, p.DBPrimary = 2, "198.18.5.99"
	bad := r.load(r.commit(p, "db-primary moves"))
	for _, tc := range []struct {
		name string
		rev  *model.Revision
	}{{"pass", good}, {"fail", bad}} {
		l.serve("staging", tc.rev)
		rep, err := Verify(context.Background(), tc.rev, "staging", l.opts())
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range Formats {
			var b strings.Builder
			if err := rep.Render(&b, format); err != nil {
				t.Fatal(err)
			}
			got := strings.NewReplacer(good.ID, "GOOD_REVISION", bad.ID, "BAD_REVISION",
				":"+itoa(int(l.port)), ":NODE_PORT", ":"+itoa(l.fwdPort), ":FWD_PORT").Replace(b.String())
			ext := map[string]string{"text": "txt", "markdown": "md", "json": "json", "html": "html"}[format]
			golden := filepath.Join("testdata", "golden", "verify-"+tc.name+"."+ext)
			if *update {
				os.MkdirAll(filepath.Dir(golden), 0o755)
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from %s:\n%s", format, golden, got)
			}
		}
	}
}

// FuzzParseReport: reports are read back from tag messages, which anyone
// with push access can write.
func FuzzParseReport(f *testing.F) {
	for _, name := range []string{"verify-pass.json", "verify-fail.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", "golden", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"revision": 1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := ParseReport(data)
		if err != nil {
			return
		}
		var b strings.Builder
		for _, format := range Formats {
			if err := rep.Render(&b, format); err != nil {
				t.Fatalf("%s: %v", format, err)
			}
		}
	})
}

// TestHTMLSelfContained: the page loads nothing from anywhere and runs no
// script; it draws the forwarder graph inline.
func TestHTMLSelfContained(t *testing.T) {
	for _, name := range []string{"verify-pass.html", "verify-fail.html"} {
		data, err := os.ReadFile(filepath.Join("testdata", "golden", name))
		if err != nil {
			t.Fatal(err)
		}
		page := strings.ReplaceAll(string(data), `xmlns="http://www.w3.org/2000/svg"`, "")
		for _, bad := range []string{"<script", "http://", "https://", "src=", "<link"} {
			if strings.Contains(page, bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
		for _, want := range []string{"<svg", ">staging</text>", ">us-east</text>", ">eu-west</text>", "us.corp.internal."} {
			if !strings.Contains(page, want) {
				t.Errorf("%s lacks %q", name, want)
			}
		}
	}
}

// TestSVGEscapes: names from the repo are escaped in the drawing.
func TestSVGEscapes(t *testing.T) {
	g := Graph{Clusters: []GraphCluster{{Name: "a<b>"}, {Name: "c&d"}}, Edges: []GraphEdge{{From: "a<b>", To: "c&d", Zone: "x\"y.", Target: "198.18.0.1:53", Cycle: true}}}
	svg := g.SVG()
	if strings.Contains(svg, "a<b>") || !strings.Contains(svg, "a&lt;b&gt;") || !strings.Contains(svg, "c&amp;d") || !strings.Contains(svg, "(cycle)") {
		t.Fatalf("svg not escaped:\n%s", svg)
	}
}

// clientsOnly stands for a node that answers only as clients ask (RD set,
// EDNS): anything else in class IN is REFUSED.
type clientsOnly struct{ *testNode }

func (c clientsOnly) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	if r.Question[0].Qclass == dns.ClassINET && (!r.RecursionDesired || r.IsEdns0() == nil) {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeRefused)
		w.WriteMsg(m)
		return
	}
	c.testNode.ServeDNS(w, r)
}

// Staging sends a probe as the nodes' own gate probes do and as clients ask,
// with RD and EDNS (package probe): a node that answers only such queries
// passes. (The node side is node/syncer's TestGateProbesAskAsStagingDoes.)
func TestVerifyProbesAskAsClients(t *testing.T) {
	l := newLab(t)
	r := newTestRepo(t)
	good := r.load(r.commit(goodParams(l.fwdPort), "good"))
	var hs []dns.Handler
	for range 2 {
		n := &testNode{}
		n.serve(good)
		hs = append(hs, clientsOnly{n})
	}
	opt := l.opts()
	opt.Port = uint16(stagingtest.StartNodes(t, []string{"127.0.0.2", "127.0.0.3"}, hs))
	rep, err := Verify(context.Background(), good, "staging", opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"stg1", "stg2"} {
		if c := findCheck(t, rep, KindProbe, n, "db-primary"); c.Status != StatusPass {
			t.Errorf("%s db-primary: %+v", n, c)
		}
	}
}
