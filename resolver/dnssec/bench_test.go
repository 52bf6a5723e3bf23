package dnssec

import (
	"context"
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkValidateAnswer is the cost of validating one positive answer
// with the chain's keys cached: one signature verification, per algorithm.
func BenchmarkValidateAnswer(b *testing.B) {
	for _, alg := range []uint8{dns.RSASHA256, dns.ECDSAP256SHA256, dns.ED25519} {
		b.Run(dns.AlgorithmToString[alg], func(b *testing.B) {
			w := newWorld(b, alg)
			v := w.validator(b, nil)
			m := reply("www.example.", dns.TypeA, 0, w.example.sign(b, rr(b, "www.example. 300 IN A 192.0.2.1")), nil)
			if r := v.Validate(context.Background(), v.NewBudget(), "www.example.", dns.TypeA, m, "example."); r.Status != Secure {
				b.Fatal(r)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				v.Validate(context.Background(), v.NewBudget(), "www.example.", dns.TypeA, m, "example.")
			}
		})
	}
}

// BenchmarkValidateNSEC3Denial is an NSEC3 NXDOMAIN (closest encloser
// proof, three records, three signatures) with cached keys.
func BenchmarkValidateNSEC3Denial(b *testing.B) {
	w := newWorld(b, dns.ECDSAP256SHA256)
	v := w.validator(b, nil)
	m := reply("nope.n3.example.", dns.TypeA, dns.RcodeNameError, nil, concat(w.n3.sign(b, w.n3SOA), w.n3NSEC3["n3.example."], coverOf(b, w.n3NSEC3, "nope.n3.example."), coverOf(b, w.n3NSEC3, "*.n3.example.")))
	if r := v.Validate(context.Background(), v.NewBudget(), "nope.n3.example.", dns.TypeA, m, "n3.example."); r.Status != Secure {
		b.Fatal(r)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v.Validate(context.Background(), v.NewBudget(), "nope.n3.example.", dns.TypeA, m, "n3.example.")
	}
}
