package dnssec

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestAlgorithms: every supported algorithm validates through the chain;
// an algorithm the validator lacks makes the zone insecure, not bogus (RFC
// 4035 section 5.2, RFC 6840 section 5.2).
func TestAlgorithms(t *testing.T) {
	for _, alg := range []uint8{dns.RSASHA1, dns.RSASHA1NSEC3SHA1, dns.RSASHA256, dns.RSASHA512, dns.ECDSAP256SHA256, dns.ECDSAP384SHA384, dns.ED25519} {
		t.Run(dns.AlgorithmToString[alg], func(t *testing.T) {
			w := newWorld(t, alg)
			v := w.validator(t, nil)
			a := rr(t, "www.example. 300 IN A 192.0.2.1")
			got := v.Validate(context.Background(), v.NewBudget(), "www.example.", dns.TypeA, reply("www.example.", dns.TypeA, 0, w.example.sign(t, a), nil), "example.")
			if got.Status != Secure {
				t.Fatalf("got %v, want secure", got)
			}
		})
	}
}

// TestDSCases covers the DS -> DNSKEY step.
func TestDSCases(t *testing.T) {
	a := rr(t, "www.example. 300 IN A 192.0.2.1")
	other := newZone(t, "example.", dns.ED25519) // keys the parent does not vouch for
	tests := []struct {
		name string
		ds   func(w *world) []dns.RR // DS RRset of example. (unsigned; the root signs it)
		want Status
		ede  uint16
	}{
		{"SHA-256", func(w *world) []dns.RR { return []dns.RR{w.example.ds(dns.SHA256)} }, Secure, 0},
		{"SHA-384", func(w *world) []dns.RR { return []dns.RR{w.example.ds(dns.SHA384)} }, Secure, 0},
		{"SHA-1", func(w *world) []dns.RR { return []dns.RR{w.example.ds(dns.SHA1)} }, Secure, 0},
		{"SHA-1 ignored next to a wrong SHA-256 (RFC 4509 3)", func(w *world) []dns.RR {
			return []dns.RR{w.example.ds(dns.SHA1), other.ds(dns.SHA256)}
		}, Bogus, EDEDNSKEYMissing},
		{"DS matching no key", func(w *world) []dns.RR { return []dns.RR{other.ds(dns.SHA256)} }, Bogus, EDEDNSKEYMissing},
		{"one good DS among others", func(w *world) []dns.RR {
			return []dns.RR{other.ds(dns.SHA256), w.example.ds(dns.SHA256)}
		}, Secure, 0},
		{"unsupported digest only", func(w *world) []dns.RR {
			d := w.example.ds(dns.SHA256)
			d.DigestType = dns.GOST94
			return []dns.RR{d}
		}, Insecure, EDEUnsupportedDigest},
		{"unsupported algorithm only (Ed448)", func(w *world) []dns.RR {
			d := w.example.ds(dns.SHA256)
			d.Algorithm = dns.ED448
			return []dns.RR{d}
		}, Insecure, EDEUnsupportedAlgorithm},
		{"unknown algorithm only", func(w *world) []dns.RR {
			d := w.example.ds(dns.SHA256)
			d.Algorithm = 200
			return []dns.RR{d}
		}, Insecure, EDEUnsupportedAlgorithm},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, dns.ECDSAP256SHA256)
			w.net.set("example.", dns.TypeDS, ".", 0, w.root.sign(t, tc.ds(w)...), nil)
			v := w.validator(t, nil)
			got := v.Validate(context.Background(), v.NewBudget(), "www.example.", dns.TypeA, reply("www.example.", dns.TypeA, 0, w.example.sign(t, a), nil), "example.")
			if got.Status != tc.want || got.EDE != tc.ede {
				t.Fatalf("got %v (EDE %d), want %v (EDE %d)", got, got.EDE, tc.want, tc.ede)
			}
		})
	}
}

