package resolver

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestRecordsPerRRsetLimit: an answer with an RRset larger than
// MaxRecordsPerRRset fails the resolution and leaves nothing cached
// (BIND's max-records-per-type, CVE-2024-1737); one at the limit is fine.
func TestRecordsPerRRsetLimit(t *testing.T) {
	var big, ok strings.Builder
	for i := 0; i < 101; i++ {
		fmt.Fprintf(&big, "big A 192.0.2.%d\n", i)
	}
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&ok, "ok A 198.51.100.%d\n", i)
	}
	e := newEnv(t, func(f *fakeNet) {
		f.set("127.0.1.1", zone(t, "com.", "example NS ns1.example\nns1.example A 127.0.1.2"))
		f.set("127.0.1.2", zone(t, "example.com.", big.String()+ok.String()))
	}, nil)
	m, err := e.resolve(t, "big.example.com.", dns.TypeA)
	if m.Rcode != dns.RcodeServerFailure || !errors.Is(err, ErrTooManyRecords) || e.m.Limits.Load() != 1 {
		t.Fatalf("101 records: %s %v, %d limit hits", dns.RcodeToString[m.Rcode], err, e.m.Limits.Load())
	}
	if _, hit := e.r.c.rr.Peek(typeKey("big.example.com.", dns.TypeA)); hit {
		t.Fatal("the oversized RRset was cached")
	}
	if code, text := ExtendedError(err); code != dns.ExtendedErrorCodeOther || text == "" {
		t.Fatalf("EDE %d %q", code, text)
	}
	m, err = e.resolve(t, "ok.example.com.", dns.TypeA)
	if err != nil || len(m.Answer) != 100 {
		t.Fatalf("100 records: %v, %d answers", err, len(m.Answer))
	}
}

// TestTypesPerNameLimit: one name holds at most MaxTypesPerName cached
// RRsets and NODATA answers (BIND's max-types-per-name); past it answers
// are still given but not cached, and the limit frees up as entries go.
func TestTypesPerNameLimit(t *testing.T) {
	e := newEnv(t, func(f *fakeNet) {
		f.set("127.0.1.1", zone(t, "com.", "example NS ns1.example\nns1.example A 127.0.1.2"))
		f.set("127.0.1.2", zone(t, "example.com.", "www A 192.0.2.1"))
	}, func(c *Config) { c.MaxTypesPerName = 5 })
	// NODATA for many types: the cheap way to fill a name.
	for qt := uint16(1000); qt < 1010; qt++ {
		if m, err := e.resolve(t, "www.example.com.", qt); err != nil || m.Rcode != dns.RcodeSuccess {
			t.Fatalf("TYPE%d: %v %v", qt, m, err)
		}
	}
	if n := e.r.c.types.get("www.example.com."); n != 5 {
		t.Fatalf("%d typed entries for the name, want 5", n)
	}
	if e.m.Limits.Load() != 5 {
		t.Fatalf("%d limit hits, want 5", e.m.Limits.Load())
	}
	// Answered, not cached: asked again, it goes upstream again.
	e.net.reset()
	if m, _ := e.resolve(t, "www.example.com.", 1009); m.Rcode != dns.RcodeSuccess || len(e.net.sends()) == 0 {
		t.Fatalf("TYPE1009 past the limit: %v, %d sends", m, len(e.net.sends()))
	}
	// Entries that go free their slots.
	e.r.c.rr.Remove(typeKey("www.example.com.", 1000))
	if n := e.r.c.types.get("www.example.com."); n != 4 {
		t.Fatalf("after a removal: %d", n)
	}
	e.r.c.purge()
	if n := e.r.c.types.get("www.example.com."); n != 0 {
		t.Fatalf("after a purge: %d", n)
	}
}
