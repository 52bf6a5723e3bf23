package dnssectest

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func ask(t *testing.T, addr string, port int, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = false
	m.SetEdns0(1232, true)
	c := &dns.Client{Net: "tcp", Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, net.JoinHostPort(addr, fmt.Sprint(port)))
	if err != nil {
		t.Fatalf("%s %s @%s: %v", name, dns.TypeToString[qtype], addr, err)
	}
	return r
}

func count(rrs []dns.RR, t uint16) int {
	n := 0
	for _, rr := range rrs {
		if rr.Header().Rrtype == t {
			n++
		}
	}
	return n
}

// TestStart: the internet is signed and served as each variant promises.
func TestStart(t *testing.T) {
	if !Available() {
		t.Skip("bind9-utils or NSD not installed")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	in := Start(t)
	if r := ask(t, RootAddr, in.Port, ".", dns.TypeDNSKEY); count(r.Answer, dns.TypeDNSKEY) != 2 || count(r.Answer, dns.TypeRRSIG) == 0 {
		t.Errorf("root DNSKEY: %v", r.Answer)
	}
	for _, tc := range []struct {
		zone string
		ds   int
	}{{Secure, 1}, {Insecure, 0}, {WrongDS, 1}, {UnknownAlg, 1}} {
		r := ask(t, TLDAddr, in.Port, tc.zone, dns.TypeDS)
		if got := count(r.Answer, dns.TypeDS); got != tc.ds {
			t.Errorf("DS of %s: %d records, want %d", tc.zone, got, tc.ds)
		}
	}
	if r := ask(t, ChildAddr, in.Port, KeyTrap, dns.TypeDNSKEY); count(r.Answer, dns.TypeDNSKEY) != 2+KeyTrapKeys {
		t.Errorf("keytrap DNSKEYs: %d", count(r.Answer, dns.TypeDNSKEY))
	}
	if r := ask(t, ChildAddr, in.Port, "www."+KeyTrap, dns.TypeA); count(r.Answer, dns.TypeRRSIG) != KeyTrapKeys {
		t.Errorf("keytrap RRSIGs on www: %d", count(r.Answer, dns.TypeRRSIG))
	}
	if r := ask(t, ChildAddr, in.Port, "www."+NoSig, dns.TypeA); count(r.Answer, dns.TypeRRSIG) != 0 || count(r.Answer, dns.TypeA) != 1 {
		t.Errorf("nosig www: %v", r.Answer)
	}
	if r := ask(t, ChildAddr, in.Port, "nope."+NSEC3, dns.TypeA); r.Rcode != dns.RcodeNameError || count(r.Ns, dns.TypeNSEC3) == 0 {
		t.Errorf("nsec3 NXDOMAIN: %v", r)
	}
}
