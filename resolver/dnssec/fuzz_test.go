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

// FuzzProofs runs the denial proofs over arbitrary NSEC and NSEC3 records
// (the signatures FuzzValidate must forge first are skipped): no name,
// bitmap or hash a server sends may panic them or run past the budget.
func FuzzProofs(f *testing.F) {
	w := newWorld(f, dns.ECDSAP256SHA256)
	seed := func(qname string, ns []dns.RR) {
		m := reply(qname, dns.TypeA, dns.RcodeNameError, nil, ns)
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seed("nope.example.", concat(coverOf(f, w.exampleNSEC, "nope.example."), coverOf(f, w.exampleNSEC, "*.example.")))
	seed("a.b.nope.n3.example.", concat(w.n3NSEC3["n3.example."], coverOf(f, w.n3NSEC3, "nope.n3.example."), w.n3OptOut["n3.example."]))
	f.Fuzz(func(t *testing.T, data []byte) {
		m := new(dns.Msg)
		if err := m.Unpack(data); err != nil || len(m.Question) != 1 {
			return
		}
		q := m.Question[0]
		for _, zone := range []string{".", "example.", "n3.example.", canonical(q.Name)} {
			d := &denialSet{zone: canonical(zone)}
			for _, rr := range m.Ns {
				switch x := rr.(type) {
				case *dns.NSEC:
					d.nsec = append(d.nsec, x)
				case *dns.NSEC3:
					d.nsec3 = append(d.nsec3, x)
				}
			}
			b := NewBudget(Limits{})
			proveNXDOMAIN(b, d, q.Name)
			proveNODATA(b, d, q.Name, q.Qtype)
			proveNoCloserMatch(b, d, q.Name, "*."+zone)
			proveDS(b, d, q.Name)
			if _, h := b.Spent(); h > 600 {
				t.Fatalf("%d hash computations", h)
			}
		}
	})
}
