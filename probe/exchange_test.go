package probe

import (
	"testing"

	"github.com/miekg/dns"
)

// The query a probe sends is a stub resolver's: RD set, EDNS with a
// 1232-byte buffer, DO clear, a fully qualified name.
func TestQueryAsksAsAClient(t *testing.T) {
	m := Query("db.corp.internal", dns.TypeAAAA)
	if !m.RecursionDesired {
		t.Error("RD clear")
	}
	opt := m.IsEdns0()
	if opt == nil || opt.UDPSize() != 1232 || opt.Do() {
		t.Fatalf("OPT %v, want EDNS 1232 without DO", opt)
	}
	if q := m.Question[0]; q.Name != "db.corp.internal." || q.Qtype != dns.TypeAAAA || q.Qclass != dns.ClassINET {
		t.Errorf("question %v", q)
	}
}
