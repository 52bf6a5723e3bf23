package dnssec

import (
	"context"
	"strings"
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

// BenchmarkKeyTrapAnswer is the cost of refusing one answer of
// dnssectest's KeyTrap shape built in Go: 40 keys sharing the ZSK's tag, 40
// bad signatures (the chain cached). The limits bound it to 8 signatures x
// 2 keys.
func BenchmarkKeyTrapAnswer(b *testing.B) {
	w := newWorld(b, dns.RSASHA256)
	ex := w.example
	target := ex.zsk.KeyTag()
	keys := []dns.RR{ex.ksk, ex.zsk}
	for i := 0; len(keys) < 42 && i < 1<<20; i++ {
		k := *ex.zsk
		p := []byte(k.PublicKey)
		p[8+i%60] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"[i%62]
		p[72+(i/60)%60] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"[(i/7)%62]
		k.PublicKey = string(p)
		if k.KeyTag() == target && k.PublicKey != ex.zsk.PublicKey {
			keys = append(keys, &k)
		}
	}
	w.net.set("example.", dns.TypeDNSKEY, "example.", 0, append(keys[:len(keys):len(keys)], ex.sigWith(b, ex.ksk, ex.kskPriv, keys)), nil)
	a := rr(b, "www.example. 300 IN A 192.0.2.1")
	good := ex.sign(b, a)
	answer := []dns.RR{a}
	for i := 0; i < 40; i++ {
		s := *good[1].(*dns.RRSIG)
		s.Signature = strings.Repeat("A", len(s.Signature)-4) + "AA=="
		answer = append(answer, &s)
	}
	v := w.validator(b, nil)
	m := reply("www.example.", dns.TypeA, 0, answer, nil)
	v.Validate(context.Background(), v.NewBudget(), "www.example.", dns.TypeA, m, "example.")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := v.Validate(context.Background(), v.NewBudget(), "www.example.", dns.TypeA, m, "example."); r.Status != Bogus {
			b.Fatal(r)
		}
	}
}
