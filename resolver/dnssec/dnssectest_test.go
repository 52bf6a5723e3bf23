package dnssec

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gitops-dns/resolverd/internal/dnssectest"
	"github.com/miekg/dns"
)

// netFetcher asks the signed internet's servers directly: the test knows
// which server holds which zone, so it is the iterator of this test. DS
// questions go to the parent's server (RFC 4035 section 4.2).
type netFetcher struct {
	port int
}

func (f netFetcher) zoneOf(name string, qtype uint16) string {
	best := "."
	for _, z := range append([]string{"example."}, dnssectest.Children...) {
		if dns.IsSubDomain(z, name) && !(qtype == dns.TypeDS && equalNames(z, name)) && dns.CountLabel(z) > dns.CountLabel(best) {
			best = z
		}
	}
	return best
}

func (f netFetcher) addr(zone string) string {
	switch zone {
	case ".":
		return dnssectest.RootAddr
	case "example.":
		return dnssectest.TLDAddr
	}
	return dnssectest.ChildAddr
}

func (f netFetcher) ask(name string, qtype uint16) (*dns.Msg, string, error) {
	zone := f.zoneOf(name, qtype)
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = false
	m.SetEdns0(4096, true)
	c := &dns.Client{Net: "tcp", Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, net.JoinHostPort(f.addr(zone), fmt.Sprint(f.port)))
	return r, zone, err
}

func (f netFetcher) Fetch(_ context.Context, name string, qtype uint16) (*dns.Msg, string, error) {
	return f.ask(name, qtype)
}

// TestSignedInternet validates what BIND's dnssec-signzone signed and NSD
// serves: every variant of the signed fake internet, through the chain
// from its root's trust anchor.
func TestSignedInternet(t *testing.T) {
	if !dnssectest.Available() {
		t.Skip("bind9-utils or NSD not installed")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	in := dnssectest.Start(t)
	var anchors []dns.RR
	zp := dns.NewZoneParser(strings.NewReader(in.TrustAnchor), ".", "")
	for r, ok := zp.Next(); ok; r, ok = zp.Next() {
		anchors = append(anchors, r)
	}
	a, err := NewAnchors(anchors)
	if err != nil || len(anchors) == 0 {
		t.Fatalf("anchors %v: %v", anchors, err)
	}
	f := netFetcher{port: in.Port}
	v, err := New(Config{Anchors: a, Fetcher: f})
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]Status{"secure": Secure, "insecure": Insecure, "bogus": Bogus}
	for _, tc := range dnssectest.Expectations {
		t.Run(tc.Name+"/"+dns.TypeToString[tc.Type], func(t *testing.T) {
			r, zone, err := f.ask(tc.Name, tc.Type)
			if err != nil {
				t.Fatal(err)
			}
			b := v.NewBudget()
			got := v.Validate(context.Background(), b, tc.Name, tc.Type, r, zone)
			if got.Status != status[tc.Status] || (tc.EDE != 0 && got.EDE != tc.EDE) || (tc.Status == "secure" && got.EDE != 0) {
				t.Fatalf("got %v (EDE %d), want %s (EDE %d)\nreply:\n%v", got, got.EDE, tc.Status, tc.EDE, r)
			}
			if s, h := b.Spent(); s > 30 || h > 600 {
				t.Errorf("spent %d verifications and %d hashes", s, h)
			}
		})
	}
}
