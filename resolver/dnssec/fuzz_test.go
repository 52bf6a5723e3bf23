package dnssec

import (
	"context"
	"testing"

	"github.com/miekg/dns"
)

// FuzzValidate feeds arbitrary replies (untrusted network input) to the
// validator and the aggressive store over a signed world: neither may
// panic, and no reply may spend more than the per-query work limits.
func FuzzValidate(f *testing.F) {
	w := newWorld(f, dns.ECDSAP256SHA256)
	seeds := []*dns.Msg{
		reply("www.example.", dns.TypeA, 0, w.example.sign(f, rr(f, "www.example. 300 IN A 192.0.2.1")), nil),
		reply("nope.example.", dns.TypeA, dns.RcodeNameError, nil, concat(w.example.sign(f, w.exSOA), coverOf(f, w.exampleNSEC, "nope.example."), coverOf(f, w.exampleNSEC, "*.example."))),
		reply("nope.n3.example.", dns.TypeA, dns.RcodeNameError, nil, concat(w.n3.sign(f, w.n3SOA), w.n3NSEC3["n3.example."], coverOf(f, w.n3NSEC3, "nope.n3.example."), coverOf(f, w.n3NSEC3, "*.n3.example."))),
	}
	for _, m := range seeds {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	v := w.validator(f, func(c *Config) { c.Aggressive = NewAggressive(0, 0) })
	f.Fuzz(func(t *testing.T, data []byte) {
		m := new(dns.Msg)
		if err := m.Unpack(data); err != nil || len(m.Question) != 1 {
			return
		}
		q := m.Question[0]
		b := v.NewBudget()
		v.Validate(context.Background(), b, q.Name, q.Qtype, m, "example.")
		if s, h := b.Spent(); s > 30 || h > 600 {
			t.Fatalf("spent %d validations and %d hashes, beyond the limits", s, h)
		}
		v.Aggressive().Lookup(v.NewBudget(), "example.", q.Name, q.Qtype, testNow)
	})
}