// TestDelegations covers the proofs of a missing DS from the parent.
func TestDelegations(t *testing.T) {
	a := "host.%s 300 IN A 192.0.2.5"
	tests := []struct {
		name  string
		zone  string
		setup func(t *testing.T, w *world)
		want  Status
		ede   uint16
	}{
		{"NSEC proves no DS", "unsigned.example.", func(*testing.T, *world) {}, Insecure, 0},
		{"DS denial without NSEC", "unsigned.example.", func(t *testing.T, w *world) {
			w.net.set("unsigned.example.", dns.TypeDS, "example.", 0, nil, w.example.sign(t, w.exSOA))
		}, Bogus, EDENSECMissing},
		{"DS denial unsigned", "unsigned.example.", func(t *testing.T, w *world) {
			w.net.set("unsigned.example.", dns.TypeDS, "example.", 0, nil, []dns.RR{w.exSOA, w.exampleNSEC["unsigned.example."][0]})
		}, Bogus, EDENSECMissing},
		{"NSEC says a DS exists", "n3.example.", func(t *testing.T, w *world) {
			w.net.set("n3.example.", dns.TypeDS, "example.", 0, nil, concat(w.example.sign(t, w.exSOA), w.exampleNSEC["n3.example."]))
		}, Bogus, EDEBogus},
		{"DS denial from the child's apex", "n3.example.", func(t *testing.T, w *world) {
			apex := w.n3.nsecChain(t, map[string][]uint16{"n3.example.": {dns.TypeSOA, dns.TypeNS, dns.TypeDNSKEY}})
			w.net.set("n3.example.", dns.TypeDS, "n3.example.", 0, nil, concat(w.n3.sign(t, w.n3SOA), apex["n3.example."]))
		}, Bogus, EDENSECMissing}, // the child's records cannot speak for the parent
		{"no zone cut: the parent's keys sign", "nodelegation.example.", func(t *testing.T, w *world) {
			w.net.set("nodelegation.example.", dns.TypeDS, "example.", 0, nil, concat(w.example.sign(t, w.exSOA), w.exampleNSEC["nodelegation.example."]))
		}, Bogus, EDERRSIGsMissing}, // the unsigned A is in the signed zone example.
		{"NSEC3 opt-out covers the delegation", "optout.n3.example.", func(t *testing.T, w *world) {
			w.net.set("optout.n3.example.", dns.TypeDS, "n3.example.", 0, nil, concat(w.n3.sign(t, w.n3SOA),
				w.n3OptOut["n3.example."], coverOf(t, w.n3OptOut, "optout.n3.example.")))
		}, Insecure, 0},
		{"NSEC3 without opt-out proves the delegation absent", "optout.n3.example.", func(t *testing.T, w *world) {
			w.net.set("optout.n3.example.", dns.TypeDS, "n3.example.", 0, nil, concat(w.n3.sign(t, w.n3SOA),
				w.n3NSEC3["n3.example."], coverOf(t, w.n3NSEC3, "optout.n3.example.")))
		}, Bogus, EDEBogus}, // the name does not exist, yet data came from it
		{"NSEC3 delegation without DS", "sec.n3.example.", func(t *testing.T, w *world) {
			chain := w.n3.nsec3Chain(t, map[string][]uint16{"n3.example.": {dns.TypeSOA}, "sec.n3.example.": {dns.TypeNS}}, 0, "", false)
			w.net.set("sec.n3.example.", dns.TypeDS, "n3.example.", 0, nil, concat(w.n3.sign(t, w.n3SOA), chain["sec.n3.example."]))
		}, Insecure, 0},
		{"NSEC3 iterations above 150", "many.n3.example.", func(t *testing.T, w *world) {
			chain := w.n3.nsec3Chain(t, map[string][]uint16{"n3.example.": {dns.TypeSOA}, "many.n3.example.": {dns.TypeNS}}, 151, "AB", false)
			w.net.set("many.n3.example.", dns.TypeDS, "n3.example.", 0, nil, concat(w.n3.sign(t, w.n3SOA), chain["many.n3.example."]))
		}, Insecure, EDEUnsupportedNSEC3Iterations},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, dns.ECDSAP256SHA256)
			tc.setup(t, w)
			v := w.validator(t, nil)
			q := "host." + tc.zone
			got := v.Validate(context.Background(), v.NewBudget(), q, dns.TypeA, reply(q, dns.TypeA, 0, rrs(t, fmt.Sprintf(a, tc.zone)), nil), tc.zone)
			if got.Status != tc.want || got.EDE != tc.ede {
				t.Fatalf("got %v (EDE %d), want %v (EDE %d)", got, got.EDE, tc.want, tc.ede)
			}
		})
	}
}

