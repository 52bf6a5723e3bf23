package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitops-dns/resolverd/internal/dnssectest"
	"github.com/miekg/dns"
)

// dnssecNode runs a node resolving from the signed fake internet with its
// root's trust anchor, plus the given policy.yaml dnssec lines.
func dnssecNode(t *testing.T, in *dnssectest.Internet, dnssecPolicy, recursor string) *node {
	t.Helper()
	files := baseFiles()
	files["policy.yaml"] = policyBase + "dnssec:\n  validation: true\n  trust_anchors: trust-anchors.zone\n" + dnssecPolicy
	files["root.hints"] = in.RootHints
	files["trust-anchors.zone"] = in.TrustAnchor
	repo := newConfigRepo(t, files)
	head, _ := repo.repo.Head()
	n := newClusterNode(t, repo.dir, t.TempDir(), nodeSpec{recursor: fmt.Sprintf("port %d\n        %s", in.Port, recursor)})
	n.start()
	n.waitServed(head.Hash().String(), 30*time.Second)
	return n
}

// digFull runs dig and returns its full output (flags, EDE, sections).
func digFull(t *testing.T, n *node, args ...string) string {
	t.Helper()
	port := strings.TrimPrefix(n.addr(), "127.0.0.1:")
	return dig(t, append([]string{"@127.0.0.1", "-p", port, "+nocookie"}, args...)...)
}

func flagsOf(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if i := strings.Index(l, ";; flags:"); i >= 0 {
			return l[i:]
		}
	}
	return ""
}

// hasFlag reports whether dig's header flags (";; flags: qr rd ra ad;")
// include flag.
func hasFlag(out, flag string) bool {
	for _, w := range strings.Fields(strings.TrimPrefix(flagsOf(out), ";; flags:")) {
		if strings.TrimSuffix(w, ";") == flag {
			return true
		}
		if strings.HasSuffix(w, ";") {
			break
		}
	}
	return false
}

func statusOf(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if i := strings.Index(l, "status: "); i >= 0 {
			s := l[i+len("status: "):]
			return s[:strings.Index(s, ",")]
		}
	}
	return ""
}

// TestDNSSECValidation: every variant of the signed internet through the
// real binary with dig +dnssec, +cd and +adflag (issue 16).
func TestDNSSECValidation(t *testing.T) {
	if !dnssectest.Available() {
		t.Skip("bind9-utils or NSD not installed")
	}
	in := dnssectest.Start(t)
	n := dnssecNode(t, in, "", "")
	for _, tc := range dnssectest.Expectations {
		qt := dns.TypeToString[tc.Type]
		t.Run(tc.Name+"/"+qt, func(t *testing.T) {
			out := digFull(t, n, "+dnssec", tc.Name, qt)
			switch tc.Status {
			case "secure":
				if !hasFlag(out, "ad") || statusOf(out) == "SERVFAIL" {
					t.Fatalf("want a secure answer (ad), got:\n%s", out)
				}
				if !strings.Contains(out, "\tRRSIG\t") {
					t.Errorf("a DO client gets the RRSIGs; got:\n%s", out)
				}
			case "insecure":
				if hasFlag(out, "ad") || statusOf(out) == "SERVFAIL" {
					t.Fatalf("want an insecure answer (no ad, not SERVFAIL), got:\n%s", out)
				}
			case "bogus":
				if statusOf(out) != "SERVFAIL" {
					t.Fatalf("want SERVFAIL, got:\n%s", out)
				}
				if tc.EDE != 0 && !strings.Contains(out, fmt.Sprintf("EDE: %d ", tc.EDE)) {
					t.Errorf("want EDE %d, got:\n%s", tc.EDE, out)
				}
				// CD=1: the data, unvalidated, without AD.
				cd := digFull(t, n, "+dnssec", "+cd", tc.Name, qt)
				if statusOf(cd) == "SERVFAIL" || hasFlag(cd, "ad") {
					t.Errorf("+cd: want the unvalidated answer without ad, got:\n%s", cd)
				}
			}
		})
	}

	// AD goes to clients that set DO or AD (RFC 6840 5.7); RRSIGs only to
	// DO. (dig sets AD by default.)
	name := "www." + dnssectest.Secure
	if out := digFull(t, n, "+noadflag", name, "A"); hasFlag(out, "ad") || strings.Contains(out, "RRSIG") {
		t.Errorf("plain query: no ad, no RRSIG; got:\n%s", out)
	}
	if out := digFull(t, n, "+adflag", name, "A"); !hasFlag(out, "ad") || strings.Contains(out, "RRSIG") {
		t.Errorf("+adflag: ad without RRSIGs; got:\n%s", out)
	}
	if out := digFull(t, n, "+dnssec", "+cd", name, "A"); hasFlag(out, "ad") {
		t.Errorf("+cd: no ad; got:\n%s", out)
	}
	// Internal zones are answered authoritatively, never with AD.
	if out := digFull(t, n, "+dnssec", "www.corp.internal", "A"); hasFlag(out, "ad") || !hasFlag(out, "aa") {
		t.Errorf("internal zone: aa without ad; got:\n%s", out)
	}
	if got := n.metric(`coredns_recursor_dnssec_bogus_total{reason="signature_expired"}`); got < 1 {
		t.Errorf("bogus metric for signature_expired = %v", got)
	}
	// Bogus answers are logged (at most a line a second, naming the name
	// and the reason).
	if !strings.Contains(n.logText(), "DNSSEC bogus: www.") {
		t.Errorf("no log line names a bogus name; log:\n%s", n.logText())
	}
}

