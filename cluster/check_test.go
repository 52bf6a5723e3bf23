package cluster

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/zones"
)

func TestCheckGood(t *testing.T) {
	rev, fs := Load(mapFS(goodRepo), "")
	fs = append(fs, Check(rev, nil)...)
	if len(fs) != 0 {
		t.Fatalf("findings on the good repo:\n%s", findingStrings(fs))
	}
}

// TestSeed004LetsEncrypt is the Let's Encrypt outage of 2025-07-21: four
// resolver replicas whose setup script pointed each one's forwarder at
// another replica, in turn. As four clusters of one node each, the revision
// is refused and the message names the whole chain with each rule's line.
func TestSeed004LetsEncrypt(t *testing.T) {
	files := map[string]string{
		"zones/corp.example.zone": goodRepo["zones/corp.example.zone"],
	}
	for i := 1; i <= 4; i++ {
		next := i%4 + 1
		files[fmt.Sprintf("clusters/r%d.yaml", i)] = fmt.Sprintf(`name: r%d
environment: production
nodes:
  - {name: dns, address: 198.18.4.%d}
zones: [corp.example.]
forward:
  - zone: .
    to: [198.18.4.%d]
`, i, i, next)
	}
	r := newTestRepo(t)
	h := r.commit("replicas forward to each other", prefixed("le", files))
	rev, fs, err := LoadCommit(r.repo, h, "le")
	if err != nil || len(fs) != 0 {
		t.Fatalf("load: %v\n%s", err, findingStrings(fs))
	}
	got := errorsOnly(Check(rev, nil))
	want := "le/clusters/r1.yaml:7:5: error: forward-cycle: forwarder cycle for names at or below .: " +
		"r1 -[.]-> r2 -[.]-> r3 -[.]-> r4 -[.]-> r1 " +
		"(rules: le/clusters/r1.yaml:7, le/clusters/r2.yaml:7, le/clusters/r3.yaml:7, le/clusters/r4.yaml:7)"
	if len(got) != 1 || got[0].String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", findingStrings(got), want)
	}

	// The same four replicas as one cluster: every forwarder is a peer.
	one := map[string]string{
		"zones/corp.example.zone": goodRepo["zones/corp.example.zone"],
		"clusters/le.yaml": `name: le
environment: production
nodes:
  - {name: r1, address: 198.18.4.1}
  - {name: r2, address: 198.18.4.2}
  - {name: r3, address: 198.18.4.3}
  - {name: r4, address: 198.18.4.4}
forward:
  - zone: .
    to: [198.18.4.2, 198.18.4.3]
`,
	}
	h = r.commit("one cluster", prefixed("le", with(one, map[string]string{
		"clusters/r1.yaml": "", "clusters/r2.yaml": "", "clusters/r3.yaml": "", "clusters/r4.yaml": "",
	})))
	rev, _, err = LoadCommit(r.repo, h, "le")
	if err != nil {
		t.Fatal(err)
	}
	var peers []string
	for _, f := range errorsOnly(Check(rev, nil)) {
		peers = append(peers, f.Rule+" "+f.Pos.String())
	}
	if strings.Join(peers, ";") != "forward-peer le/clusters/le.yaml:10:10;forward-peer le/clusters/le.yaml:10:22" {
		t.Errorf("peer findings: %v", peers)
	}
}