// TestKeyCache: a validated chain is fetched once; a bogus one is
// remembered for BogusTTL and then fetched again.
func TestKeyCache(t *testing.T) {
	w := newWorld(t, dns.ECDSAP256SHA256)
	now := testNow
	v := w.validator(t, func(c *Config) { c.Now = func() time.Time { return now }; c.OverrideDate = testNow })
	a := w.example.sign(t, rr(t, "www.example. 300 IN A 192.0.2.1"))
	for i := 0; i < 3; i++ {
		if got := v.Validate(context.Background(), v.NewBudget(), "www.example.", dns.TypeA, reply("www.example.", dns.TypeA, 0, a, nil), "example."); got.Status != Secure {
			t.Fatalf("round %d: %v", i, got)
		}
	}
	if n := w.net.count("example.", dns.TypeDNSKEY); n != 1 {
		t.Errorf("DNSKEY of example. fetched %d times, want 1", n)
	}
	// A DNSKEY RRset that no longer matches: bogus, remembered 60 s.
	other := newZone(t, "example.", dns.ED25519)
	w.net.set("example.", dns.TypeDNSKEY, "example.", 0, other.keys(t), nil)
	now = now.Add(2 * time.Hour) // past the DNSKEY TTL (1h)
	for i := 0; i < 2; i++ {
		if got := v.Validate(context.Background(), v.NewBudget(), "www.example.", dns.TypeA, reply("www.example.", dns.TypeA, 0, a, nil), "example."); got.Status != Bogus || got.EDE != EDEDNSKEYMissing {
			t.Fatalf("round %d: %v, want bogus DNSKEY missing", i, got)
		}
	}
	if n := w.net.count("example.", dns.TypeDNSKEY); n != 2 {
		t.Errorf("DNSKEY of example. fetched %d times, want 2 (bogus cached)", n)
	}
	now = now.Add(61 * time.Second)
	v.Validate(context.Background(), v.NewBudget(), "www.example.", dns.TypeA, reply("www.example.", dns.TypeA, 0, a, nil), "example.")
	if n := w.net.count("example.", dns.TypeDNSKEY); n != 3 {
		t.Errorf("DNSKEY of example. fetched %d times after BogusTTL, want 3", n)
	}
}

// TestKeyCacheSignatureLifetime: a validated DNSKEY RRset is trusted no
// longer than its RRSIG is valid (RFC 4035 section 5.3.3), even when its
// TTL is longer: the keys are fetched and verified again once the
// signature expired.
func TestKeyCacheSignatureLifetime(t *testing.T) {
	w := newWorld(t, dns.ECDSAP256SHA256)
	now := testNow
	v := w.validator(t, func(c *Config) { c.Now = func() time.Time { return now } })
	short := *w.example
	short.expiry = testNow.Add(30 * time.Minute) // the DNSKEY TTL is 1h
	set := []dns.RR{w.example.ksk, w.example.zsk}
	w.net.set("example.", dns.TypeDNSKEY, "example.", 0, append(set[:2:2], short.sigWith(t, short.ksk, short.kskPriv, set)), nil)
	a := reply("www.example.", dns.TypeA, 0, w.example.sign(t, rr(t, "www.example. 300 IN A 192.0.2.1")), nil)
	validate := func(at time.Duration) Result {
		now = testNow.Add(at)
		return v.Validate(context.Background(), v.NewBudget(), "www.example.", dns.TypeA, a, "example.")
	}
	for _, at := range []time.Duration{0, 20 * time.Minute} {
		if got := validate(at); got.Status != Secure {
			t.Fatalf("at +%v: %v", at, got)
		}
	}
	if n := w.net.count("example.", dns.TypeDNSKEY); n != 1 {
		t.Fatalf("DNSKEY of example. fetched %d times within its signature's life, want 1", n)
	}
	// Past the signature, before the TTL: the cached keys are gone, and
	// the same RRset, fetched again, no longer verifies.
	if got := validate(40 * time.Minute); got.Status != Bogus || got.EDE != EDESignatureExpired {
		t.Fatalf("at +40m with the expired DNSKEY signature: %v, want bogus, signature expired", got)
	}
	if n := w.net.count("example.", dns.TypeDNSKEY); n != 2 {
		t.Fatalf("DNSKEY of example. fetched %d times, want 2 (refetched when its signature expired)", n)
	}
}

