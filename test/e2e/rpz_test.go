package e2e

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// extAuthority is an authoritative server for ext.test. on loopback (UDP
// and TCP): every name has an A record, 198.18.99.1, except
// parked.ext.test., whose address 192.0.2.66 an RPZ-IP rule blocks. It
// counts the questions it was asked per name.
func extAuthority(t *testing.T) (string, func(name string) int32) {
	t.Helper()
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var mu sync.Mutex
	asked := map[string]*atomic.Int32{}
	count := func(name string) *atomic.Int32 {
		mu.Lock()
		defer mu.Unlock()
		c := asked[name]
		if c == nil {
			c = new(atomic.Int32)
			asked[name] = c
		}
		return c
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		q := r.Question[0]
		name := strings.ToLower(q.Name)
		count(name).Add(1)
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		if q.Qtype == dns.TypeA {
			ip := "198.18.99.1"
			if name == "parked.ext.test." {
				ip = "192.0.2.66"
			}
			rr, _ := dns.NewRR(q.Name + " 300 IN A " + ip)
			m.Answer = append(m.Answer, rr)
		}
		w.WriteMsg(m)
	})
	serveUDPAndTCP(t, addr, h)
	return addr, func(name string) int32 { return count(name).Load() }
}

const rpzPolicyYAML = policyYAML + `rpz:
  - file: policy/malware.rpz
`

// malwareRPZ is the security team's policy; extra lines are rules added by
// a commit.
func malwareRPZ(extra string) string {
	return `$TTL 300
$ORIGIN malware.rpz.
@                 IN SOA localhost. hostmaster.localhost. 1 3600 600 86400 60
                  IN NS  localhost.
phish.ext.test    IN CNAME .
*.phish.ext.test  IN CNAME .
quiet.ext.test    IN CNAME *.
gone.ext.test     IN CNAME rpz-drop.
walled.ext.test   IN A     198.18.7.7
32.66.2.0.192.rpz-ip IN CNAME .
www.corp.internal IN CNAME .
` + extra
}

