package dnssec

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestValidate(t *testing.T) {
	w := newWorld(t, dns.ECDSAP256SHA256)
	ex, n3 := w.example, w.n3
	wwwA := rr(t, "www.example. 300 IN A 192.0.2.1")
	ctx := context.Background()

	tampered := ex.sign(t, wwwA)
	bad := *tampered[1].(*dns.RRSIG)
	bad.Signature = strings.ToUpper(bad.Signature[:10]) + "AAAA" + bad.Signature[14:]
	tampered[1] = &bad

	expired := *ex
	expired.inception, expired.expiry = testNow.Add(-48*time.Hour), testNow.Add(-time.Hour)
	future := *ex
	future.inception, future.expiry = testNow.Add(time.Hour), testNow.Add(48*time.Hour)

	// A wildcard answer: signed at *.wild.example., served as x.wild.example.
	wildSigned := ex.sign(t, rr(t, "*.wild.example. 300 IN A 192.0.2.9"))
	wildAnswer := renamed(wildSigned, "x.wild.example.")

	n3wild := n3.sign(t, rr(t, "*.w.n3.example. 300 IN A 192.0.2.10"))
	n3wildAnswer := renamed(n3wild, "deep.w.n3.example.")

	exNeg := ex.sign(t, w.exSOA)
	n3Neg := n3.sign(t, w.n3SOA)

	tests := []struct {
		name  string
		qname string
		qtype uint16
		zone  string
		reply *dns.Msg
		want  Status
		ede   uint16
	}{
		{"secure answer", "www.example.", dns.TypeA, "example.",
			reply("www.example.", dns.TypeA, 0, ex.sign(t, wwwA), nil), Secure, 0},
		{"tampered signature", "www.example.", dns.TypeA, "example.",
			reply("www.example.", dns.TypeA, 0, tampered, nil), Bogus, EDEBogus},
		{"changed data", "www.example.", dns.TypeA, "example.",
			reply("www.example.", dns.TypeA, 0, []dns.RR{rr(t, "www.example. 300 IN A 192.0.2.66"), ex.sign(t, wwwA)[1]}, nil), Bogus, EDEBogus},
		{"expired signature", "www.example.", dns.TypeA, "example.",
			reply("www.example.", dns.TypeA, 0, expired.sign(t, wwwA), nil), Bogus, EDESignatureExpired},
		{"signature not yet valid", "www.example.", dns.TypeA, "example.",
			reply("www.example.", dns.TypeA, 0, future.sign(t, wwwA), nil), Bogus, EDESignatureNotYetValid},
		{"missing RRSIG", "www.example.", dns.TypeA, "example.",
			reply("www.example.", dns.TypeA, 0, []dns.RR{wwwA}, nil), Bogus, EDERRSIGsMissing},
		{"signer not above owner", "www.example.", dns.TypeA, "example.",
			reply("www.example.", dns.TypeA, 0, n3.sign(t, wwwA), nil), Bogus, EDERRSIGsMissing},
		{"unsigned delegation", "host.unsigned.example.", dns.TypeA, "unsigned.example.",
			reply("host.unsigned.example.", dns.TypeA, 0, rrs(t, "host.unsigned.example. 300 IN A 192.0.2.2"), nil), Insecure, 0},
		{"NXDOMAIN with NSEC", "nope.example.", dns.TypeA, "example.",
			reply("nope.example.", dns.TypeA, dns.RcodeNameError, nil, concat(exNeg, coverOf(t, w.exampleNSEC, "nope.example."), coverOf(t, w.exampleNSEC, "*.example."))), Secure, 0},
		{"NXDOMAIN without wildcard proof", "www2.example.", dns.TypeA, "example.",
			reply("www2.example.", dns.TypeA, dns.RcodeNameError, nil, concat(exNeg, w.exampleNSEC["www.example."])), Bogus, EDENSECMissing},
		{"NXDOMAIN with no NSEC at all", "nope.example.", dns.TypeA, "example.",
			reply("nope.example.", dns.TypeA, dns.RcodeNameError, nil, exNeg), Bogus, EDENSECMissing},
		{"NXDOMAIN for an existing name", "www.example.", dns.TypeA, "example.",
			reply("www.example.", dns.TypeA, dns.RcodeNameError, nil, concat(exNeg, w.exampleNSEC["www.example."], coverOf(t, w.exampleNSEC, "*.example."))), Bogus, EDEBogus},
		{"NXDOMAIN for an empty non-terminal", "b.example.", dns.TypeA, "example.",
			reply("b.example.", dns.TypeA, dns.RcodeNameError, nil, concat(exNeg, coverOf(t, w.exampleNSEC, "b.example."), coverOf(t, w.exampleNSEC, "*.example."))), Bogus, EDEBogus},
		{"NODATA with NSEC", "www.example.", dns.TypeAAAA, "example.",
			reply("www.example.", dns.TypeAAAA, 0, nil, concat(exNeg, w.exampleNSEC["www.example."])), Secure, 0},
		{"NODATA for a type the NSEC lists", "www.example.", dns.TypeA, "example.",
			reply("www.example.", dns.TypeA, 0, nil, concat(exNeg, w.exampleNSEC["www.example."])), Bogus, EDEBogus},
		{"NODATA at an empty non-terminal", "b.example.", dns.TypeA, "example.",
			reply("b.example.", dns.TypeA, 0, nil, concat(exNeg, coverOf(t, w.exampleNSEC, "b.example."))), Secure, 0},
		{"NODATA by a delegation point NSEC", "unsigned.example.", dns.TypeA, "example.",
			reply("unsigned.example.", dns.TypeA, 0, nil, concat(exNeg, w.exampleNSEC["unsigned.example."])), Bogus, EDEBogus},
		{"NODATA with unsigned NSEC", "www.example.", dns.TypeAAAA, "example.",
			reply("www.example.", dns.TypeAAAA, 0, nil, concat(exNeg, w.exampleNSEC["www.example."][:1])), Bogus, EDERRSIGsMissing},
		{"wildcard answer with proof", "x.wild.example.", dns.TypeA, "example.",
			reply("x.wild.example.", dns.TypeA, 0, wildAnswer, coverOf(t, w.exampleNSEC, "x.wild.example.")), Secure, 0},
		{"wildcard answer without proof", "x.wild.example.", dns.TypeA, "example.",
			reply("x.wild.example.", dns.TypeA, 0, wildAnswer, nil), Bogus, EDENSECMissing},
		{"wildcard answer for an existing name", "www.example.", dns.TypeA, "example.",
			reply("www.example.", dns.TypeA, 0, renamed(ex.sign(t, rr(t, "*.example. 300 IN A 192.0.2.9")), "www.example."), w.exampleNSEC["www.example."]), Bogus, EDENSECMissing},
		{"NSEC3 NXDOMAIN", "nope.n3.example.", dns.TypeA, "n3.example.",
			reply("nope.n3.example.", dns.TypeA, dns.RcodeNameError, nil, concat(n3Neg, w.n3NSEC3["n3.example."], coverOf(t, w.n3NSEC3, "nope.n3.example."), coverOf(t, w.n3NSEC3, "*.n3.example."))), Secure, 0},
		{"NSEC3 NXDOMAIN without closest encloser", "nope.n3.example.", dns.TypeA, "n3.example.",
			reply("nope.n3.example.", dns.TypeA, dns.RcodeNameError, nil, concat(n3Neg, without(concat(coverOf(t, w.n3NSEC3, "nope.n3.example."), coverOf(t, w.n3NSEC3, "*.n3.example.")), w.n3NSEC3["n3.example."]))), Bogus, EDENSECMissing},
		{"NSEC3 NXDOMAIN in an opt-out span", "nope.n3.example.", dns.TypeA, "n3.example.",
			reply("nope.n3.example.", dns.TypeA, dns.RcodeNameError, nil, concat(n3Neg, w.n3OptOut["n3.example."], coverOf(t, w.n3OptOut, "nope.n3.example."), coverOf(t, w.n3OptOut, "*.n3.example."))), Insecure, 0},
		{"NSEC3 NODATA", "www.n3.example.", dns.TypeAAAA, "n3.example.",
			reply("www.n3.example.", dns.TypeAAAA, 0, nil, concat(n3Neg, w.n3NSEC3["www.n3.example."])), Secure, 0},
		{"NSEC3 NODATA, type exists", "www.n3.example.", dns.TypeA, "n3.example.",
			reply("www.n3.example.", dns.TypeA, 0, nil, concat(n3Neg, w.n3NSEC3["www.n3.example."])), Bogus, EDEBogus},
		{"NSEC3 NODATA, empty non-terminal", "w.n3.example.", dns.TypeA, "n3.example.",
			reply("w.n3.example.", dns.TypeA, 0, nil, concat(n3Neg, w.n3NSEC3["w.n3.example."])), Secure, 0},
		{"NSEC3 wildcard NODATA", "x.w.n3.example.", dns.TypeMX, "n3.example.",
			reply("x.w.n3.example.", dns.TypeMX, 0, nil, concat(n3Neg, w.n3NSEC3["w.n3.example."], coverOf(t, w.n3NSEC3, "x.w.n3.example."), w.n3NSEC3["*.w.n3.example."])), Secure, 0},
		{"NSEC3 wildcard answer", "deep.w.n3.example.", dns.TypeA, "n3.example.",
			reply("deep.w.n3.example.", dns.TypeA, 0, n3wildAnswer, coverOf(t, w.n3NSEC3, "deep.w.n3.example.")), Secure, 0},
		{"NSEC3 wildcard answer, proof removed", "deep.w.n3.example.", dns.TypeA, "n3.example.",
			reply("deep.w.n3.example.", dns.TypeA, 0, n3wildAnswer, nil), Bogus, EDENSECMissing},
		{"CNAME into a denial", "alias.example.", dns.TypeA, "example.",
			reply("alias.example.", dns.TypeA, dns.RcodeNameError,
				ex.sign(t, rr(t, "alias.example. 300 IN CNAME gone.example.")),
				concat(exNeg, coverOf(t, w.exampleNSEC, "gone.example."), coverOf(t, w.exampleNSEC, "*.example."))), Secure, 0},
		{"CNAME query answered by the CNAME", "alias.example.", dns.TypeCNAME, "example.",
			reply("alias.example.", dns.TypeCNAME, 0, ex.sign(t, rr(t, "alias.example. 300 IN CNAME www.example.")), nil), Secure, 0},
		{"CNAME query, unsigned CNAME", "alias.example.", dns.TypeCNAME, "example.",
			reply("alias.example.", dns.TypeCNAME, 0, rrs(t, "alias.example. 300 IN CNAME www.example."), nil), Bogus, EDERRSIGsMissing},
		{"CNAME chain with the target's A", "alias.example.", dns.TypeA, "example.",
			reply("alias.example.", dns.TypeA, 0, concat(ex.sign(t, rr(t, "alias.example. 300 IN CNAME www.example.")), ex.sign(t, wwwA)), nil), Secure, 0},
		{"CNAME chain with a forged target A", "alias.example.", dns.TypeA, "example.",
			reply("alias.example.", dns.TypeA, 0, concat(ex.sign(t, rr(t, "alias.example. 300 IN CNAME www.example.")), rrs(t, "www.example. 300 IN A 192.0.2.66")), nil), Bogus, EDERRSIGsMissing},
		{"RRSIG query", "www.example.", dns.TypeRRSIG, "example.",
			reply("www.example.", dns.TypeRRSIG, 0, ex.sign(t, wwwA)[1:], nil), Indeterminate, 0},
		{"DNAME and its synthesised CNAME", "www.old.example.", dns.TypeA, "example.",
			reply("www.old.example.", dns.TypeA, 0, concat(ex.sign(t, rr(t, "old.example. 300 IN DNAME example.")), rrs(t, "www.old.example. 300 IN CNAME www.example."), ex.sign(t, wwwA)), nil), Secure, 0},
		{"DNAME and a CNAME it does not synthesise", "www.old.example.", dns.TypeA, "example.",
			reply("www.old.example.", dns.TypeA, 0, concat(ex.sign(t, rr(t, "old.example. 300 IN DNAME example.")), rrs(t, "www.old.example. 300 IN CNAME evil.example.")), nil), Bogus, EDERRSIGsMissing},
		{"no trust anchor", "www.other.", dns.TypeA, "other.",
			reply("www.other.", dns.TypeA, 0, rrs(t, "www.other. 300 IN A 192.0.2.3"), nil), Secure, 0}, // replaced below
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := w.validator(t, nil)
			if tc.name == "no trust anchor" {
				a, _ := NewAnchors([]dns.RR{w.example.ds(dns.SHA256)})
				v = w.validator(t, func(c *Config) { c.Anchors = a })
				tc.want = Indeterminate
			}
			got := v.Validate(ctx, v.NewBudget(), tc.qname, tc.qtype, tc.reply, tc.zone)
			if got.Status != tc.want || got.EDE != tc.ede {
				t.Fatalf("Validate = %v (EDE %d), want %v (EDE %d)", got, got.EDE, tc.want, tc.ede)
			}
			if got.Status == Bogus && got.Why == "" {
				t.Error("a bogus result must say why")
			}
		})
	}
}