// TestOverrideDate: recorded signatures validate at the overridden date
// and expire at the real one (Unbound's val-override-date).
func TestOverrideDate(t *testing.T) {
	w := newWorld(t, dns.ECDSAP256SHA256)
	a := w.example.sign(t, rr(t, "www.example. 300 IN A 192.0.2.1"))
	later := testNow.Add(30 * 24 * time.Hour)
	v := w.validator(t, func(c *Config) { c.Now = func() time.Time { return later } })
	if got := v.Validate(context.Background(), v.NewBudget(), "www.example.", dns.TypeA, reply("www.example.", dns.TypeA, 0, a, nil), "example."); got.Status != Bogus || got.EDE != EDESignatureExpired {
		t.Fatalf("a month later: %v, want bogus, signature expired", got)
	}
	v = w.validator(t, func(c *Config) { c.Now = func() time.Time { return later }; c.OverrideDate = testNow })
	if got := v.Validate(context.Background(), v.NewBudget(), "www.example.", dns.TypeA, reply("www.example.", dns.TypeA, 0, a, nil), "example."); got.Status != Secure {
		t.Fatalf("with the override: %v, want secure", got)
	}
}

// TestNegativeTrustAnchor: below an NTA even bogus data is insecure and
// nothing is fetched (RFC 7646).
func TestNegativeTrustAnchor(t *testing.T) {
	w := newWorld(t, dns.ECDSAP256SHA256)
	nta, err := NewNegativeAnchors([]string{"example."})
	if err != nil {
		t.Fatal(err)
	}
	v := w.validator(t, func(c *Config) { c.Negative = nta })
	got := v.Validate(context.Background(), v.NewBudget(), "www.example.", dns.TypeA, reply("www.example.", dns.TypeA, 0, rrs(t, "www.example. 300 IN A 192.0.2.1"), nil), "example.")
	if got.Status != Insecure {
		t.Fatalf("got %v, want insecure", got)
	}
	if n := w.net.count(".", dns.TypeDNSKEY); n != 0 {
		t.Errorf("fetched the root DNSKEY %d times under an NTA", n)
	}
	if v.Covers("www.example.") || !v.Covers("www.example2.") {
		t.Error("Covers disagrees with the NTA")
	}
	if _, err := NewNegativeAnchors([]string{"corp.example"}); err == nil {
		t.Error("a relative NTA name was accepted")
	}
}

