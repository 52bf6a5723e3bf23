package cluster

import (
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"
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
