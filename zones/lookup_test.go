package zones

import (
	"os"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func loadZone(t testing.TB, file, origin string) *Zone {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	z, fs := Parse(file, origin, data)
	if HasErrors(fs) {
		t.Fatalf("parse %s: %v", file, fs)
	}
	return z
}

// rrStrings renders records one per string, fields separated by one space.
func rrStrings(rrs []dns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	return out
}

func eqStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

const soa300 = "example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. 2024010101 7200 900 1209600 300"

func TestLookup(t *testing.T) {
	z := loadZone(t, "testdata/example.zone", "example.com.")
	tests := []struct {
		name    string
		qname   string
		qtype   uint16
		rcode   int
		aa      bool
		ans, ns []string
		extra   []string
	}{
		{name: "exact", qname: "www.example.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			ans: []string{"www.example.com. 3600 IN A 192.0.2.80", "www.example.com. 3600 IN A 192.0.2.81"}},
		{name: "case-insensitive query", qname: "WwW.ExAmPlE.CoM.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			ans: []string{"www.example.com. 3600 IN A 192.0.2.80", "www.example.com. 3600 IN A 192.0.2.81"}},
		{name: "case-insensitive data", qname: "webmixed.example.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			ans: []string{"WebMixed.example.com. 3600 IN A 192.0.2.82"}},
		{name: "relative query name", qname: "www.example.com", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			ans: []string{"www.example.com. 3600 IN A 192.0.2.80", "www.example.com. 3600 IN A 192.0.2.81"}},
		{name: "NODATA at existing name", qname: "www.example.com.", qtype: dns.TypeAAAA, rcode: dns.RcodeSuccess, aa: true,
			ns: []string{soa300}},
		{name: "NXDOMAIN below existing name", qname: "x.www.example.com.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true,
			ns: []string{soa300}},
		{name: "apex MX with additional", qname: "example.com.", qtype: dns.TypeMX, rcode: dns.RcodeSuccess, aa: true,
			ans:   []string{"example.com. 3600 IN MX 10 mail.example.com."},
			extra: []string{"mail.example.com. 3600 IN A 192.0.2.25"}},
		{name: "apex NS with additional", qname: "example.com.", qtype: dns.TypeNS, rcode: dns.RcodeSuccess, aa: true,
			ans: []string{"example.com. 3600 IN NS ns1.example.com.", "example.com. 3600 IN NS ns2.example.com."},
			extra: []string{"ns1.example.com. 3600 IN A 192.0.2.1", "ns2.example.com. 3600 IN A 192.0.2.2",
				"ns2.example.com. 3600 IN AAAA 2001:db8::2"}},
		{name: "SRV with additional", qname: "_sip._tcp.example.com.", qtype: dns.TypeSRV, rcode: dns.RcodeSuccess, aa: true,
			ans:   []string{"_sip._tcp.example.com. 3600 IN SRV 10 5 5060 sip.example.com."},
			extra: []string{"sip.example.com. 3600 IN A 192.0.2.50"}},
		{name: "ANY answers every RRset", qname: "ns2.example.com.", qtype: dns.TypeANY, rcode: dns.RcodeSuccess, aa: true,
			ans: []string{"ns2.example.com. 3600 IN A 192.0.2.2", "ns2.example.com. 3600 IN AAAA 2001:db8::2"}},
		{name: "CNAME in-zone chase", qname: "alias2.example.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			ans: []string{"alias2.example.com. 3600 IN CNAME alias.example.com.", "alias.example.com. 3600 IN CNAME www.example.com.",
				"www.example.com. 3600 IN A 192.0.2.80", "www.example.com. 3600 IN A 192.0.2.81"}},
		{name: "CNAME query is not chased", qname: "alias.example.com.", qtype: dns.TypeCNAME, rcode: dns.RcodeSuccess, aa: true,
			ans: []string{"alias.example.com. 3600 IN CNAME www.example.com."}},
		{name: "CNAME chase ends in NODATA", qname: "alias.example.com.", qtype: dns.TypeAAAA, rcode: dns.RcodeSuccess, aa: true,
			ans: []string{"alias.example.com. 3600 IN CNAME www.example.com."}, ns: []string{soa300}},
		{name: "CNAME to NXDOMAIN", qname: "dangling.example.com.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true,
			ans: []string{"dangling.example.com. 3600 IN CNAME nothere.b.c.example.com."}, ns: []string{soa300}},
		{name: "CNAME out of zone", qname: "outside.example.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			ans: []string{"outside.example.com. 3600 IN CNAME www.example.net."}},
		{name: "CNAME loop", qname: "loop1.example.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			ans: []string{"loop1.example.com. 3600 IN CNAME loop2.example.com.", "loop2.example.com. 3600 IN CNAME loop3.example.com.",
				"loop3.example.com. 3600 IN CNAME loop1.example.com."}},
		{name: "CNAME into a delegation", qname: "tosub.example.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			ans:   []string{"tosub.example.com. 3600 IN CNAME deep.sub.example.com."},
			ns:    []string{"sub.example.com. 3600 IN NS ns1.sub.example.com.", "sub.example.com. 3600 IN NS ns.elsewhere.net."},
			extra: []string{"ns1.sub.example.com. 3600 IN A 192.0.2.53"}},
		{name: "wildcard", qname: "nothing.example.com.", qtype: dns.TypeTXT, rcode: dns.RcodeSuccess, aa: true,
			ans: []string{"nothing.example.com. 3600 IN TXT \"wildcard\""}},
		{name: "wildcard keeps query case", qname: "NoThing.example.com.", qtype: dns.TypeTXT, rcode: dns.RcodeSuccess, aa: true,
			ans: []string{"NoThing.example.com. 3600 IN TXT \"wildcard\""}},
		{name: "wildcard NODATA", qname: "nothing.example.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			ns: []string{soa300}},
		{name: "wildcard two labels below", qname: "a.b.wc.example.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			ans: []string{"a.b.wc.example.com. 3600 IN A 192.0.2.100"}},
		{name: "wildcard blocked by existing name", qname: "wc.example.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			ns: []string{soa300}},
		{name: "wildcard blocked by existing sibling", qname: "exists.wc.example.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			ns: []string{soa300}},
		{name: "wildcard blocked by empty non-terminal", qname: "x.b.c.example.com.", qtype: dns.TypeTXT, rcode: dns.RcodeNameError, aa: true,
			ns: []string{soa300}},
		{name: "wildcard under empty non-terminal, with additional", qname: "x.c.example.com.", qtype: dns.TypeMX, rcode: dns.RcodeSuccess, aa: true,
			ans:   []string{"x.c.example.com. 3600 IN MX 10 mail.example.com."},
			extra: []string{"mail.example.com. 3600 IN A 192.0.2.25"}},
		{name: "wildcard CNAME", qname: "foo.cn.example.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			ans: []string{"foo.cn.example.com. 3600 IN CNAME www.example.com.",
				"www.example.com. 3600 IN A 192.0.2.80", "www.example.com. 3600 IN A 192.0.2.81"}},
		{name: "empty non-terminal is NODATA", qname: "b.c.example.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			ns: []string{soa300}},
		{name: "empty non-terminal ANY is NODATA", qname: "c.example.com.", qtype: dns.TypeANY, rcode: dns.RcodeSuccess, aa: true,
			ns: []string{soa300}},
		{name: "delegation with glue", qname: "sub.example.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: false,
			ns:    []string{"sub.example.com. 3600 IN NS ns1.sub.example.com.", "sub.example.com. 3600 IN NS ns.elsewhere.net."},
			extra: []string{"ns1.sub.example.com. 3600 IN A 192.0.2.53"}},
		{name: "NS query at the cut is a referral", qname: "sub.example.com.", qtype: dns.TypeNS, rcode: dns.RcodeSuccess, aa: false,
			ns:    []string{"sub.example.com. 3600 IN NS ns1.sub.example.com.", "sub.example.com. 3600 IN NS ns.elsewhere.net."},
			extra: []string{"ns1.sub.example.com. 3600 IN A 192.0.2.53"}},
		{name: "name below a delegation", qname: "deep.sub.example.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: false,
			ns:    []string{"sub.example.com. 3600 IN NS ns1.sub.example.com.", "sub.example.com. 3600 IN NS ns.elsewhere.net."},
			extra: []string{"ns1.sub.example.com. 3600 IN A 192.0.2.53"}},
		{name: "missing name below a delegation", qname: "x.y.sub.example.com.", qtype: dns.TypeTXT, rcode: dns.RcodeSuccess, aa: false,
			ns:    []string{"sub.example.com. 3600 IN NS ns1.sub.example.com.", "sub.example.com. 3600 IN NS ns.elsewhere.net."},
			extra: []string{"ns1.sub.example.com. 3600 IN A 192.0.2.53"}},
		{name: "delegation without glue", qname: "host.noglue.example.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: false,
			ns: []string{"noglue.example.com. 3600 IN NS ns.other.net.", "noglue.example.com. 3600 IN NS ns2.other.net."}},
		{name: "DS at the cut answered by the parent", qname: "sub.example.com.", qtype: dns.TypeDS, rcode: dns.RcodeSuccess, aa: true,
			ans: []string{"sub.example.com. 3600 IN DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"}},
		{name: "no DS at the cut is NODATA", qname: "noglue.example.com.", qtype: dns.TypeDS, rcode: dns.RcodeSuccess, aa: true,
			ns: []string{soa300}},
		{name: "DS below the cut is a referral", qname: "deep.sub.example.com.", qtype: dns.TypeDS, rcode: dns.RcodeSuccess, aa: false,
			ns:    []string{"sub.example.com. 3600 IN NS ns1.sub.example.com.", "sub.example.com. 3600 IN NS ns.elsewhere.net."},
			extra: []string{"ns1.sub.example.com. 3600 IN A 192.0.2.53"}},
		{name: "outside the zone is refused", qname: "www.example.net.", qtype: dns.TypeA, rcode: dns.RcodeRefused, aa: false},
		{name: "suffix that is not a label boundary is refused", qname: "www.notexample.com.", qtype: dns.TypeA, rcode: dns.RcodeRefused, aa: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := z.Lookup(tc.qname, tc.qtype)
			if a.Rcode != tc.rcode {
				t.Errorf("rcode = %s, want %s", dns.RcodeToString[a.Rcode], dns.RcodeToString[tc.rcode])
			}
			if a.Authoritative != tc.aa {
				t.Errorf("AA = %v, want %v", a.Authoritative, tc.aa)
			}
			for _, sec := range []struct {
				name      string
				got, want []string
			}{{"answer", rrStrings(a.Answer), tc.ans}, {"authority", rrStrings(a.Ns), tc.ns}, {"additional", rrStrings(a.Extra), tc.extra}} {
				if !eqStrings(sec.got, sec.want) {
					t.Errorf("%s:\n got  %q\n want %q", sec.name, sec.got, sec.want)
				}
			}
		})
	}
}

func TestLookupNegativeTTLIsSOATTL(t *testing.T) {
	// SOA TTL 60 < MINIMUM 3600: negative answers carry 60 (RFC 2308).
	z := loadZone(t, "testdata/negttl.zone", "neg.test.")
	for _, q := range []struct {
		name  string
		rcode int
	}{{"nope.neg.test.", dns.RcodeNameError}, {"ns1.neg.test.", dns.RcodeSuccess}} {
		a := z.Lookup(q.name, dns.TypeTXT)
		if a.Rcode != q.rcode || len(a.Ns) != 1 || a.Ns[0].Header().Ttl != 60 || a.Ns[0].Header().Rrtype != dns.TypeSOA {
			t.Errorf("%s: rcode %d, Ns %v; want rcode %d and the SOA with TTL 60", q.name, a.Rcode, a.Ns, q.rcode)
		}
	}
	if z.SOA().Hdr.Ttl != 60 || z.SOA().Minttl != 3600 {
		t.Errorf("the zone's own SOA was changed: %v", z.SOA())
	}
}

func TestLookupDoesNotModifyZone(t *testing.T) {
	z := loadZone(t, "testdata/example.zone", "example.com.")
	before := rrStrings(z.Records())
	for _, q := range []string{"a.example.com.", "x.cn.example.com.", "alias2.example.com.", "q.wc.example.com."} {
		a := z.Lookup(q, dns.TypeA)
		// A caller appending to the sections must not write into the zone.
		_ = append(a.Answer, &dns.A{Hdr: dns.RR_Header{Name: "evil.", Rrtype: dns.TypeA, Class: dns.ClassINET}})
		_ = append(a.Extra, &dns.A{Hdr: dns.RR_Header{Name: "evil.", Rrtype: dns.TypeA, Class: dns.ClassINET}})
	}
	a := z.Lookup("www.example.com.", dns.TypeA)
	_ = append(a.Answer, &dns.A{Hdr: dns.RR_Header{Name: "evil.", Rrtype: dns.TypeA, Class: dns.ClassINET}})
	if after := rrStrings(z.Records()); !eqStrings(before, after) {
		t.Fatalf("zone records changed by lookups")
	}
	if got := rrStrings(z.Lookup("www.example.com.", dns.TypeA).Answer); len(got) != 2 {
		t.Fatalf("www answer changed: %q", got)
	}
}

func TestAuthorityMatch(t *testing.T) {
	parent := loadZone(t, "testdata/example.zone", "example.com.")
	child, _ := Parse("sub.zone", "sub.example.com.", []byte("@ 300 IN SOA ns1 h 1 2 3 4 5\n"))
	other := loadZone(t, "testdata/negttl.zone", "neg.test.")
	a := NewAuthority(other, parent, child)
	tests := []struct {
		qname string
		want  *Zone
	}{
		{"www.example.com.", parent},
		{"WWW.EXAMPLE.COM", parent},
		{"example.com.", parent},
		{"sub.example.com.", child},
		{"a.b.SUB.example.com.", child},
		{"x.neg.test.", other},
		{"example.net.", nil},
		{"com.", nil},
		{".", nil},
	}
	for _, tc := range tests {
		if got := a.Match(tc.qname); got != tc.want {
			t.Errorf("Match(%q) = %v, want %v", tc.qname, origin(got), origin(tc.want))
		}
	}
	zs := a.Zones()
	if len(zs) != 3 || zs[0] != parent || zs[1] != other || zs[2] != child {
		t.Errorf("Zones() not sorted by origin: %v %v %v", origin(zs[0]), origin(zs[1]), origin(zs[2]))
	}
	var empty *Authority
	if empty.Match("x.") != nil || NewAuthority().Match("x.") != nil {
		t.Error("an empty authority matched")
	}
}

func origin(z *Zone) string {
	if z == nil {
		return "<nil>"
	}
	return z.Origin()
}

func TestNextLabelMatchesMiekg(t *testing.T) {
	for _, name := range []string{".", "a.", "www.example.com.", `a\.b.example.com.`, `a\\.b.example.`, `a\\\.b.c.`, "x..", `\046.a.`} {
		for off := 0; off < len(name); {
			want, wantEnd := dns.NextLabel(name, off)
			got, gotEnd := nextLabel([]byte(name), off)
			if got != want || gotEnd != wantEnd {
				t.Errorf("nextLabel(%q, %d) = %d, %v; dns.NextLabel = %d, %v", name, off, got, gotEnd, want, wantEnd)
			}
			if wantEnd {
				break
			}
			off = want
		}
	}
}

func TestLookupOverlongName(t *testing.T) {
	z := loadZone(t, "testdata/example.zone", "example.com.")
	long := strings.Repeat("a.", 600) + "example.com."
	if a := z.Lookup(long, dns.TypeA); a.Rcode != dns.RcodeRefused {
		t.Errorf("rcode %d for an overlong name", a.Rcode)
	}
	if NewAuthority(z).Match(long) != nil {
		t.Error("an overlong name matched a zone")
	}
}

func TestNewFromRecords(t *testing.T) {
	var rrs []dns.RR
	for _, s := range []string{
		"example.org. 300 IN SOA ns1.example.org. h.example.org. 1 7200 900 1209600 60",
		"www.example.org. 300 IN A 192.0.2.1",
		"www.example.net. 300 IN A 192.0.2.2", // outside: dropped
	} {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		rrs = append(rrs, rr)
	}
	z := New("gen", "Example.ORG", rrs, nil)
	if z.Origin() != "example.org." || z.Len() != 2 || len(z.Positions()) != 2 || z.Positions()[1].File != "gen" {
		t.Fatalf("origin %q, %d records, positions %v", z.Origin(), z.Len(), z.Positions())
	}
	if a := z.Lookup("WWW.example.org", dns.TypeA); len(a.Answer) != 1 || !a.Authoritative {
		t.Errorf("lookup: %+v", a)
	}
	if a := z.Lookup("nope.example.org.", dns.TypeA); a.Rcode != dns.RcodeNameError || len(a.Ns) != 1 || a.Ns[0].Header().Ttl != 60 {
		t.Errorf("nxdomain: %+v", a)
	}
}

// Delegations lists every name below the apex holding NS records, sorted,
// and Addrs gives a name's A and AAAA records, glue below a cut included.
func TestDelegationsAndAddrs(t *testing.T) {
	z := loadZone(t, "testdata/example.zone", "example.com.")
	var got []string
	for _, d := range z.Delegations() {
		got = append(got, d.Name+" "+strings.Join(rrStrings(d.NS), " | "))
	}
	want := []string{
		"noglue.example.com. noglue.example.com. 3600 IN NS ns.other.net. | noglue.example.com. 3600 IN NS ns2.other.net.",
		"sub.example.com. sub.example.com. 3600 IN NS ns1.sub.example.com. | sub.example.com. 3600 IN NS ns.elsewhere.net.",
	}
	if !eqStrings(got, want) {
		t.Errorf("Delegations:\n got %q\nwant %q", got, want)
	}
	for _, tc := range []struct {
		name string
		want []string
	}{
		{"NS2.example.com.", []string{"ns2.example.com. 3600 IN A 192.0.2.2", "ns2.example.com. 3600 IN AAAA 2001:db8::2"}},
		{"ns1.sub.example.com.", []string{"ns1.sub.example.com. 3600 IN A 192.0.2.53"}}, // glue below the cut
		{"txt.example.com.", []string{}},
		{"ns.other.net.", []string{}},
	} {
		if got := rrStrings(z.Addrs(tc.name)); !eqStrings(got, tc.want) {
			t.Errorf("Addrs(%s) = %q, want %q", tc.name, got, tc.want)
		}
	}
}