func TestForwardGraphEdges(t *testing.T) {
	files := with(goodRepo, map[string]string{
		"clusters/us-east.yaml": replace(usEast, "to: [198.18.9.1, \"198.18.9.2:5353\"]", "to: [198.18.2.1, 198.18.1.1, 198.18.9.2]"),
		"clusters/eu-west.yaml": replace(euWest, "forward:\n", "forward:\n  - zone: partner.example.\n    to: [198.18.1.2]\n"),
	})
	rev, fs := Load(mapFS(files), "")
	if len(fs) != 0 {
		t.Fatal(findingStrings(fs))
	}
	g := ForwardGraph(rev)
	var got []string
	for _, e := range g.Edges {
		got = append(got, fmt.Sprintf("%s -[%s]-> %s %s/%s peer=%v cycle=%v", e.From, e.Rule.Zone, e.Target, e.To, e.ToNode, e.Peer, e.InCycle))
	}
	want := []string{
		"eu-west -[partner.example.]-> 198.18.1.2:53 us-east/ns2 peer=false cycle=true",
		"eu-west -[18.198.in-addr.arpa.]-> 198.18.1.1:53 us-east/ns1 peer=false cycle=false",
		"eu-west -[18.198.in-addr.arpa.]-> 198.18.1.2:53 us-east/ns2 peer=false cycle=false",
		"us-east -[partner.example.]-> 198.18.2.1:53 eu-west/ns1 peer=false cycle=true",
		"us-east -[partner.example.]-> 198.18.1.1:53 us-east/ns1 peer=true cycle=false",
		"us-east -[partner.example.]-> 198.18.9.2:53 / peer=false cycle=false",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("edges:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(g.Cycles) != 1 || g.Cycles[0].Chain() != "eu-west -[partner.example.]-> us-east -[partner.example.]-> eu-west" {
		t.Errorf("cycles: %+v", g.Cycles)
	}
}

func TestTrailer(t *testing.T) {
	for _, tc := range []struct {
		msg, reason string
		ok          bool
	}{
		{"Delete old zone\n\nDNS-Allow-Mass-Delete: decommissioned\n", "decommissioned", true},
		{"Delete\n\nBody text.\n\nSigned-off-by: A <a@b>\ndns-allow-mass-delete:  lab gone \n", "lab gone", true},
		{"Delete\n\nDNS-Allow-Mass-Delete: in the body\n\nOther paragraph.\n", "", false},
		{"DNS-Allow-Mass-Delete:\n", "", true},
		{"no trailer", "", false},
	} {
		reason, ok := Trailer(tc.msg, MassDeleteTrailer)
		if reason != tc.reason || ok != tc.ok {
			t.Errorf("Trailer(%q) = %q, %v; want %q, %v", tc.msg, reason, ok, tc.reason, tc.ok)
		}
	}
}

func TestSerialIncreased(t *testing.T) {
	for _, tc := range []struct {
		old, cur uint32
		want     bool
	}{
		{1, 2, true}, {2, 2, false}, {2, 1, false},
		{4294967295, 0, true}, {4294967000, 5, true}, // wraps forward (RFC 1982)
		{2026010101, 5, false}, {0, 1 << 31, false},
	} {
		if got := serialIncreased(tc.old, tc.cur); got != tc.want {
			t.Errorf("serialIncreased(%d, %d) = %v", tc.old, tc.cur, got)
		}
	}
}

func TestWireKeys(t *testing.T) {
	wp := newWirePacker()
	k1, t1 := wp.wireKeys(mustRR("WWW.Example. 300 IN A 198.18.0.1"))
	k2, t2 := wp.wireKeys(mustRR("www.example. 600 IN A 198.18.0.1"))
	k3, _ := wp.wireKeys(mustRR("www.example. 300 IN A 198.18.0.2"))
	_, t4 := wp.wireKeys(mustRR("www.example. 300 IN A 198.18.0.1"))
	if k1 != k2 || t1 == t2 || k1 == k3 || t1 != t4 {
		t.Errorf("keys: owner case or TTL handled wrongly (%q %q %q)", k1, k2, k3)
	}
}

// TestWireKeysLeaveRecordsAlone: the keys are taken from records a served
// revision shares; dns.PackRR would write their Rdlength.
func TestWireKeysLeaveRecordsAlone(t *testing.T) {
	rr := mustRR("www.example. 300 IN A 198.18.0.1")
	before := dns.Copy(rr)
	newWirePacker().wireKeys(rr)
	if *rr.Header() != *before.Header() {
		t.Errorf("wireKeys wrote the record: %+v, was %+v", rr.Header(), before.Header())
	}
}

// randomZonePair returns the text of a small random zone and of a
// random edit of it, and both parsed: records added, removed, swapped,
// duplicated, their TTL, owner case, data or a name's case in the data
// changed, apex NS moved or dropped, the serial often forgotten; owners
// are sometimes written with escapes.
func randomZonePair(r *rand.Rand) (bText, hText string, bz, hz *zones.Zone) {
	line := func() string {
		owner := []string{"@", "www", "WWW", "db", "mail", "h1", "H1", "x.sub", `\119ww`}[r.IntN(9)]
		ttl := []string{"", "300 ", "600 "}[r.IntN(3)]
		switch r.IntN(7) {
		case 0:
			return fmt.Sprintf("%s %sIN AAAA 2001:db8::%d", owner, ttl, r.IntN(4))
		case 1:
			return fmt.Sprintf("%s %sIN TXT \"t%d\"", owner, ttl, r.IntN(3))
		case 2:
			return fmt.Sprintf("%s %sIN MX 10 %s", owner, ttl, []string{"mail", "MAIL", "mx.corp.internal."}[r.IntN(3)])
		case 3:
			return fmt.Sprintf("@ %sIN NS %s", ttl, []string{"ns3.corp.internal.", "NS3.corp.internal.", "ns4.corp.internal."}[r.IntN(3)])
		}
		return fmt.Sprintf("%s %sIN A 198.18.0.%d", owner, ttl, r.IntN(4))
	}
	text := func(serial int, lines []string) string {
		return fmt.Sprintf("$ORIGIN example.\n$TTL 300\n@ IN SOA ns1.corp.internal. h.corp.internal. %d 3600 600 1209600 300\n@ IN NS ns1.corp.internal.\n@ IN NS ns2.corp.internal.\n%s\n", serial, strings.Join(lines, "\n"))
	}
	base := make([]string, 5+r.IntN(30))
	for j := range base {
		base[j] = line()
	}
	head := slices.Clone(base)
	// where: a place in head, at either end half of the time (where
	// trimSame stops).
	where := func(n int) int {
		switch r.IntN(4) {
		case 0:
			return 0
		case 1:
			return max(0, n-1)
		}
		return r.IntN(max(1, n))
	}
	for range 1 + r.IntN(2)*r.IntN(3) {
		j := where(len(head))
		switch k := r.IntN(9); {
		case k == 0 && len(head) > 0:
			head = slices.Delete(head, j, j+1)
		case k == 1:
			head = slices.Insert(head, where(len(head)+1), line())
		case k == 2 && len(head) > 1:
			j = min(j, len(head)-2)
			head[j], head[j+1] = head[j+1], head[j]
		case k == 3 && len(head) > 0:
			head = slices.Insert(head, where(len(head)+1), head[j]) // a duplicate
		case k == 4: // the TTL alone
			head[j] = strings.Replace(strings.Replace(strings.Replace(head[j], " IN ", " 900 IN ", 1), " 300 900 ", " 300 ", 1), " 600 900 ", " 300 ", 1)
		case k == 5: // the owner's case alone
			if o, rest, ok := strings.Cut(head[j], " "); ok {
				head[j] = strings.ToUpper(o) + " " + rest
			}
		case k == 6: // the last digit of the data alone
			if i := strings.LastIndexAny(head[j], "0123"); i > 0 {
				head[j] = head[j][:i] + string("1230"[head[j][i]-'0']) + head[j][i+1:]
			}
		case k == 7: // the case of a name in the data alone
			head[j] = strings.Replace(head[j], "mail", "MAIL", 1)
		default:
			head[j] = line()
		}
	}
	bText = text(1, base)
	if r.IntN(4) == 0 {
		bText = strings.Replace(bText, "@ IN NS ns2.corp.internal.\n", "", 1) + "@ IN NS ns2.corp.internal.\n"
	}
	hText = text(1+r.IntN(2), head) // the serial often forgotten
	if r.IntN(4) == 0 {
		hText = strings.Replace(hText, "@ IN NS ns1.corp.internal.\n", "", 1)
	}
	bz, _ = zones.Parse("b.zone", "example.", []byte(bText))
	hz, _ = zones.Parse("h.zone", "example.", []byte(hText))
	return bText, hText, bz, hz
}

// The records trimSame takes out (equal at the start and the end of both
// zones) change nothing zoneChanged finds: on random pairs of zones (owner
// case, TTLs, duplicates, reordered, added and removed records, apex NS
// lost, serials), comparing what is left gives the findings and the
// deleted count of comparing everything.
func TestTrimSameChangesNothing(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 1))
	trimmed := 0
	for i := range 2000 {
		bText, hText, bz, hz := randomZonePair(r)
		run := func(trim bool) ([]zones.Finding, int) {
			c := &checker{rev: &model.Revision{}}
			refuse := func(pos zones.Position, rule, format string, args ...any) { c.errorf(pos, rule, format, args...) }
			br, hr := bz.Records(), hz.Records()
			if trim {
				br, hr = trimSame(br, hr)
				if len(br) < bz.Len() {
					trimmed++
				}
			}
			d := c.compareRecords(newWirePacker(), bz, hz, br, hr, refuse)
			return c.out, d
		}
		wantF, wantD := run(false)
		gotF, gotD := run(true)
		if gotD != wantD || !reflect.DeepEqual(gotF, wantF) {
			t.Fatalf("case %d: trimmed: %d deleted, %v; whole: %d deleted, %v\nbase:\n%s\nhead:\n%s", i, gotD, gotF, wantD, wantF, bText, hText)
		}
	}
	if trimmed < 1000 {
		t.Fatalf("only %d cases of 2000 trimmed anything: the test compares too little", trimmed)
	}
}

