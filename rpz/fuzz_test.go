package rpz

import (
	"os"
	"testing"

	"github.com/gitops-dns/resolverd/zones"
	"github.com/miekg/dns"
)

// FuzzParse: a policy file is untrusted input; Parse must not panic, and a
// policy it accepts must answer lookups without panicking.
func FuzzParse(f *testing.F) {
	data, err := os.ReadFile("testdata/malware.rpz")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	for _, s := range []string{
		"$TTL 60\n$ORIGIN p.rpz.\n@ SOA . . 1 1 1 1 1\n128.zz.rpz-ip CNAME .\n",
		"$TTL 60\n$ORIGIN p.rpz.\n@ SOA . . 1 1 1 1 1\n1.zz.zz.rpz-ip CNAME .\n",
		"$TTL 60\n$ORIGIN p.rpz.\n@ SOA . . 1 1 1 1 1\n* CNAME .\n",
		"$TTL 60\n@ SOA . . 1 1 1 1 1\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, fs := Parse("f.rpz", data)
		if p == nil {
			if !zones.HasErrors(fs) {
				t.Fatal("no policy and no error")
			}
			return
		}
		set := Set{p}
		for _, q := range []string{"bad.example.", "a.b.c.", ".", "p.rpz."} {
			if h, _, ok := set.QName(q); ok {
				h.Rewrite(dns.Question{Name: q, Qtype: dns.TypeA, Qclass: dns.ClassINET})
			}
		}
		a, _ := dns.NewRR("x. 60 IN A 192.0.2.1")
		aaaa, _ := dns.NewRR("x. 60 IN AAAA 2001:db8::1")
		set.Answer([]dns.RR{a, aaaa}, 1)
	})
}
