package resolver

import (
	"context"
	"errors"
	"testing"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/wire"
)

// metaWorld: example.com exists, with www below it.
func metaWorld(t testing.TB) *testEnv {
	return newEnv(t, func(f *fakeNet) {
		f.set("127.0.1.1", zone(t, "com.", "example NS ns1.example\nns1.example A 127.0.1.2"))
		f.set("127.0.1.2", zone(t, "example.com.", "www A 192.0.2.1"))
	}, nil)
}

// TestMetaTypesAnsweredBeforeResolution: every meta or reserved question
// type gets its RFC answer with no upstream query, nothing cached, and no
// effect on the names at or below it (issue 13: "example.com TYPE0" made
// every name below example.com NXDOMAIN for the negative TTL).
func TestMetaTypesAnsweredBeforeResolution(t *testing.T) {
	for _, tc := range []struct {
		qtype uint16
		rcode int
	}{
		{0, dns.RcodeFormatError},
		{dns.TypeOPT, dns.RcodeFormatError},
		{dns.TypeTSIG, dns.RcodeFormatError},
		{200, dns.RcodeFormatError}, // unassigned Q/Meta range
		{65535, dns.RcodeFormatError},
		{dns.TypeTKEY, dns.RcodeNotImplemented},
		{dns.TypeMAILB, dns.RcodeNotImplemented},
		{dns.TypeMAILA, dns.RcodeNotImplemented},
		{dns.TypeIXFR, dns.RcodeRefused},
		{dns.TypeAXFR, dns.RcodeRefused},
	} {
		t.Run(dns.Type(tc.qtype).String(), func(t *testing.T) {
			e := metaWorld(t)
			for _, name := range []string{"example.com.", "com.", "www.example.com."} {
				m, err := e.resolve(t, name, tc.qtype)
				if m.Rcode != tc.rcode || !errors.Is(err, ErrMetaType) {
					t.Fatalf("%s TYPE%d: %s (%v), want %s", name, tc.qtype, dns.RcodeToString[m.Rcode], err, dns.RcodeToString[tc.rcode])
				}
			}
			if s := e.net.sends(); len(s) != 0 {
				t.Fatalf("meta type sent upstream: %v", s)
			}
			if n := e.r.c.rr.Len(); n != 0 {
				t.Fatalf("%d cache entries after meta questions", n)
			}
			m, err := e.resolve(t, "www.example.com.", dns.TypeA)
			if err != nil || m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
				t.Fatalf("www.example.com A after TYPE%d: %s %v", tc.qtype, dns.RcodeToString[m.Rcode], err)
			}
		})
	}
}

// TestNegativeAnswerOfTypeZeroIsNoNameError: the key mechanism alone. A
// NODATA cached for qtype 0 (as a resolver without the front-door check
// stored it) is a typed entry: it must not read as "example.com does not
// exist" for other types or for the names below it (RFC 8020).
func TestNegativeAnswerOfTypeZeroIsNoNameError(t *testing.T) {
	e := metaWorld(t)
	soa := mustRRs(t, "example.com.", "@ 300 SOA ns.invalid. h.invalid. 1 60 60 600 60")
	e.r.c.rr.Add(typeKey("example.com.", 0), &entry{rrs: soa, neg: true, rcode: dns.RcodeSuccess, expires: e.clock.Now().Add(3600e9)})
	for _, name := range []string{"www.example.com.", "example.com."} {
		m, err := e.resolve(t, name, dns.TypeA)
		if err != nil || m.Rcode == dns.RcodeNameError {
			t.Fatalf("%s A: %s %v: a TYPE0 entry answered as NXDOMAIN", name, dns.RcodeToString[m.Rcode], err)
		}
	}
}

// TestStoreNeverKeepsMetaTypes: even if the lower layers were asked about a
// meta type (not through Resolve), nothing negative is cached for it.
func TestStoreNeverKeepsMetaTypes(t *testing.T) {
	e := metaWorld(t)
	soa := mustRRs(t, "example.com.", "@ 300 SOA ns.invalid. h.invalid. 1 60 60 600 60")
	for q := 0; q < 65536; q++ {
		if !wire.IsMeta(uint16(q)) {
			continue
		}
		for _, st := range []status{statusNODATA, statusNXDOMAIN} {
			e.r.store(&outcome{target: "example.com.", status: st, soa: soa}, uint16(q), e.clock.Now())
		}
	}
	if n := e.r.c.rr.Len(); n != 0 {
		t.Fatalf("%d entries cached for meta types", n)
	}
}

// FuzzCacheKey: whatever the wire question (any name, any type), the key
// Resolve builds from it never equals the name-error marker of that name
// or of any ancestor, and a NODATA cached for it never makes a name below
// it non-existent.
func FuzzCacheKey(f *testing.F) {
	for _, t := range []uint16{0, 1, 28, 41, 249, 250, 251, 252, 253, 254, 255, 65535} {
		f.Add("example.com.", t)
	}
	f.Add("EXAMPLE.com", uint16(0))
	f.Add(".", uint16(0))
	e := metaWorld(f)
	soa := mustRRs(f, "example.com.", "@ 300 SOA ns.invalid. h.invalid. 1 60 60 600 60")
	f.Fuzz(func(t *testing.T, name string, qtype uint16) {
		if _, ok := dns.IsDomainName(name); !ok {
			return
		}
		n := lower(name)
		k := typeKey(n, qtype)
		for i, end := 0, false; !end; i, end = dns.NextLabel(n, i) {
			if k == nameErrorKey(n[i:]) {
				t.Fatalf("question %q TYPE%d has the name-error key of %q", name, qtype, n[i:])
			}
		}
		if k == nameErrorKey(".") {
			t.Fatalf("question %q TYPE%d has the name-error key of the root", name, qtype)
		}
		e.r.c.purge()
		// A NODATA for the question, stored the way resolution stores it.
		e.r.store(&outcome{target: n, status: statusNODATA, soa: soa}, qtype, e.clock.Now())
		if _, _, nx := e.r.nxAncestor("below."+n, e.clock.Now()); nx {
			t.Fatalf("NODATA of %q TYPE%d made the names below it NXDOMAIN", name, qtype)
		}
		var m dns.Msg
		if e.r.fromCache(&m, n, dns.TypeA, e.clock.Now(), false, nil, nil) && m.Rcode == dns.RcodeNameError && qtype != dns.TypeA {
			t.Fatalf("NODATA of %q TYPE%d answers A with NXDOMAIN", name, qtype)
		}
		// And Resolve never caches a meta question at all.
		if wire.IsMeta(qtype) {
			e.r.c.purge()
			m, _ := e.r.Resolve(context.Background(), dns.Question{Name: n, Qtype: qtype, Qclass: dns.ClassINET})
			if want, _ := wire.MetaRcode(qtype); m.Rcode != want || e.r.c.rr.Len() != 0 {
				t.Fatalf("TYPE%d: %s, %d cached", qtype, dns.RcodeToString[m.Rcode], e.r.c.rr.Len())
			}
		}
	})
}
