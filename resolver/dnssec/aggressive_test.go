package dnssec

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestAggressive: after one validated NXDOMAIN, other names in the same
// NSEC gap are denied from the store without a query (RFC 8198), names
// outside it are not, and nothing outlives the negative TTL.
func TestAggressive(t *testing.T) {
	w := newWorld(t, dns.ECDSAP256SHA256)
	agg := NewAggressive(0, 0)
	v := w.validator(t, func(c *Config) { c.Aggressive = agg })
	ns := concat(w.example.sign(t, w.exSOA), coverOf(t, w.exampleNSEC, "nope.example."), coverOf(t, w.exampleNSEC, "*.example."))
	got := v.Validate(context.Background(), v.NewBudget(), "nope.example.", dns.TypeA, reply("nope.example.", dns.TypeA, dns.RcodeNameError, nil, ns), "example.")
	if got.Status != Secure {
		t.Fatalf("Validate: %v", got)
	}
	// The gap that held nope.example. also holds nope2.example..
	rcode, auth, ok := agg.Lookup(v.NewBudget(), "example.", "nope2.example.", dns.TypeA, testNow)
	if !ok || rcode != dns.RcodeNameError {
		t.Fatalf("Lookup(nope2) = %d, %v; want NXDOMAIN from the store", rcode, ok)
	}
	// What it returns validates on its own.
	if got := v.Validate(context.Background(), v.NewBudget(), "nope2.example.", dns.TypeA, reply("nope2.example.", dns.TypeA, dns.RcodeNameError, nil, auth), "example."); got.Status != Secure {
		t.Fatalf("synthesised denial does not validate: %v", got)
	}
	if rcode, _, ok := agg.LookupName(v.NewBudget(), "deeper.nope2.example.", dns.TypeA, testNow); !ok || rcode != dns.RcodeNameError {
		t.Errorf("LookupName(deeper.nope2) = %d, %v; want NXDOMAIN from example.'s records", rcode, ok)
	}
	if _, _, ok := agg.Lookup(v.NewBudget(), "example.", "www.example.", dns.TypeA, testNow); ok {
		t.Error("an existing name was denied from the store")
	}
	if _, _, ok := agg.Lookup(v.NewBudget(), "example.", "nope2.example.", dns.TypeA, testNow.Add(301*time.Second)); ok {
		t.Error("the store answered past the negative TTL (300 s)")
	}
}