// TestInternalZones: the node's own zones are validated only under an
// anchor of their own; other names keep the root's chain.
func TestInternalZones(t *testing.T) {
	w := newWorld(t, dns.ECDSAP256SHA256)
	unsigned := reply("www.corp.example.", dns.TypeA, 0, rrs(t, "www.corp.example. 300 IN A 192.0.2.1"), nil)
	v := w.validator(t, func(c *Config) { c.Internal = []string{"Corp.Example."} })
	if got := v.Validate(context.Background(), v.NewBudget(), "www.corp.example.", dns.TypeA, unsigned, "corp.example."); got.Status != Indeterminate {
		t.Fatalf("internal name: %v, want indeterminate", got)
	}
	if v.Covers("www.corp.example.") || !v.Covers("www.example.") {
		t.Error("Covers disagrees with the internal zones")
	}
	// An anchor at the internal zone: validated (and this unsigned answer
	// is bogus).
	corp := newZone(t, "corp.example.", dns.ED25519)
	a, err := NewAnchors([]dns.RR{w.root.ds(dns.SHA256), corp.ds(dns.SHA256)})
	if err != nil {
		t.Fatal(err)
	}
	w.net.set("corp.example.", dns.TypeDNSKEY, "corp.example.", 0, corp.keys(t), nil)
	v = w.validator(t, func(c *Config) { c.Internal = []string{"corp.example."}; c.Anchors = a })
	if got := v.Validate(context.Background(), v.NewBudget(), "www.corp.example.", dns.TypeA, unsigned, "corp.example."); got.Status != Bogus {
		t.Fatalf("internal name under its own anchor: %v, want bogus", got)
	}
	signed := reply("www.corp.example.", dns.TypeA, 0, corp.sign(t, rr(t, "www.corp.example. 300 IN A 192.0.2.1")), nil)
	if got := v.Validate(context.Background(), v.NewBudget(), "www.corp.example.", dns.TypeA, signed, "corp.example."); got.Status != Secure {
		t.Fatalf("signed internal name under its own anchor: %v, want secure", got)
	}
}

// TestUnknownZone: a forwarder's reply does not say which zone it came
// from; unsigned data is then placed by walking the DS chain down from the
// anchor.
func TestUnknownZone(t *testing.T) {
	w := newWorld(t, dns.ECDSAP256SHA256)
	// DS of names that are no zone cut: the NSEC of their zone says so.
	w.net.set("host.unsigned.example.", dns.TypeDS, "unsigned.example.", 0, rrs(t, "host.unsigned.example. 300 IN A 192.0.2.5"), nil)
	w.net.set("www.example.", dns.TypeDS, "example.", 0, nil, concat(w.example.sign(t, w.exSOA), w.exampleNSEC["www.example."]))
	v := w.validator(t, nil)
	tests := []struct {
		qname string
		want  Status
		ede   uint16
	}{
		{"host.unsigned.example.", Insecure, 0},
		{"www.example.", Bogus, EDERRSIGsMissing},
	}
	for _, tc := range tests {
		got := v.Validate(context.Background(), v.NewBudget(), tc.qname, dns.TypeA, reply(tc.qname, dns.TypeA, 0, rrs(t, tc.qname+" 300 IN A 192.0.2.5"), nil), "")
		if got.Status != tc.want || got.EDE != tc.ede {
			t.Errorf("%s: got %v (EDE %d), want %v (EDE %d)", tc.qname, got, got.EDE, tc.want, tc.ede)
		}
	}
	if n := w.net.count("host.unsigned.example.", dns.TypeDS); n != 0 {
		t.Errorf("asked the DS of host.unsigned.example. %d times: the walk must stop at the insecure delegation", n)
	}
}

// TestValidatePartial: a reply holding only the start of a CNAME chain
// (its target is another question) is secure when its RRsets are; as a
// complete reply the missing target would be a NODATA without proof.
func TestValidatePartial(t *testing.T) {
	w := newWorld(t, dns.ECDSAP256SHA256)
	v := w.validator(t, nil)
	m := reply("alias.example.", dns.TypeA, 0, w.example.sign(t, rr(t, "alias.example. 300 IN CNAME target.elsewhere.")), nil)
	if got := v.ValidatePartial(context.Background(), v.NewBudget(), "alias.example.", dns.TypeA, m, "example."); got.Status != Secure {
		t.Errorf("partial: %v, want secure", got)
	}
	if got := v.Validate(context.Background(), v.NewBudget(), "alias.example.", dns.TypeA, m, "example."); got.Status != Bogus {
		t.Errorf("complete: %v, want bogus (no proof the target has no A)", got)
	}
}
