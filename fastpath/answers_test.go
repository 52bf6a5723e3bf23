package fastpath

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/node"
	"github.com/gitops-dns/resolverd/zones"
)

func testSnapshot(t testing.TB) *node.Snapshot {
	t.Helper()
	data, err := os.ReadFile("testdata/example.zone")
	if err != nil {
		t.Fatal(err)
	}
	z, findings := zones.Parse("testdata/example.zone", "example.internal.", data)
	for _, f := range findings {
		if f.Severity == zones.SeverityError {
			t.Fatal(f)
		}
	}
	return &node.Snapshot{
		Authority: zones.NewAuthority(z),
		Forward:   []model.ForwardRule{{Zone: "fwd.example.internal.", To: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.9:53")}}},
	}
}

// TestLookupMatchesZone: every precomputed answer unpacks to what the zone
// lookup gives for the question, and the cases the authority plugin
// answers per query (referrals, chains leaving the zone, wildcards,
// forwarded names, meta types) are left to the slow path.
func TestLookupMatchesZone(t *testing.T) {
	snap := testSnapshot(t)
	a, err := Build(snap, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	z := snap.Authority.Zones()[0]
	tests := []struct {
		name  string
		qtype uint16
		fast  bool
		rcode int
	}{
		{"www.example.internal.", dns.TypeA, true, dns.RcodeSuccess},
		{"WWW.Example.Internal.", dns.TypeAAAA, true, dns.RcodeSuccess},
		{"www.example.internal.", dns.TypeMX, true, dns.RcodeSuccess}, // NODATA
		{"www.example.internal.", dns.TypeNAPTR, true, dns.RcodeSuccess},
		{"www.example.internal.", dns.TypeCNAME, true, dns.RcodeSuccess}, // NODATA: not a CNAME owner
		{"alias.example.internal.", dns.TypeA, true, dns.RcodeSuccess},   // in-zone chain
		{"alias.example.internal.", dns.TypeCNAME, true, dns.RcodeSuccess},
		{"alias.example.internal.", dns.TypeNAPTR, false, 0}, // a CNAME owner: per type
		{"out.example.internal.", dns.TypeA, false, 0},       // leaves the zone
		{"out.example.internal.", dns.TypeCNAME, true, dns.RcodeSuccess},
		{"mail.example.internal.", dns.TypeMX, true, dns.RcodeSuccess},
		{"txt.example.internal.", dns.TypeTXT, true, dns.RcodeSuccess},
		{"_sip._tcp.example.internal.", dns.TypeSRV, true, dns.RcodeSuccess},
		{"example.internal.", dns.TypeSOA, true, dns.RcodeSuccess},
		{"example.internal.", dns.TypeNS, true, dns.RcodeSuccess},
		{"example.internal.", dns.TypeANY, false, 0},
		{"example.internal.", dns.TypeDS, false, 0},
		{"b.deep.example.internal.", dns.TypeA, true, dns.RcodeSuccess}, // empty non-terminal
		{"nope.example.internal.", dns.TypeA, true, dns.RcodeNameError},
		{"x.y.nope.example.internal.", dns.TypeTXT, true, dns.RcodeNameError},
		{"x.a.b.deep.example.internal.", dns.TypeA, true, dns.RcodeNameError},
		{"nope.example.internal.", dns.TypeANY, false, 0},
		{"host.wild.example.internal.", dns.TypeA, false, 0},          // wildcard synthesis
		{"wild.example.internal.", dns.TypeA, true, dns.RcodeSuccess}, // ENT above the wildcard
		{"team.example.internal.", dns.TypeA, false, 0},               // a cut
		{"x.team.example.internal.", dns.TypeA, false, 0},             // below it
		{"ns.team.example.internal.", dns.TypeA, false, 0},            // glue
		{"fwd.example.internal.", dns.TypeA, false, 0},                // forwarded below the zone
		{"host.fwd.example.internal.", dns.TypeA, false, 0},
		{"new.fwd.example.internal.", dns.TypeA, false, 0},
		{"other.test.", dns.TypeA, false, 0}, // not ours
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+dns.TypeToString[tt.qtype], func(t *testing.T) {
			for _, edns := range []bool{false, true} {
				m := query(tt.name, tt.qtype, edns, edns)
				m.RecursionDesired = true
				m.Id = 4242
				pkt := pack(t, m)
				var q Query
				if !q.Parse(pkt) {
					t.Fatal("query does not parse")
				}
				p := a.Lookup(&q)
				if (p != nil) != tt.fast {
					t.Fatalf("fast path = %v, want %v", p != nil, tt.fast)
				}
				if p == nil {
					continue
				}
				buf := make([]byte, 4096)
				n, ok := p.Write(buf, pkt, &q)
				if !ok {
					t.Fatal("does not fit")
				}
				got := new(dns.Msg)
				if err := got.Unpack(buf[:n]); err != nil {
					t.Fatalf("unpack: %v", err)
				}
				if got.Id != 4242 || !got.Response || !got.RecursionDesired || got.Rcode != tt.rcode {
					t.Errorf("header %+v", got.MsgHdr)
				}
				if got.Question[0].Name != tt.name {
					t.Errorf("question %q, want the client's spelling %q", got.Question[0].Name, tt.name)
				}
				if (got.IsEdns0() != nil) != edns || edns && !got.IsEdns0().Do() {
					t.Errorf("EDNS echo wrong: %v", got.IsEdns0())
				}
				want := z.Lookup(tt.name, tt.qtype)
				if got.Authoritative != want.Authoritative || len(got.Answer) != len(want.Answer) || len(got.Ns) != len(want.Ns) {
					t.Fatalf("got %v\nwant %+v", got, want)
				}
				for i := range want.Answer {
					if !dns.IsDuplicate(got.Answer[i], want.Answer[i]) {
						t.Errorf("answer %d: %v, want %v", i, got.Answer[i], want.Answer[i])
					}
				}
				for i := range want.Ns {
					if !dns.IsDuplicate(got.Ns[i], want.Ns[i]) {
						t.Errorf("ns %d: %v, want %v", i, got.Ns[i], want.Ns[i])
					}
				}
			}
		})
	}
}

// TestWriteRespectsClientSize: an answer larger than what the client can
// receive is not written (the slow path truncates it properly).
func TestWriteRespectsClientSize(t *testing.T) {
	p := &Prebuilt{Counts: [3]uint16{1, 0, 0}, Body: make([]byte, 600)}
	var q Query
	pkt := pack(t, query("big.example.internal.", dns.TypeTXT, false, false))
	q.Parse(pkt)
	if _, ok := p.Write(make([]byte, 4096), pkt, &q); ok {
		t.Error("600-byte body written to a client without EDNS (limit 512)")
	}
	pkt = pack(t, query("big.example.internal.", dns.TypeTXT, true, false))
	q.Parse(pkt)
	if _, ok := p.Write(make([]byte, 4096), pkt, &q); !ok {
		t.Error("not written to an EDNS client with 1232 bytes")
	}
}

func TestBuildMaxRecords(t *testing.T) {
	snap := testSnapshot(t)
	a, err := Build(snap, BuildOptions{MaxRecords: 3})
	if err != nil {
		t.Fatal(err)
	}
	var q Query
	q.Parse(pack(t, query("www.example.internal.", dns.TypeA, false, false)))
	if a.Lookup(&q) != nil {
		t.Error("a zone over the limit was precomputed")
	}
}

func BenchmarkPrebuilt(b *testing.B) {
	a, err := Build(testSnapshot(b), BuildOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		qname string
		qtype uint16
	}{{"answer", "www.Example.internal.", dns.TypeA}, {"nodata", "www.Example.internal.", dns.TypeMX}, {"nxdomain", "nope.example.internal.", dns.TypeA}} {
		b.Run(tc.name, func(b *testing.B) {
			pkt := pack(b, query(tc.qname, tc.qtype, true, false))
			buf := make([]byte, 4096)
			var q Query
			b.ReportAllocs()
			for b.Loop() {
				if !q.Parse(pkt) {
					b.Fatal("parse")
				}
				p := a.Lookup(&q)
				if p == nil {
					b.Fatal("miss")
				}
				if _, ok := p.Write(buf, pkt, &q); !ok {
					b.Fatal("write")
				}
			}
		})
	}
}

// TestApexWildcard: a wildcard right under the apex synthesizes every
// absent child (slow path), but a name below an existing node without a
// wildcard is still a precomputed NXDOMAIN.
func TestApexWildcard(t *testing.T) {
	a := buildZone(t, "w.internal.", "$ORIGIN w.internal.\n@ 300 IN SOA ns h 1 2 3 4 60\n@ 300 IN NS ns\nns 300 IN A 198.18.0.1\n* 300 IN A 198.18.0.2\nhost 300 IN A 198.18.0.3\n")
	for name, wantRcode := range map[string]int{"x.w.internal.": -1, "x.host.w.internal.": dns.RcodeNameError, "host.w.internal.": dns.RcodeSuccess} {
		var q Query
		q.Parse(pack(t, query(name, dns.TypeA, false, false)))
		p := a.Lookup(&q)
		if wantRcode < 0 {
			if p != nil {
				t.Errorf("%s: precomputed, want the slow path (wildcard)", name)
			}
			continue
		}
		if p == nil || p.Rcode() != wantRcode {
			t.Errorf("%s: %v, want rcode %d", name, p, wantRcode)
		}
	}
}

// TestLookupByTopLabel: a name under a last label no served zone has is
// left to the slow path without a walk of its suffixes; one under a served
// zone's last label is still looked up (an NXDOMAIN there is precomputed
// only inside the zone); with the root zone served every name is looked up.
func TestLookupByTopLabel(t *testing.T) {
	internal := buildZone(t, "w.internal.", "$ORIGIN w.internal.\n@ 300 IN SOA ns h 1 2 3 4 60\n@ 300 IN NS ns\nns 300 IN A 198.18.0.1\n")
	root := buildZone(t, ".", "$ORIGIN .\n@ 300 IN SOA ns.root. h.root. 1 2 3 4 60\n@ 300 IN NS ns.root.\nns.root. 300 IN A 198.18.0.1\n")
	tests := []struct {
		name  string
		a     *Answers
		qname string
		rcode int // -1: the slow path
	}{
		{"other top label", internal, "www.example.com.", -1},
		{"same top label, other zone", internal, "x.other.internal.", -1},
		{"in the zone", internal, "NS.w.Internal.", dns.RcodeSuccess},
		{"absent in the zone", internal, "nope.w.internal.", dns.RcodeNameError},
		{"root", internal, ".", -1},
		{"root zone: absent name", root, "www.example.com.", dns.RcodeNameError},
		{"root zone: a name", root, "ns.root.", dns.RcodeSuccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, p := lookup(t, tt.a, tt.qname, dns.TypeA)
			switch {
			case tt.rcode < 0 && p != nil:
				t.Errorf("precomputed rcode %d, want the slow path", p.Rcode())
			case tt.rcode >= 0 && (p == nil || p.Rcode() != tt.rcode):
				t.Errorf("%v, want rcode %d", p, tt.rcode)
			}
		})
	}
	for w, want := range map[string]string{"\x03www\x07example\x03com\x00": "\x03com\x00", "\x03com\x00": "\x03com\x00", "\x00": "", "\x05ab": "", "": ""} {
		if got := string(lastLabel([]byte(w))); got != want {
			t.Errorf("lastLabel(%q) = %q, want %q", w, got, want)
		}
	}
}

// BenchmarkLookupRecursive is the precomputed answers' cost for a query
// they cannot answer (a recursive name): what every cold query pays.
func BenchmarkLookupRecursive(b *testing.B) {
	a, err := Build(testSnapshot(b), BuildOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var q Query
	if !q.Parse(pack(b, query("x1234.www.example.com.", dns.TypeA, true, false))) {
		b.Fatal("parse")
	}
	b.ReportAllocs()
	for b.Loop() {
		if a.Lookup(&q) != nil {
			b.Fatal("answered a recursive name")
		}
	}
}

// lookup parses a query for qname and qtype (no EDNS) and looks it up in a.
func lookup(t *testing.T, a *Answers, qname string, qtype uint16) (*Query, *Prebuilt) {
	t.Helper()
	q := new(Query)
	if !q.Parse(pack(t, query(qname, qtype, false, false))) {
		t.Fatal("parse")
	}
	return q, a.Lookup(q)
}

// buildZone precomputes the answers of one zone given as zone-file text.
func buildZone(t *testing.T, origin, text string) *Answers {
	t.Helper()
	z, findings := zones.Parse("t.zone", origin, []byte(text))
	for _, f := range findings {
		if f.Severity == zones.SeverityError {
			t.Fatal(f)
		}
	}
	a, err := Build(&node.Snapshot{Authority: zones.NewAuthority(z)}, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestBuildFromReusesUnchangedZones: a zone table is taken from the
// previous answers when the zone, the zones served below it and the forward
// rules inside it are the same, and built again when any of them changed;
// either way the answers equal a build from scratch.
func TestBuildFromReusesUnchangedZones(t *testing.T) {
	base := testSnapshot(t)
	example := base.Authority.Zones()[0]
	other, _ := zones.Parse("other.zone", "other.internal.", []byte("$TTL 300\n@ IN SOA ns1 h 1 3600 600 1209600 300\n@ IN NS ns1\nns1 IN A 198.18.0.1\nwww IN A 198.18.0.2\n"))
	below, _ := zones.Parse("sub.zone", "sub.example.internal.", []byte("$TTL 300\n@ IN SOA ns1 h 1 3600 600 1209600 300\n@ IN NS ns1\nns1 IN A 198.18.0.3\n"))
	snap := func(fwd []model.ForwardRule, zs ...*zones.Zone) *node.Snapshot {
		return &node.Snapshot{Authority: zones.NewAuthority(zs...), Forward: fwd}
	}
	first := snap(base.Forward, example, other)
	prev, err := Build(first, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	table := func(a *Answers, origin string) *zoneTable {
		w, err := wireName(origin)
		if err != nil {
			t.Fatal(err)
		}
		return a.zones[w]
	}
	for _, tc := range []struct {
		name    string
		snap    *node.Snapshot
		rebuilt []string // origins whose table must be new
	}{
		{"same zones", snap(base.Forward, example, other), nil},
		{"a zone served below", snap(base.Forward, example, other, below), []string{"example.internal.", "sub.example.internal."}},
		{"a forward rule inside", snap(append(slices.Clone(base.Forward), model.ForwardRule{Zone: "fw2.other.internal."}), example, other), []string{"other.internal."}},
		{"a zone gone", snap(base.Forward, example), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := BuildFrom(prev, tc.snap, BuildOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want, err := Build(tc.snap, BuildOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatal("answers built from the previous ones differ from a build from scratch")
			}
			for _, z := range tc.snap.Authority.Zones() {
				o := z.Origin()
				old, cur := table(prev, o), table(got, o)
				if reused := old != nil && old == cur; reused == slices.Contains(tc.rebuilt, o) {
					t.Errorf("zone %s: table reused %v, want %v", o, reused, !slices.Contains(tc.rebuilt, o))
				}
			}
		})
	}
}

// TestBuildInParts: a large zone built in parallel parts (their identical
// responses made one) equals the zone built by one builder.
func TestBuildInParts(t *testing.T) {
	snap := zone10k(t)
	if n := len(snap.Authority.Zones()[0].OwnerNames()); n < 2*ownersPerPart {
		t.Fatalf("%d owner names: too few for two parts", n)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	one, err := Build(snap, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GOMAXPROCS(4)
	parts, err := Build(snap, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(one, parts) || one.Responses != parts.Responses {
		t.Fatalf("built in parts: %d responses, %d bytes; in one: %d, %d (or the answers differ)", parts.Responses, parts.Bytes, one.Responses, one.Bytes)
	}
	// Identical responses are one object across the parts too.
	seen := map[*Prebuilt]bool{}
	for _, t := range parts.zones {
		for _, oa := range t.owners {
			if oa.nodata != nil {
				seen[oa.nodata] = true
			}
			for _, p := range oa.answers {
				seen[p] = true
			}
		}
		if t.nxdomain != nil {
			seen[t.nxdomain] = true
		}
		for _, p := range t.nodata {
			if p != nil {
				seen[p] = true
			}
		}
	}
	if len(seen) != parts.Responses {
		t.Errorf("%d distinct responses referenced, %d built", len(seen), parts.Responses)
	}
}

// TestBuildFromReusesUnchangedOwners: within a changed zone, the answers
// of an owner whose RRsets (A, AAAA, TXT only) did not change are taken
// from the previous table, and the result equals a build from scratch
// whatever changed: addresses, TTLs, owner case, order, chase targets,
// additional-section targets, cuts, wildcards, a zone rewritten, a large
// zone in parts; the previous table is left as it was.
func TestBuildFromReusesUnchangedOwners(t *testing.T) {
	head := "$ORIGIN example.internal.\n$TTL 300\n"
	soa := func(serial int) string {
		return fmt.Sprintf("@ IN SOA ns1 hostmaster %d 3600 600 1209600 300\n@ IN NS ns1\nns1 IN A 198.18.0.1\n", serial)
	}
	body := "www IN A 198.18.0.2\nwww IN TXT \"hello\"\nmulti IN A 198.18.0.3\nmulti IN A 198.18.0.4\nv6 IN AAAA 2001:db8::1\n" +
		"mx IN MX 10 mail\nmail IN A 198.18.0.5\nalias IN CNAME www\nsub IN NS ns.sub\nns.sub IN A 198.18.0.6\n*.wild IN A 198.18.0.7\n" +
		"chain IN CNAME alias\nsrv IN SRV 0 5 5060 sipserver\nsipserver IN A 198.18.0.8\ntosub IN CNAME x.sub\n" +
		"a.wc IN A 10.3.0.1\nw2 IN CNAME host.wc\nw3 IN CNAME a.b.wild\ngone IN CNAME nothere\n"
	for i := range 40 {
		body += fmt.Sprintf("h%d IN A 10.0.0.%d\n", i, i)
	}
	large := ""
	for i := range 3 * ownersPerPart {
		if i%5 == 0 { // identical responses, across parts too
			large += fmt.Sprintf("p%d IN A 10.2.0.1\n", i)
			continue
		}
		large += fmt.Sprintf("p%d IN A 10.1.%d.%d\n", i, i/250, i%250)
	}
	// sameAs changes the addresses of owners p<i> to the one p0, p5, p10...
	// answer: their responses are those of reused owners.
	sameAs := func(text string, is ...int) string {
		for _, i := range is {
			text = strings.Replace(text, fmt.Sprintf("p%d IN A 10.1.%d.%d\n", i, i/250, i%250), fmt.Sprintf("p%d IN A 10.2.0.1\n", i), 1)
		}
		return text
	}
	zone := func(text string) *zones.Zone {
		z, fs := zones.Parse("example.zone", "example.internal.", []byte(text))
		if zones.HasErrors(fs) {
			t.Fatalf("%v", fs)
		}
		return z
	}
	snap := func(z *zones.Zone) *node.Snapshot { return &node.Snapshot{Authority: zones.NewAuthority(z)} }
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	rewritten := ""
	for i := range 40 {
		rewritten += fmt.Sprintf("h%d IN A 10.9.9.%d\n", i, i)
	}
	for _, tc := range []struct {
		name        string
		base, head  string
		reused, not []string // owners whose answers must (not) be the previous ones
		soaTail     string   // the head's SOA ends so, not "1209600 300"
	}{
		{"one address and the serial", body, strings.Replace(body, "10.0.0.7\n", "10.0.0.77\n", 1), []string{"h8", "www", "multi", "v6", "mx", "alias", "chain", "srv", "tosub", "w2", "w3", "gone"}, []string{"h7"}, ""},
		// Each kind of read: the owner is built again when what it read changed.
		{"a CNAME chain's far end", body, strings.Replace(body, "198.18.0.2", "198.18.0.23", 1), []string{"h1", "mx"}, []string{"www", "alias", "chain"}, ""},
		{"a CNAME target removed", body, strings.Replace(body, "www IN A 198.18.0.2\nwww IN TXT \"hello\"\n", "", 1), []string{"h1", "mx"}, []string{"alias", "chain"}, ""},
		{"an SRV target's address", body, strings.Replace(body, "198.18.0.8", "198.18.0.88", 1), []string{"h1", "alias"}, []string{"srv", "sipserver"}, ""},
		{"glue a chain ends at", body, strings.Replace(body, "198.18.0.6", "198.18.0.66", 1), []string{"h1", "alias"}, []string{"tosub"}, ""},
		{"a wildcard added where a chain ends", body, body + "*.wc IN A 10.3.3.3\n", []string{"h1", "alias", "w3"}, []string{"w2"}, ""},
		{"a wildcard at the apex", body, body + "* IN TXT \"any\"\n", []string{"h1", "alias", "mx"}, []string{"gone", "w2"}, ""},
		{"an empty non-terminal between a chain's end and its wildcard", body, body + "x.b.wild IN A 10.3.3.4\n", []string{"h1", "alias", "w2"}, []string{"w3"}, ""},
		{"the chain's end added", body, body + "nothere IN A 10.3.3.5\n", []string{"h1", "alias", "w2"}, []string{"gone"}, ""},
		{"the SOA's minimum", body, body, nil, []string{"h1", "alias"}, "1209600 120"},
		{"a TTL", body, strings.Replace(body, "www IN A", "www 600 IN A", 1), []string{"h1"}, []string{"www"}, ""},
		{"an additional-section target", body, strings.Replace(body, "198.18.0.5", "198.18.0.55", 1), []string{"h1"}, []string{"mail", "mx"}, ""},
		{"a CNAME target's address", body, strings.Replace(body, "198.18.0.2", "198.18.0.22", 1), []string{"h1", "multi"}, []string{"www", "alias"}, ""},
		{"owner case", body, strings.Replace(body, "h8 IN", "H8 IN", 1), []string{"h9"}, []string{"h8"}, ""},
		{"order within an RRset", body, strings.Replace(body, "multi IN A 198.18.0.3\nmulti IN A 198.18.0.4", "multi IN A 198.18.0.4\nmulti IN A 198.18.0.3", 1), []string{"h1"}, []string{"multi"}, ""},
		{"a record added to an owner", body, body + "multi IN A 198.18.0.9\n", []string{"h1"}, []string{"multi"}, ""},
		{"a name below an owner, and a wildcard", body, body + "x.h10 IN A 10.0.1.1\n*.h11 IN A 10.0.1.2\n", []string{"h10", "h11"}, nil, ""},
		{"a line at the top", body, "first IN A 10.0.2.1\n" + body, []string{"h1", "www"}, nil, ""},
		{"a cut appears", body, body + "h12 IN NS ns.sub\n", []string{"h1", "alias", "mx"}, []string{"h12"}, ""},
		{"a cut goes", body, strings.Replace(body, "sub IN NS ns.sub\n", "", 1), []string{"h1", "alias", "mx"}, []string{"ns.sub", "tosub"}, ""},
		{"rewritten", body, rewritten, nil, []string{"h1"}, ""},
		{"large, in parts", body + large, strings.Replace(body+large, "p100 IN A", "p100 600 IN A", 1), []string{"p101", "h1"}, []string{"p100"}, ""},
		{"large, changed to what others answer", body + large, sameAs(body+large, 1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13), []string{"p101", "h1"}, []string{"p7"}, ""},
		{"large, shifted", body + large, "first IN A 10.0.2.1\n" + body + strings.Replace(large, "p7 IN A 10.1.0.7\n", "", 1), []string{"p8", "h1"}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := snap(zone(head + soa(1) + tc.base))
			prev, err := Build(first, BuildOptions{})
			if err != nil {
				t.Fatal(err)
			}
			untouched, _ := Build(first, BuildOptions{})
			pointers := map[*ownerAnswers][]*Prebuilt{}
			for _, zt := range prev.zones {
				for _, oa := range zt.owners {
					pointers[oa] = slices.Clone(oa.answers)
				}
			}
			headSOA := soa(2)
			if tc.soaTail != "" {
				headSOA = strings.Replace(headSOA, "1209600 300", tc.soaTail, 1)
			}
			next := snap(zone(head + headSOA + tc.head))
			// A large zone is built in parts, which take its owners in a
			// random order: build it a few times.
			repeat := 1
			if strings.HasPrefix(tc.name, "large") {
				repeat = 12
			}
			var got *Answers
			for range repeat {
				got = buildFromEqualsScratch(t, prev, next, "")
			}
			if !reflect.DeepEqual(prev, untouched) {
				t.Fatal("building from the previous answers changed them")
			}
			for oa, ps := range pointers {
				if !slices.Equal(oa.answers, ps) {
					t.Fatal("building from the previous answers changed which responses they point to")
				}
			}
			owner := func(a *Answers, name string) *ownerAnswers {
				for _, zt := range a.zones {
					w, _ := wireName(name + ".example.internal.")
					return zt.owners[w]
				}
				return nil
			}
			for _, n := range tc.reused {
				if o, c := owner(prev, n), owner(got, n); o == nil || c == nil || len(c.answers) == 0 || c.answers[0] != o.answers[0] {
					t.Errorf("%s: answers built again, want the previous ones", n)
				}
			}
			for _, n := range tc.not {
				if o, c := owner(prev, n), owner(got, n); o != nil && c != nil && len(c.answers) > 0 && len(o.answers) > 0 && c.answers[0] == o.answers[0] {
					t.Errorf("%s: the previous answers were reused", n)
				}
			}
		})
	}
}

// TestBuildFromRandomEdits: on random zones (CNAME chains inside and out
// of the zone, MX, SRV and NS targets, delegations with glue, without,
// and to a name outside them, wildcards, empty non-terminals) and random
// series of edits (addresses, targets, records added and removed,
// wildcards, owner case, the serial bumped or not, the SOA's other
// fields, cuts, glue), the answers built from the previous revision's
// equal a build from scratch at every step, and leave the previous ones
// as they were.
func TestBuildFromRandomEdits(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	r := rand.New(rand.NewPCG(21, 3))
	names := []string{"a", "b", "c", "x.a", "y.x.a", "*.a", "*", "*.b.c", "d.b.c", "mail", "MAIL", "sub", "ns.sub", "d.sub", "e.f.g", "*.f.g", "ns.sub2", "h"}
	targets := append(slices.Clone(names[:len(names)-1]), "nowhere", "n.x.a", "q.f.g", "out.example.", "@", "ns.sub", "zz.sub", "y.sub2", "y.sub3")
	pick := func(l []string) string { return l[r.IntN(len(l))] }
	line := func() string {
		n := pick(names)
		switch r.IntN(10) {
		case 0, 1:
			return fmt.Sprintf("%s IN CNAME %s", n, pick(targets))
		case 2:
			return fmt.Sprintf("%s IN MX %d %s", n, r.IntN(3), pick(targets))
		case 3:
			return fmt.Sprintf("%s IN SRV 0 5 %d %s", n, 5000+r.IntN(3), pick(targets))
		case 4:
			return fmt.Sprintf("%s IN TXT \"t%d\"", n, r.IntN(3))
		case 5:
			return fmt.Sprintf("%s IN AAAA 2001:db8::%d", n, r.IntN(3))
		}
		return fmt.Sprintf("%s IN A 10.0.0.%d", n, r.IntN(4))
	}
	text := func(serial, minimum int, lines []string) string {
		return fmt.Sprintf("$ORIGIN r.internal.\n$TTL 300\n@ IN SOA ns1 hostmaster %d 3600 600 1209600 %d\n@ IN NS ns1\nns1 IN A 198.18.0.1\nsub IN NS ns.sub\nns.sub IN A 198.18.0.2\nsub2 IN NS ns.sub2\nsub3 IN NS mail\n%s\n", serial, minimum, strings.Join(lines, "\n"))
	}
	build := func(txt string) (*node.Snapshot, bool) {
		z, fs := zones.Parse("r.zone", "r.internal.", []byte(txt))
		if z == nil || zones.HasErrors(fs) {
			return nil, false
		}
		return &node.Snapshot{Authority: zones.NewAuthority(z)}, true
	}
	reused, reusedReading, steps := 0, 0, 0
	for i := range 300 {
		lines := make([]string, 5+r.IntN(25))
		for j := range lines {
			lines[j] = line()
		}
		if i%60 == 0 { // large enough to be built in parts
			for k := range 3 * ownersPerPart {
				lines = append(lines, fmt.Sprintf("p%d IN A 10.1.%d.%d", k, k/250, k%250))
			}
		}
		serial, minimum := 1, 300
		snap, ok := build(text(serial, minimum, lines))
		if !ok {
			continue
		}
		prev, err := Build(snap, BuildOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for step := range 6 {
			for range 1 + r.IntN(3) {
				j := r.IntN(len(lines))
				switch k := r.IntN(10); {
				case k == 0:
					lines = slices.Delete(lines, j, j+1)
				case k == 1:
					lines = slices.Insert(lines, j, line())
				case k == 2: // the data alone
					lines[j] = lines[j][:strings.LastIndex(lines[j], " ")+1] + strings.Fields(line())[3]
				case k == 3:
					lines[j] = strings.ToUpper(lines[j][:1]) + lines[j][1:]
				case k == 4:
					lines = append(lines, pick([]string{"x", "c", "mail", "e.f.g", "x.a", "b.c"})+" IN NS "+pick([]string{"ns.sub", "mail", "ns.x.a"}))
				default:
					lines[j] = line()
				}
			}
			if r.IntN(5) > 0 {
				serial++ // else forgotten
			}
			if r.IntN(10) == 0 {
				minimum++
			}
			next, ok := build(text(serial, minimum, lines))
			if !ok {
				break
			}
			untouched, _ := Build(prev.Snapshot, BuildOptions{})
			got := buildFromEqualsScratch(t, prev, next, fmt.Sprintf("zone %d step %d:\n%s", i, step, text(serial, minimum, lines)))
			if !reflect.DeepEqual(prev, untouched) {
				t.Fatalf("zone %d step %d: building from the previous answers changed them", i, step)
			}
			for origin, zt := range got.zones {
				for w, oa := range zt.owners {
					if o := prev.zones[origin].owners[w]; o != nil && len(o.answers) > 0 && len(oa.answers) > 0 && o.answers[0] == oa.answers[0] {
						reused++
						if zt.reads[w] != nil {
							reusedReading++
						}
					}
				}
			}
			steps++
			prev = got
		}
	}
	t.Logf("%d steps, %d owners reused, %d of them reading other names", steps, reused, reusedReading)
	if steps < 1000 || reused < 20*steps || reusedReading < steps {
		t.Fatalf("%d steps, %d owners reused, %d of them reading other names: the test compares too little", steps, reused, reusedReading)
	}
}

// buildFromEqualsScratch builds next's answers from prev's and fails the
// test, saying what (and context), when they differ from a build from
// scratch.
func buildFromEqualsScratch(t *testing.T, prev *Answers, next *node.Snapshot, context string) *Answers {
	t.Helper()
	got, err := BuildFrom(prev, next, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := Build(next, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("answers built from the previous ones differ from a build from scratch: %s\n%s", diffAnswers(got, want), context)
	}
	return got
}

// TestLookupClosestZoneByDepth: Lookup asks the zones map only for a
// name's suffixes as long as some zone's origin, and the tops filter only
// when more than one length is possible; the answer still comes from the
// closest enclosing zone, at every depth and with zones nested in zones.
func TestLookupClosestZoneByDepth(t *testing.T) {
	zone := func(origin, extra string) *zones.Zone {
		text := "$ORIGIN " + origin + "\n$TTL 300\n@ IN SOA ns h 1 2 3 4 60\n@ IN NS ns\nns IN A 198.18.0.1\n" + extra
		z, findings := zones.Parse(origin+"zone", origin, []byte(text))
		for _, f := range findings {
			if f.Severity == zones.SeverityError {
				t.Fatal(f)
			}
		}
		return z
	}
	nested := zones.NewAuthority(
		zone("internal.", "h IN A 198.18.1.1\nb IN NS ns.b\nns.b IN A 198.18.0.2\n"),
		zone("b.internal.", "h IN A 198.18.2.1\nx.y IN NS ns.x.y\nns.x.y IN A 198.18.0.3\n"),
		zone("x.y.b.internal.", "h IN A 198.18.4.1\n"),
		zone("10.in-addr.arpa.", "1.0.0 IN PTR h.internal.\n"),
	)
	a, err := Build(&node.Snapshot{Authority: nested}, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	single, err := Build(&node.Snapshot{Authority: zones.NewAuthority(zone("corp.internal.", "h IN A 198.18.8.1\n"))}, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// More top labels than maxTopList: tops is asked as a map.
	var many []*zones.Zone
	for i := range maxTopList + 2 {
		many = append(many, zone(fmt.Sprintf("z.t%d.", i), "h IN A 198.18.9.1\n"))
	}
	manyTops, err := Build(&node.Snapshot{Authority: zones.NewAuthority(many...)}, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if manyTops.topList != nil || single.topList == nil {
		t.Fatalf("top lists %q and %q, want none past %d tops and one below", manyTops.topList, single.topList, maxTopList)
	}
	tests := []struct {
		a     *Answers
		qname string
		qtype uint16
		rcode int    // -1: the slow path
		zone  string // the SOA owner of a negative answer, or the A record's address
	}{
		{a, "h.internal.", dns.TypeA, dns.RcodeSuccess, "198.18.1.1"},
		{a, "h.b.internal.", dns.TypeA, dns.RcodeSuccess, "198.18.2.1"},
		{a, "h.x.y.b.internal.", dns.TypeA, dns.RcodeSuccess, "198.18.4.1"},
		{a, "nope.internal.", dns.TypeA, dns.RcodeNameError, "internal."},
		{a, "nope.b.internal.", dns.TypeA, dns.RcodeNameError, "b.internal."},
		{a, "nope.y.b.internal.", dns.TypeA, dns.RcodeNameError, "b.internal."},
		{a, "a.b.c.nope.x.y.b.internal.", dns.TypeA, dns.RcodeNameError, "x.y.b.internal."},
		{a, "1.0.0.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, ""},
		{a, "2.0.0.10.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, "10.in-addr.arpa."},
		{a, "1.0.0.11.in-addr.arpa.", dns.TypePTR, -1, ""},
		{a, "www.example.com.", dns.TypeA, -1, ""},
		{a, "x.y.b.example.", dns.TypeA, -1, ""},
		{a, ".", dns.TypeNS, -1, ""},
		{single, "h.corp.internal.", dns.TypeA, dns.RcodeSuccess, "198.18.8.1"},
		{single, "corp.internal.", dns.TypeSOA, dns.RcodeSuccess, ""},
		{single, "nope.corp.internal.", dns.TypeA, dns.RcodeNameError, "corp.internal."},
		{single, "corp.example.", dns.TypeA, -1, ""},
		{single, "h.corp.example.", dns.TypeA, -1, ""},
		{single, "internal.", dns.TypeA, -1, ""},
		{manyTops, "h.z.t9.", dns.TypeA, dns.RcodeSuccess, "198.18.9.1"},
		{manyTops, "nope.z.t0.", dns.TypeA, dns.RcodeNameError, "z.t0."},
		{manyTops, "h.z.t10.", dns.TypeA, -1, ""},
		{manyTops, "h.y.t1.", dns.TypeA, -1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.qname, func(t *testing.T) {
			q, p := lookup(t, tt.a, tt.qname, tt.qtype)
			if tt.rcode < 0 {
				if p != nil {
					t.Fatalf("precomputed rcode %d, want the slow path", p.Rcode())
				}
				return
			}
			if p == nil || p.Rcode() != tt.rcode {
				t.Fatalf("%v, want rcode %d", p, tt.rcode)
			}
			if tt.zone == "" {
				return
			}
			buf := make([]byte, 4096)
			n, ok := p.Write(buf, pack(t, query(tt.qname, tt.qtype, false, false)), q)
			if !ok {
				t.Fatal("write")
			}
			m := new(dns.Msg)
			if err := m.Unpack(buf[:n]); err != nil {
				t.Fatal(err)
			}
			var got string
			switch {
			case len(m.Answer) > 0:
				if rr, ok := m.Answer[0].(*dns.A); ok {
					got = rr.A.String()
				}
			case len(m.Ns) > 0:
				got = m.Ns[0].Header().Name
			}
			if got != tt.zone {
				t.Errorf("answered from %q, want %q\n%v", got, tt.zone, m)
			}
		})
	}
}