// TestDNSSECNegativeAnchorAndOverride: a negative trust anchor turns a
// bogus zone into an insecure one; the test-only override date makes
// expired signatures valid again (Unbound's val-override-date).
func TestDNSSECNegativeAnchorAndOverride(t *testing.T) {
	if !dnssectest.Available() {
		t.Skip("bind9-utils or NSD not installed")
	}
	in := dnssectest.Start(t)
	n := dnssecNode(t, in, "  negative_trust_anchors: ["+dnssectest.Tampered+"]\n",
		"dnssec_override_date "+time.Now().UTC().Add(-48*time.Hour).Format("20060102150405"))
	if out := digFull(t, n, "+dnssec", "www."+dnssectest.Tampered, "A"); statusOf(out) != "NOERROR" || hasFlag(out, "ad") {
		t.Errorf("under a negative trust anchor: NOERROR without ad; got:\n%s", out)
	}
	if out := digFull(t, n, "+dnssec", "www."+dnssectest.NoSig, "A"); statusOf(out) != "SERVFAIL" {
		t.Errorf("outside the negative trust anchor: SERVFAIL; got:\n%s", out)
	}
	// Two days ago the expired zone's signatures (a month ago to a day ago)
	// were valid, as were the chain's above it (from 40 days ago).
	if out := digFull(t, n, "+dnssec", "www."+dnssectest.Expired, "A"); !hasFlag(out, "ad") {
		t.Errorf("expired zone at the override date: secure; got:\n%s", out)
	}
}

// TestDNSSECKeyTrap: a zone of colliding keys and bad signatures answers
// SERVFAIL within the limits while the node keeps answering other names.
func TestDNSSECKeyTrap(t *testing.T) {
	if !dnssectest.Available() {
		t.Skip("bind9-utils or NSD not installed")
	}
	in := dnssectest.Start(t)
	n := dnssecNode(t, in, "", "")
	good := "www." + dnssectest.Secure
	if out := digFull(t, n, "+dnssec", good, "A"); !hasFlag(out, "ad") {
		t.Fatalf("warm-up: %s", out)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c := &dns.Client{Timeout: 3 * time.Second}
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				m := new(dns.Msg)
				// Distinct names: each is a new resolution through the trap.
				m.SetQuestion(fmt.Sprintf("h%d-%d.%s", i, j, dnssectest.KeyTrap), dns.TypeA)
				m.SetEdns0(1232, true)
				c.Exchange(m, n.addr())
			}
		}(i)
	}
	defer func() { close(stop); wg.Wait() }()
	c := &dns.Client{Timeout: 2 * time.Second}
	for i := 0; i < 50; i++ {
		m := new(dns.Msg)
		m.SetQuestion(good, dns.TypeA)
		m.SetEdns0(1232, true)
		r, _, err := c.Exchange(m, n.addr())
		if err != nil || r.Rcode != dns.RcodeSuccess || !r.AuthenticatedData {
			t.Fatalf("query %d for %s during the KeyTrap load: %v %v", i, good, r, err)
		}
	}
	if out := digFull(t, n, "+dnssec", "www."+dnssectest.KeyTrap, "A"); statusOf(out) != "SERVFAIL" {
		t.Errorf("keytrap zone: SERVFAIL; got:\n%s", out)
	}
}