// trimSame's "same" is the key with the TTL: owner case, TTL, address and
// rdata name case each make two records different.
func TestWirePackerSame(t *testing.T) {
	p, q := newWirePacker(), newWirePacker()
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"www.example. 300 IN A 198.18.0.1", "www.example. 300 IN A 198.18.0.1", true},
		{"www.example. 300 IN A 198.18.0.1", "WWW.example. 300 IN A 198.18.0.1", false}, // conservative: not written alike
		{"www.example. 300 IN A 198.18.0.1", "www.example. 600 IN A 198.18.0.1", false},
		{"www.example. 300 IN A 198.18.0.1", "www.example. 300 IN A 198.18.0.2", false},
		{"www.example. 300 IN A 198.18.0.1", "www.example. 300 IN AAAA ::ffff:198.18.0.1", false},
		{"www.example. 300 IN MX 10 mail.example.", "www.example. 300 IN MX 10 mail.example.", true},
		{"www.example. 300 IN MX 10 mail.example.", "www.example. 300 IN MX 10 MAIL.example.", false},
		{"WWW.example. 300 IN MX 10 mail.example.", "www.example. 300 IN MX 10 mail.example.", true}, // the key's owner is lower case
	} {
		if got := p.same(q, mustRR(tc.a), mustRR(tc.b)); got != tc.want {
			t.Errorf("same(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
