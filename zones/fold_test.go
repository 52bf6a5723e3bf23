package zones

import (
	"testing"

	"github.com/miekg/dns"
)

// TestRDATANamesFoldASCIIOnly: a name in RDATA written with raw octets
// outside US-ASCII (here the Kelvin sign, U+212A, which Unicode folds to
// "k") is those octets, not another spelling of an ASCII name: a CNAME to
// it is not chased to k's records, an MX pointing at it gets no address of
// k, and the chain is left dangling for the resolver, with its target as
// written (RFC 4343 section 3: only ASCII letters fold).
func TestRDATANamesFoldASCIIOnly(t *testing.T) {
	const kelvin = "\u212a.example.com."
	src := "$ORIGIN example.com.\n$TTL 300\n" +
		"@ SOA ns1 hostmaster 1 7200 900 1209600 300\n" +
		"@ NS ns1\n" +
		"ns1 A 192.0.2.1\n" +
		"k A 192.0.2.9\n" +
		"kelvin CNAME " + kelvin + "\n" +
		"mx MX 10 " + kelvin + "\n"
	z, fs := Parse("fold.zone", "example.com.", []byte(src))
	if HasErrors(fs) {
		t.Fatalf("parse: %v", fs)
	}

	a := z.Lookup("kelvin.example.com.", dns.TypeA)
	if len(a.Answer) != 1 || a.Answer[0].Header().Rrtype != dns.TypeCNAME {
		t.Errorf("kelvin A: answer %q, want only the CNAME (not chased to k)", rrStrings(a.Answer))
	}
	if target, ok := DanglingCNAME(a.Answer); !ok || target != kelvin {
		t.Errorf("DanglingCNAME = %q, %v; want %q, true", target, ok, kelvin)
	}

	m := z.Lookup("mx.example.com.", dns.TypeMX)
	if len(m.Extra) != 0 {
		t.Errorf("mx MX: additional %q, want none (the exchange is not k)", rrStrings(m.Extra))
	}

	// ASCII case still folds.
	upper := &dns.CNAME{Hdr: dns.RR_Header{Name: "a.example.com.", Rrtype: dns.TypeCNAME, Class: dns.ClassINET}, Target: "K.EXAMPLE.COM."}
	if target, ok := DanglingCNAME([]dns.RR{upper}); !ok || target != "k.example.com." {
		t.Errorf("DanglingCNAME of K.EXAMPLE.COM. = %q, %v; want k.example.com., true", target, ok)
	}
}
