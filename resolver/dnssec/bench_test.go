package dnssec

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

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

// BenchmarkValidateColdNSEC3 is the validator's share of bench's W3
// (cold recursion on the signed internet): each iteration validates the
// answer for a name never seen before, with the chain's keys cached, in
// n3.example. (ECDSA P-256, NSEC3 without salt or extra iterations).
//
//   - wildcard: W3 itself, names under *.w.n3.example.: the expanded A
//     RRset with its RRSIG and the NSEC3 covering the next closer name.
//     The wildcard's one signature covers the same signed data for every
//     name, and the NSEC3 is one of the few of the zone (in W3 ~1,400
//     serve a million names): once both verified, no name needs the
//     cryptography again.
//   - signed-per-name: every name has its own signed A RRset, so each
//     costs one ECDSA verification (the floor of a cold secure answer).
//
// cpu-µs/op is the process's CPU per validation.
func BenchmarkValidateColdNSEC3(b *testing.B) {
	w := newWorld(b, dns.ECDSAP256SHA256)
	wild := w.n3.sign(b, rr(b, "*.w.n3.example. 300 IN A 192.0.2.80"))
	name := func(i int) string { return fmt.Sprintf("u%07d-%08x.w.n3.example.", i, uint32(i)*2654435761) }
	variants := []struct {
		name string
		msg  func(b *testing.B, i int) *dns.Msg
	}{
		{"wildcard", func(b *testing.B, i int) *dns.Msg {
			n := name(i)
			return reply(n, dns.TypeA, 0, renamed(wild, n), coverOf(b, w.n3NSEC3, n))
		}},
		{"signed-per-name", func(b *testing.B, i int) *dns.Msg {
			n := name(i)
			return reply(n, dns.TypeA, 0, w.n3.sign(b, rr(b, n+" 300 IN A 192.0.2.80")), nil)
		}},
	}
	for _, vr := range variants {
		b.Run(vr.name, func(b *testing.B) {
			v := w.validator(b, nil)
			for i := 0; i < 64; i++ { // keys (and the wildcard's NSEC3 signatures) warm
				m := vr.msg(b, -1-i)
				if r := v.Validate(context.Background(), v.NewBudget(), m.Question[0].Name, dns.TypeA, m, "n3.example."); r.Status != Secure {
					b.Fatal(r)
				}
			}
			msgs := make([]*dns.Msg, b.N)
			for i := range msgs {
				msgs[i] = vr.msg(b, i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime(b)
			for i := 0; i < b.N; i++ {
				if r := v.Validate(context.Background(), v.NewBudget(), msgs[i].Question[0].Name, dns.TypeA, msgs[i], "n3.example."); r.Status != Secure {
					b.Fatal(r)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
		})
	}
}

// cpuTime is the CPU (user + system) this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
