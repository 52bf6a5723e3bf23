package node

import (
	"testing"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/zones"
)

// Internal zone cuts become stub zones with their glue; a cut whose child
// zone is served here too, or whose servers have no address, does not.
func TestStubZones(t *testing.T) {
	parse := func(origin, text string) *zones.Zone {
		z, fs := zones.Parse("zones/"+origin+"zone", origin, []byte(text))
		if zones.HasErrors(fs) {
			t.Fatalf("%s: %v", origin, fs)
		}
		return z
	}
	corp := parse("corp.internal.", `$ORIGIN corp.internal.
$TTL 300
@       SOA ns1 hostmaster 1 3600 600 1209600 60
        NS  ns1
        NS  ns2
ns1     A   198.18.1.1
ns2     A   198.18.1.2
lab     NS  ns1.lab
lab     NS  ns2.lab
ns1.lab A   198.18.8.1
ns2.lab AAAA 2001:db8:8::2
us      NS  ns1
us      NS  ns2
far     NS  ns.far.example.
`)
	us := parse("us.corp.internal.", `$ORIGIN us.corp.internal.
$TTL 300
@   SOA ns1.corp.internal. hostmaster.corp.internal. 1 3600 600 1209600 60
    NS  ns1.corp.internal.
    NS  ns2.corp.internal.
www A   198.18.1.80
`)
	got := stubZones([]*zones.Zone{corp, us})
	if len(got) != 1 {
		t.Fatalf("stub zones %v, want only lab.corp.internal.", got)
	}
	lab := got["lab.corp.internal."]
	var ns, addrs int
	for _, rr := range lab {
		switch rr.Header().Rrtype {
		case dns.TypeNS:
			ns++
		case dns.TypeA, dns.TypeAAAA:
			addrs++
		}
	}
	if ns != 2 || addrs != 2 {
		t.Fatalf("lab.corp.internal. stub: %d NS, %d addresses, want 2 and 2: %v", ns, addrs, lab)
	}
}
