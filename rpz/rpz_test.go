package rpz

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/gitops-dns/resolverd/zones"
	"github.com/miekg/dns"
)

func load(t *testing.T, file string) *Policy {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p, fs := Parse(file, data)
	if zones.HasErrors(fs) || p == nil {
		t.Fatalf("Parse(%s): %v", file, fs)
	}
	return p
}

func rr(t *testing.T, s string) dns.RR {
	t.Helper()
	r, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestQNameTriggers(t *testing.T) {
	p := load(t, "testdata/malware.rpz")
	if p.Name != "malware.rpz." || p.Len() != 10 {
		t.Fatalf("policy %s with %d triggers, want malware.rpz. with 10", p.Name, p.Len())
	}
	set := Set{p}
	for _, tc := range []struct {
		qname  string
		action Action // 0: no trigger
	}{
		{"bad.example.", NXDOMAIN},
		{"BAD.Example", NXDOMAIN},               // case and final dot do not matter
		{"www.bad.example.", NXDOMAIN},          // wildcard below
		{"a.b.bad.example.", NXDOMAIN},          // wildcard deeper below
		{"ok.bad.example.", Passthru},           // exact beats wildcard
		{"x.ok.bad.example.", NXDOMAIN},         // the wildcard, not the exact name
		{"empty.example.", NODATA},              //
		{"sub.empty.example.", 0},               // no wildcard: the exact name only
		{"silent.example.", Drop},               //
		{"walled.example.", LocalData},          //
		{"example.", 0},                         // above every trigger
		{"bad.example.malware.rpz.", 0},         // the policy's own owner names are not questions
		{"notbad.example.", 0},                  // a label suffix is not a subdomain
		{"32.9.2.0.192.rpz-ip.malware.rpz.", 0}, //
		{"24.0.2.0.192.rpz-ip.", 0},             // IP triggers are not QNAME triggers
	} {
		h, _, ok := set.QName(tc.qname)
		if got := Action(0); ok {
			got = h.Rule.Action
			if got != tc.action {
				t.Errorf("%s: action %s, want %s", tc.qname, got, tc.action)
			}
		} else if tc.action != 0 {
			t.Errorf("%s: no trigger, want %s", tc.qname, tc.action)
		}
	}
}

func TestIPTriggers(t *testing.T) {
	p := load(t, "testdata/malware.rpz")
	set := Set{p}
	for _, tc := range []struct {
		answer string
		action Action
	}{
		{"x. 60 IN A 192.0.2.1", NXDOMAIN},
		{"x. 60 IN A 192.0.2.9", Passthru}, // the longer prefix wins
		{"x. 60 IN A 192.0.3.1", 0},
		{"x. 60 IN AAAA 2001:db8::1", NODATA},
		{"x. 60 IN AAAA 2001:db8:1::1", 0},
		{"x. 60 IN AAAA ::ffff:192.0.2.1", NXDOMAIN}, // a mapped address is the IPv4 one
		{"x. 60 IN TXT \"192.0.2.1\"", 0},
	} {
		h, ok := set.Answer([]dns.RR{rr(t, tc.answer)}, len(set))
		switch {
		case ok && h.Rule.Action != tc.action:
			t.Errorf("%s: %s, want %s", tc.answer, h.Rule.Action, tc.action)
		case !ok && tc.action != 0:
			t.Errorf("%s: no trigger, want %s", tc.answer, tc.action)
		}
	}
	if _, ok := set.Answer([]dns.RR{rr(t, "x. 60 IN A 192.0.2.1")}, 0); ok {
		t.Error("a policy at or after the QNAME hit's index was consulted")
	}
}

// The first policy with any matching trigger decides, in policy.yaml's order.
func TestPriority(t *testing.T) {
	a, fs := Parse("a.rpz", []byte("$TTL 60\n$ORIGIN a.rpz.\n@ SOA . . 1 1 1 1 1\nx.example CNAME rpz-passthru.\n"))
	b, fs2 := Parse("b.rpz", []byte("$TTL 60\n$ORIGIN b.rpz.\n@ SOA . . 1 1 1 1 1\nx.example CNAME .\ny.example CNAME .\n"))
	if a == nil || b == nil {
		t.Fatal(fs, fs2)
	}
	if h, i, _ := (Set{a, b}).QName("x.example."); h.Policy != a || i != 0 {
		t.Errorf("x.example: %s, want a.rpz.", h.Policy.Name)
	}
	if h, i, _ := (Set{b, a}).QName("x.example."); h.Policy != b || i != 0 {
		t.Errorf("x.example reversed: %s, want b.rpz.", h.Policy.Name)
	}
	if h, i, _ := (Set{a, b}).QName("y.example."); h.Policy != b || i != 1 {
		t.Errorf("y.example: %v at %d, want b.rpz. at 1", h.Policy, i)
	}
}

func TestRewrite(t *testing.T) {
	p := load(t, "testdata/malware.rpz")
	set := Set{p}
	for _, tc := range []struct {
		qname  string
		qtype  uint16
		rcode  int
		answer []string
		soa    bool
		ok     bool
	}{
		{"bad.example.", dns.TypeA, dns.RcodeNameError, nil, true, true},
		{"empty.example.", dns.TypeA, dns.RcodeSuccess, nil, true, true},
		{"walled.example.", dns.TypeA, dns.RcodeSuccess, []string{"walled.example.\t300\tIN\tA\t198.18.7.7"}, false, true},
		{"walled.example.", dns.TypeAAAA, dns.RcodeSuccess, nil, true, true},
		{"moved.example.", dns.TypeAAAA, dns.RcodeSuccess, []string{"moved.example.\t300\tIN\tCNAME\tnew.corp.example."}, false, true},
		{"ok.bad.example.", dns.TypeA, 0, nil, false, false},
		{"silent.example.", dns.TypeA, 0, nil, false, false},
	} {
		h, _, found := set.QName(tc.qname)
		if !found {
			t.Fatalf("%s: no trigger", tc.qname)
		}
		rcode, ans, ns, ok := h.Rewrite(dns.Question{Name: tc.qname, Qtype: tc.qtype, Qclass: dns.ClassINET})
		var got []string
		for _, r := range ans {
			got = append(got, r.String())
		}
		if ok != tc.ok || rcode != tc.rcode || strings.Join(got, "|") != strings.Join(tc.answer, "|") || (len(ns) == 1) != tc.soa {
			t.Errorf("%s %s: ok=%v rcode=%d answer=%q ns=%v, want ok=%v rcode=%d answer=%q soa=%v", tc.qname, dns.TypeToString[tc.qtype], ok, rcode, got, ns, tc.ok, tc.rcode, tc.answer, tc.soa)
		}
		if tc.soa && (ns[0].Header().Name != "malware.rpz." || ns[0].Header().Ttl != 60) {
			t.Errorf("%s: negative SOA %v, want the policy's with TTL min(300, 60)", tc.qname, ns[0])
		}
	}
}

// Every mistake is reported at its file:line:col with its rule, all at once.
func TestParseFindings(t *testing.T) {
	const head = "$TTL 60\n$ORIGIN p.rpz.\n@ SOA . . 1 1 1 1 1\n"
	for _, tc := range []struct {
		name, text string
		want       []string // "line:rule"
	}{
		{"unknown action", head + "a.example CNAME rpz-nothing.\n", []string{"4:" + RuleAction}},
		{"outside", head + "a.example. CNAME .\n", []string{"4:" + RuleOutside}},
		{"apex data", head + "@ A 192.0.2.1\n", []string{"4:" + RuleApexData}},
		{"two actions", head + "a.example CNAME .\na.example CNAME rpz-drop.\n", []string{"5:" + RuleMixed}},
		{"action and data", head + "a.example CNAME .\na.example A 192.0.2.1\n", []string{"5:" + RuleMixed}},
		{"cname and data", head + "a.example A 192.0.2.1\na.example CNAME x.example.\n", []string{"5:" + RuleMixed}},
		{"nsdname", head + "ns.example.rpz-nsdname CNAME .\n", []string{"4:" + RuleUnsupported}},
		{"client ip", head + "32.1.2.0.192.rpz-client-ip CNAME .\n", []string{"4:" + RuleUnsupported}},
		{"tcp-only", head + "a.example CNAME rpz-tcp-only.\n", []string{"4:" + RuleAction}},
		{"bad ip", head + "33.1.2.0.192.rpz-ip CNAME .\n24.1.2.0.192.rpz-ip CNAME .\nx.rpz-ip CNAME .\n", []string{"4:" + RuleTrigger, "5:" + RuleTrigger, "6:" + RuleTrigger}},
		{"inner wildcard", head + "a.*.example CNAME .\n", []string{"4:" + RuleTrigger}},
		{"no soa", "$TTL 60\n$ORIGIN p.rpz.\na.example CNAME .\n", []string{"0:" + RuleSOA}},
		{"root soa", "$TTL 60\n@ SOA . . 1 1 1 1 1\n", []string{"2:" + RuleSOA}},
		{"ns below", head + "a.example NS ns.example.\n", []string{"4:" + RuleAction}},
		{"syntax", head + "a.example CNAME a b\n", []string{"4:" + zones.RuleSyntax}},
		// A type with no data is a syntax error wherever it is written
		// (zones: each entry is read alone), also at the end of the file.
		{"empty target", head + "a.example CNAME\n", []string{"4:" + zones.RuleSyntax}},
		{"empty target, not last", head + "a.example CNAME\nb.example CNAME .\n", []string{"4:" + zones.RuleSyntax}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, fs := Parse("policy/p.rpz", []byte(tc.text))
			var got []string
			for _, f := range fs {
				if f.Pos.File != "policy/p.rpz" {
					t.Errorf("finding %v: want the file named", f)
				}
				got = append(got, strconv.Itoa(f.Pos.Line)+":"+f.Rule)
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") || p != nil {
				t.Errorf("findings %v (policy %v), want %v and no policy", fs, p, tc.want)
			}
		})
	}
}