// Response policy from git through the real binary: every action on
// recursive answers from a loopback authority, EDE and metrics, internal
// zones untouched, and a rule added by a commit that blocks a name the
// packet cache already holds, removed again by `git revert`.
func TestResponsePolicy(t *testing.T) {
	auth, asked := extAuthority(t)
	files := baseFiles()
	files["policy.yaml"] = rpzPolicyYAML
	files["policy/malware.rpz"] = malwareRPZ("")
	files["clusters/dev.yaml"] = devCluster + "forward:\n  - zone: ext.test.\n    to: [\"" + auth + "\"]\n"
	// A static fallback record for the dropped name: the drop must win
	// (the policy decided; resolution did not fail).
	files["fallback.zone"] = "gone.ext.test. 30 IN A 198.18.5.99\n"
	repo := newConfigRepo(t, files)
	head, _ := repo.repo.Head()
	n := newNode(t, repo.dir, t.TempDir())
	n.start()
	n.waitServed(head.Hash().String(), 30*time.Second)
	port := strings.TrimPrefix(n.addr(), "127.0.0.1:")

	ask := func(name string) *dns.Msg {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		m.SetEdns0(1232, false)
		c := &dns.Client{Timeout: 2 * time.Second}
		r, _, err := c.Exchange(m, n.addr())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return r
	}
	for _, tc := range []struct {
		name   string
		rcode  int
		answer string // first answer's rdata, "" none
		ede    int    // -1 none
		upward bool   // the authority is asked
	}{
		{"phish.ext.test.", dns.RcodeNameError, "", int(dns.ExtendedErrorCodeBlocked), false},
		{"login.phish.ext.test.", dns.RcodeNameError, "", int(dns.ExtendedErrorCodeBlocked), false},
		{"quiet.ext.test.", dns.RcodeSuccess, "", int(dns.ExtendedErrorCodeBlocked), false},
		{"walled.ext.test.", dns.RcodeSuccess, "198.18.7.7", int(dns.ExtendedErrorCodeFiltered), false},
		{"parked.ext.test.", dns.RcodeNameError, "", int(dns.ExtendedErrorCodeBlocked), true},
		{"fine.ext.test.", dns.RcodeSuccess, "198.18.99.1", -1, true},
		// Internal zones are the authority's: no policy applies to them.
		{"www.corp.internal.", dns.RcodeSuccess, "198.18.5.80", -1, false},
	} {
		r := ask(tc.name)
		got := ""
		if len(r.Answer) > 0 {
			got = strings.Fields(r.Answer[0].String())[4]
		}
		ede := -1
		if e := extendedError(r); e != nil {
			ede = int(e.InfoCode)
			if !strings.Contains(e.ExtraText, "malware.rpz.") {
				t.Errorf("%s: EDE text %q does not name the policy", tc.name, e.ExtraText)
			}
		}
		if r.Rcode != tc.rcode || got != tc.answer || ede != tc.ede {
			t.Errorf("%s: rcode %s answer %q EDE %d, want %s %q %d\n%v", tc.name, dns.RcodeToString[r.Rcode], got, ede, dns.RcodeToString[tc.rcode], tc.answer, tc.ede, r)
		}
		if (asked(tc.name) > 0) != tc.upward {
			t.Errorf("%s: the authority was asked %d times; a name a QNAME rule refuses must not be resolved", tc.name, asked(tc.name))
		}
		if tc.rcode == dns.RcodeNameError && (len(r.Ns) != 1 || r.Ns[0].Header().Name != "malware.rpz.") {
			t.Errorf("%s: authority section %v, want the policy's SOA", tc.name, r.Ns)
		}
	}
	// DROP: no response at all, over UDP and TCP, although the name has a
	// fallback record (which answered it before: the fallback plugin read
	// the silence as a failure).
	for _, netw := range []string{"udp", "tcp"} {
		if r, err := n.query(netw, "gone.ext.test.", dns.TypeA, dns.ClassINET); err == nil {
			t.Errorf("gone.ext.test. over %s: a response came for a rpz-drop. rule: %v", netw, r)
		}
	}
	if v := n.metric(`coredns_fallback_answers_total`); v != 0 {
		t.Errorf("the fallback plugin answered %v times; a dropped name is not a failure", v)
	}
	// Real client: dig shows the block.
	if out := dig(t, "@127.0.0.1", "-p", port, "+noall", "+comments", "phish.ext.test", "A"); !strings.Contains(out, "NXDOMAIN") || !strings.Contains(out, "EDE: 15 (Blocked)") {
		t.Errorf("dig phish.ext.test: %s", out)
	}
	if v := n.metric(`coredns_recursor_rpz_hits_total{action="nxdomain",policy="malware.rpz."}`); v < 4 {
		t.Errorf("rpz_hits_total nxdomain = %v, want at least 4", v)
	}

	// evil.ext.test. answers, often enough to sit in the packet cache.
	for range 4 {
		if r := ask("evil.ext.test."); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Fatalf("evil.ext.test. before the rule: %v", r)
		}
	}
	const fromPacketCache = `coredns_fastpath_responses_total{path="packetcache"`
	hits := n.metric(fromPacketCache)
	if r := ask("evil.ext.test."); r.Rcode != dns.RcodeSuccess || n.metric(fromPacketCache) != hits+1 {
		t.Fatalf("evil.ext.test. is not answered from the packet cache before the rule (%v packet-cache responses, then %v)", hits, n.metric(fromPacketCache))
	}

	// The security team's pull request blocks it; the node applies the
	// commit and the cached answer never comes out again.
	add := repo.commit("rpz: block evil.ext.test.", map[string]string{"policy/malware.rpz": malwareRPZ("evil.ext.test IN CNAME .\n")})
	n.waitServed(add, 30*time.Second)
	for range 3 {
		if r := ask("evil.ext.test."); r.Rcode != dns.RcodeNameError {
			t.Fatalf("evil.ext.test. after the blocking commit: %s, want NXDOMAIN\n%v", dns.RcodeToString[r.Rcode], r)
		}
	}
	// Rolled back with git revert: answered again.
	gitCLI(t, repo.dir, "revert", "--no-edit", "HEAD")
	reverted := gitCLI(t, repo.dir, "rev-parse", "HEAD")
	n.waitServed(reverted, 30*time.Second)
	if r := ask("evil.ext.test."); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || extendedError(r) != nil {
		t.Fatalf("evil.ext.test. after git revert: %v", r)
	}
}
