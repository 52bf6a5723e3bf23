package resolver

import (
	"testing"

	"github.com/miekg/dns"
)

// An internal zone cut (lab.corp.internal. delegated to the lab team's
// servers) is reachable from no root: with it set as a stub zone, iteration
// for names below it starts at its servers and never asks the root.
func TestStubZone(t *testing.T) {
	env := newEnv(t, func(f *fakeNet) {
		f.set("127.0.9.1", zone(t, "lab.corp.internal.", "host A 198.18.8.80\nns1 A 127.0.9.1"))
	}, nil)
	stub := mustRRs(t, "corp.internal.", "lab NS ns1.lab\nns1.lab A 127.0.9.1")
	if err := env.r.SetStubZones(map[string][]dns.RR{"lab.corp.internal.": stub}); err != nil {
		t.Fatal(err)
	}
	m, err := env.resolve(t, "host.lab.corp.internal.", dns.TypeA)
	if err != nil || m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != "198.18.8.80" {
		t.Fatalf("host.lab.corp.internal A = %v, %v", m, err)
	}
	if n := env.net.count("127.0.0.1"); n != 0 {
		t.Errorf("the root was asked %d times for a name below a stub zone", n)
	}
	// Names outside every stub still go through the root (whatever the
	// answer: com.'s server is not scripted).
	_, _ = env.resolve(t, "www.example.com.", dns.TypeA)
	if env.net.count("127.0.0.1") == 0 {
		t.Error("a name outside the stub zones did not start at the root")
	}
	// Other names of the special-use internal. are answered here (RFC
	// 6761-style local zone): neither the root nor the stub is asked.
	env.net.reset()
	m, err = env.resolve(t, "www.corp.internal.", dns.TypeA)
	if err != nil || m.Rcode != dns.RcodeNameError || len(env.net.sends()) != 0 {
		t.Errorf("www.corp.internal. A = %v, %v after %d sends; want a local NXDOMAIN", m, err, len(env.net.sends()))
	}
	// The same set again changes nothing; a bad one is refused whole.
	if err := env.r.SetStubZones(map[string][]dns.RR{"lab.corp.internal.": stub}); err != nil {
		t.Fatal(err)
	}
	if err := env.r.SetStubZones(map[string][]dns.RR{"lab.corp.internal.": mustRRs(t, "corp.internal.", "lab NS ns1.lab")}); err == nil {
		t.Error("a stub zone without any server address was accepted")
	}
}
