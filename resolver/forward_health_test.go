package resolver

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestForwardTargetDown: what plugins/recursor exports as healthy forward
// targets. A target never asked is not down; a target whose port is closed
// is down after it refused; the one that answered is not.
func TestForwardTargetDown(t *testing.T) {
	closed := closedPort(t)
	good := answering(t)
	unasked := netip.MustParseAddrPort("127.0.54.9:53")
	r, err := New(slowConfig(Config{
		RootHints: mustRRs(t, ".", ". NS a.root.test.\na.root.test. A 127.0.54.1"), // never asked
		Forward:   []ForwardRule{{Zone: "corp.test.", To: []netip.AddrPort{closed, good}}, {Zone: "lab.test.", To: []netip.AddrPort{unasked}}},
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, ap := range []netip.AddrPort{closed, good, unasked} {
		if r.ForwardTargetDown(ap) {
			t.Errorf("%s is down before any query", ap)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := r.Resolve(ctx, dns.Question{Name: "a.corp.test.", Qtype: dns.TypeA, Qclass: dns.ClassINET}); err != nil {
		t.Fatal(err)
	}
	if !r.ForwardTargetDown(closed) {
		t.Error("the target that refused is not down")
	}
	if r.ForwardTargetDown(good) || r.ForwardTargetDown(unasked) {
		t.Error("a target that answered, or was never asked, is down")
	}
}
