package cluster

import (
	"strings"
	"testing"

	"github.com/gitops-dns/resolverd/cluster/model"

	"github.com/gitops-dns/resolverd/zones"
)

// ruleCase is one failing fixture: goodRepo with changes, committed to a
// real git repository (under dns/), loaded with LoadCommit and checked.
type ruleCase struct {
	name    string
	rule    string
	changes map[string]string // applied to goodRepo; "" deletes
	base    bool              // commit goodRepo first and check against it
	message string            // commit message of the head revision
	want    []string          // every finding of rule, exactly
	// prefix: want lines are prefixes (for rules owned by package zones,
	// whose exact wording is not this package's to pin).
	prefix bool
}

// runCase returns every finding (Load and Check) of the case's head.
func runCase(t *testing.T, tc ruleCase) []zones.Finding {
	t.Helper()
	r := newTestRepo(t)
	var baseRev *model.Revision
	if tc.base {
		h := r.commit("base", prefixed("dns", goodRepo))
		var fs []zones.Finding
		var err error
		baseRev, fs, err = LoadCommit(r.repo, h, "dns")
		if err != nil || len(fs) != 0 {
			t.Fatalf("base: %v\n%s", err, findingStrings(fs))
		}
	}
	files := with(goodRepo, tc.changes)
	if tc.base {
		files = tc.changes // only the changes: the rest is committed
	} else {
		for k, v := range files {
			if v == "" {
				delete(files, k)
			}
		}
	}
	msg := tc.message
	if msg == "" {
		msg = "change"
	}
	h := r.commit(msg, prefixed("dns", files))
	rev, fs, err := LoadCommit(r.repo, h, "dns")
	if err != nil {
		t.Fatal(err)
	}
	return append(fs, Check(rev, baseRev)...)
}

func TestRules(t *testing.T) {
	for _, tc := range ruleCases {
		t.Run(tc.name, func(t *testing.T) {
			all := runCase(t, tc)
			var got []string
			for _, f := range all {
				if f.Rule == tc.rule {
					got = append(got, f.String())
				}
			}
			match := strings.Join(got, "\n") == strings.Join(tc.want, "\n")
			if tc.prefix {
				match = len(got) == len(tc.want)
				for i := 0; match && i < len(got); i++ {
					match = strings.HasPrefix(got[i], tc.want[i])
				}
			}
			if !match {
				t.Errorf("findings of %s:\n got:\n  %s\nwant:\n  %s\nall findings:\n%s", tc.rule, strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "), findingStrings(all))
			}
		})
	}
}

func replace(s, old, new string) string {
	if !strings.Contains(s, old) {
		panic("fixture: " + old + " not found")
	}
	return strings.Replace(s, old, new, 1)
}

var (
	usEast  = goodRepo["clusters/us-east.yaml"]
	euWest  = goodRepo["clusters/eu-west.yaml"]
	corpZ   = goodRepo["zones/corp.example.zone"]
	revZ    = goodRepo["zones/18.198.in-addr.arpa.zone"]
	fbZ     = goodRepo["fallback.zone"]
	probesY = goodRepo["probes.yaml"]
)

var ruleCases = []ruleCase{
	// --- Load: files and YAML ---
	{name: "yaml syntax", rule: "yaml-syntax",
		changes: map[string]string{"clusters/eu-west.yaml": "name: eu-west\nnodes: [\n"},
		want: []string{
			"dns/clusters/eu-west.yaml:2:1: error: yaml-syntax: did not find expected node content",
		}},
	{name: "unknown field", rule: "yaml-unknown-field",
		changes: map[string]string{"clusters/eu-west.yaml": replace(euWest, "forward:", "forwards:")},
		want: []string{
			"dns/clusters/eu-west.yaml:8:1: error: yaml-unknown-field: unknown field \"forwards\" in cluster (did you mean \"forward\"?)",
		}},
	{name: "unknown nested field", rule: "yaml-unknown-field",
		changes: map[string]string{"probes.yaml": replace(probesY, "gate: true", "gates: true")},
		want: []string{
			"dns/probes.yaml:6:5: error: yaml-unknown-field: unknown field \"gates\" in probes[0] (did you mean \"gate\"?)",
		}},
	{name: "wrong type", rule: "yaml-type",
		changes: map[string]string{"clusters/eu-west.yaml": replace(euWest, "track: refs/heads/production", "track: refs/heads/production\ncanary: sometimes")},
		want: []string{
			"dns/clusters/eu-west.yaml:4:9: error: yaml-type: canary must be true or false, not a string",
		}},
	{name: "wrong type policy", rule: "yaml-type",
		changes: map[string]string{"policy.yaml": "fallback:\n  ttl: thirty\nlimits: [10]\n"},
		want: []string{
			"dns/policy.yaml:2:8: error: yaml-type: fallback.ttl must be a whole number, not a string",
			"dns/policy.yaml:3:9: error: yaml-type: limits must be a mapping, not a list",
		}},
	{name: "missing field", rule: "yaml-missing-field",
		changes: map[string]string{"clusters/eu-west.yaml": replace(euWest, "environment: production\n", "")},
		want: []string{
			"dns/clusters/eu-west.yaml:1:1: error: yaml-missing-field: cluster: required field \"environment\" is missing",
		}},
	{name: "duplicate field", rule: "yaml-duplicate-field",
		changes: map[string]string{"clusters/eu-west.yaml": replace(euWest, "environment: production\n", "environment: production\nenvironment: staging\n")},
		want: []string{
			"dns/clusters/eu-west.yaml:3:1: error: yaml-duplicate-field: field \"environment\" given twice in cluster",
		}},
	{name: "no clusters folder", rule: "repo-layout",
		changes: map[string]string{"clusters/eu-west.yaml": "", "clusters/us-east.yaml": "", "clusters/staging.yaml": ""},
		want: []string{
			"dns/clusters: error: repo-layout: missing folder clusters/: a config repo needs at least one cluster file",
		}},
	{name: "no zones", rule: "repo-layout",
		changes: map[string]string{"zones/corp.example.zone": "", "zones/18.198.in-addr.arpa.zone": "", "clusters/us-east.yaml": replace(usEast, "zones: [corp.example., 18.198.in-addr.arpa.]\n", ""), "clusters/eu-west.yaml": replace(euWest, "zones: [corp.example.]\n", "")},
		want: []string{
			"dns/zones: error: repo-layout: no zone file (zones/<origin>zone, e.g. zones/corp.internal.zone)",
		}},
	{name: "read error", rule: "read-error",
		changes: map[string]string{"policy.yaml": "", "policy.yaml/oops": "x: 1\n"},
		want: []string{
			"dns/policy.yaml: error: read-error: not a regular file",
		}},
	{name: "zone file name", rule: "zone-file-name",
		changes: map[string]string{"zones/README.md": "zone files\n"},
		want: []string{
			"dns/zones/README.md: warning: zone-file-name: file ignored: zone files are named after their origin with its final dot, e.g. zones/corp.internal.zone",
		}},
	{name: "zone file twice", rule: "zone-file-name",
		changes: map[string]string{"zones/Corp.Example.zone": corpZ},
		want: []string{
			"dns/zones/corp.example.zone: error: zone-file-name: zone corp.example. is also in dns/zones/Corp.Example.zone",
		}},
	{name: "fallback ttl zero", rule: "policy-value",
		changes: map[string]string{"policy.yaml": "fallback:\n  ttl: 0\n"},
		want: []string{
			"dns/policy.yaml:2:8: error: policy-value: fallback.ttl must be at least 1 second",
		}},
	{name: "node port and name", rule: "node-duplicate",
		changes: map[string]string{"clusters/eu-west.yaml": replace(euWest, "{name: ns2, address: 198.18.2.2}", "{name: ns1, address: 198.18.2.2, port: 5353}")},
		want: []string{
			"dns/clusters/eu-west.yaml:6:12: error: node-duplicate: node name \"ns1\" used twice in this cluster",
		}},
	{name: "node port zero", rule: "node-address",
		changes: map[string]string{"clusters/eu-west.yaml": replace(euWest, "{name: ns2, address: 198.18.2.2}", "{name: ns2, address: 198.18.2.2, port: 0}")},
		want: []string{
			"dns/clusters/eu-west.yaml:6:44: error: node-address: node port must be 1-65535",
		}},
	{name: "rule without targets", rule: "forward-syntax",
		changes: map[string]string{"clusters/eu-west.yaml": replace(replace(euWest, "to: [198.18.1.1, 198.18.1.2]", "to: []"), "environment: production", "environment: prod")},
		want:    []string{"dns/clusters/eu-west.yaml:10:9: error: forward-syntax: a forward rule needs at least one target"}},
	{name: "two rules for one zone", rule: "forward-syntax",
		changes: map[string]string{"clusters/eu-west.yaml": replace(euWest, "forward:\n", "forward:\n  - zone: 18.198.IN-ADDR.arpa\n    to: [198.18.9.9]\n")},
		want: []string{
			"dns/clusters/eu-west.yaml:11:11: error: forward-syntax: second forward rule for zone 18.198.in-addr.arpa.: merge the targets into one rule",
		}},
	{name: "cluster name vs file", rule: "cluster-name",
		changes: map[string]string{"clusters/eu-west.yaml": replace(euWest, "name: eu-west", "name: eu-west-1")},
		want: []string{
			"dns/clusters/eu-west.yaml:1:7: error: cluster-name: cluster name \"eu-west-1\" does not match its file name eu-west.yaml",
		}},
	{name: "environment", rule: "cluster-environment",
		changes: map[string]string{"clusters/eu-west.yaml": replace(euWest, "environment: production", "environment: prod")},
		want: []string{
			"dns/clusters/eu-west.yaml:2:14: error: cluster-environment: environment must be production or staging, not \"prod\"",
		}},
	{name: "node address", rule: "node-address",
		changes: map[string]string{"clusters/eu-west.yaml": replace(replace(euWest, "address: 198.18.2.1", "address: ns1.corp.example"), "address: 198.18.2.2", "address: 0.0.0.0")},
		want: []string{
			"dns/clusters/eu-west.yaml:5:26: error: node-address: node address must be an IP literal, not \"ns1.corp.example\"",
			"dns/clusters/eu-west.yaml:6:26: error: node-address: node address 0.0.0.0 is the unspecified address",
		}},
	{name: "node duplicate", rule: "node-duplicate",
		changes: map[string]string{"clusters/eu-west.yaml": replace(euWest, "address: 198.18.2.2", "address: 198.18.1.2")},
		want: []string{
			"dns/clusters/us-east.yaml:6:5: error: node-duplicate: node us-east/ns2 has the address 198.18.1.2:53 of node eu-west/ns2",
		}},
	{name: "cluster zone unknown", rule: "cluster-zone-unknown",
		changes: map[string]string{"clusters/eu-west.yaml": replace(euWest, "zones: [corp.example.]", "zones: [corp.example., lab.example.]")},
		want: []string{
			"dns/clusters/eu-west.yaml:7:24: error: cluster-zone-unknown: cluster eu-west serves zone lab.example. but there is no zones/lab.example.zone",
		}},
	{name: "forward syntax", rule: "forward-syntax",
		changes: map[string]string{"clusters/eu-west.yaml": replace(euWest, "to: [198.18.1.1, 198.18.1.2]", "to: [ns1.corp.example, \"198.18.1.2:0\"]")},
		want: []string{
			"dns/clusters/eu-west.yaml:10:10: error: forward-syntax: forward target \"ns1.corp.example\": want an IP literal, optionally with a port (198.18.9.2, 198.18.9.2:5353, [2001:db8::1]:5353)",
			"dns/clusters/eu-west.yaml:10:28: error: forward-syntax: forward target \"198.18.1.2:0\": port 0",
		}},
	{name: "recursion allow", rule: "recursion-allow",
		changes: map[string]string{"clusters/eu-west.yaml": replace(euWest, "allow: [198.18.0.0/15]", "allow: [198.18.2.0/15, everyone]")},
		want: []string{
			"dns/clusters/eu-west.yaml:12:11: error: recursion-allow: recursion.allow entry \"198.18.2.0/15\": host bits set (did you mean 198.18.0.0/15?)",
			"dns/clusters/eu-west.yaml:12:26: error: recursion-allow: recursion.allow entry \"everyone\": want a CIDR such as 198.18.0.0/15 or an IP literal",
		}},
	{name: "policy value", rule: "policy-value",
		changes: map[string]string{"policy.yaml": "recursion:\n  root_hints: ../root.hints\nlimits:\n  min_ttl: 600\n  max_ttl: 300\n"},
		want: []string{
			"dns/policy.yaml:2:15: error: policy-value: recursion.root_hints must be a path inside the config folder, not \"../root.hints\"",
			"dns/policy.yaml:5:12: error: policy-value: limits.min_ttl (600) is larger than limits.max_ttl (300)",
		}},
	{name: "record syntax", rule: "record-syntax",
		changes: map[string]string{"fallback.zone": "db 300 IN A 198.18.5.10\nct.log.example. 300 IN A 198.18.9.300\n$ORIGIN corp.example.\n( 300 IN A 198.18.9.31 )\n"},
		want: []string{
			"dns/fallback.zone:1:3: error: record-syntax: bad owner name: \"db\" (names must be absolute: end them with a dot)",
			"dns/fallback.zone:2:37: error: record-syntax: bad A A: \"198.18.9.300\"",
			"dns/fallback.zone:3:1: error: record-syntax: $ORIGIN is not allowed here: write every record with its absolute owner name",
			"dns/fallback.zone:4:1: error: record-syntax: record without an owner name",
		}},
	{name: "probe syntax", rule: "probe-syntax",
		changes: map[string]string{"probes.yaml": "probes:\n  - name: a\n    query: db.corp.example\n    type: BOGUS\n  - name: b\n    query: db.corp.example.\n    expect: {rcode: NOERROR, answers: [2001:db8::1]}\n  - name: b\n    query: db.corp.example.\n    expect: {rcode: NXDOMAIN, answers: [198.18.5.10]}\n"},
		want: []string{
			"dns/probes.yaml:3:12: error: probe-syntax: probe query \"db.corp.example\" must be an absolute name (end it with a dot)",
			"dns/probes.yaml:4:11: error: probe-syntax: probe type \"BOGUS\" is not a query type a probe can ask",
			"dns/probes.yaml:7:40: error: probe-syntax: expected answer \"2001:db8::1\" is not an IPv4 address (the probe type is A)",
			"dns/probes.yaml:8:5: error: probe-syntax: probe \"b\" expects answers with rcode NXDOMAIN: answers come only with NOERROR",
			"dns/probes.yaml:8:11: error: probe-syntax: probe name \"b\" used twice",
		}},
	{name: "root hints", rule: "root-hints",
		changes: map[string]string{"policy.yaml": "recursion:\n  root_hints: root.hints\n", "root.hints": ". 3600000 IN NS a.root.test.\n. 3600000 IN NS b.root.test.\na.root.test. 3600000 IN A 198.18.7.1\nb.root.test. 3600000 IN MX 10 a.root.test.\n"},
		want: []string{
			"dns/root.hints:2:1: error: root-hints: root server b.root.test. has no A or AAAA record in the hints",
			"dns/root.hints:4:1: error: root-hints: MX record: root hints hold NS, A and AAAA records only",
		}},
	{name: "dnssec policy", rule: "policy-value",
		changes: map[string]string{"policy.yaml": "dnssec:\n  validation: yes please\n  trust_anchors: /etc/ta.zone\n  negative_trust_anchors: [corp.example, corp.example., corp.example.]\n  negative_trust_anchor: []\n"},
		want: []string{
			"dns/policy.yaml:3:18: error: policy-value: dnssec.trust_anchors must be a path inside the config folder, not \"/etc/ta.zone\"",
			"dns/policy.yaml:4:28: error: policy-value: dnssec.negative_trust_anchors: negative trust anchor \"corp.example\" is not an absolute name (add the final dot)",
			"dns/policy.yaml:4:57: error: policy-value: dnssec.negative_trust_anchors: corp.example. listed twice",
		}},
	{name: "dnssec unknown field", rule: "yaml-unknown-field",
		changes: map[string]string{"policy.yaml": "dnssec:\n  validation: false\n  negative_trust_anchor: []\n"},
		want: []string{
			"dns/policy.yaml:3:3: error: yaml-unknown-field: unknown field \"negative_trust_anchor\" in dnssec (did you mean \"negative_trust_anchors\"?)",
		}},
	{name: "dnssec wrong type", rule: "yaml-type",
		changes: map[string]string{"policy.yaml": "dnssec:\n  validation: yes please\n"},
		want: []string{
			"dns/policy.yaml:2:15: error: yaml-type: dnssec.validation must be true or false, not a string",
		}},
	{name: "trust anchors", rule: "trust-anchors",
		changes: map[string]string{"policy.yaml": "dnssec:\n  trust_anchors: trust-anchors.zone\n  negative_trust_anchors: [example.]\n",
			"trust-anchors.zone": "corp.example. 3600 IN DS 1 8 2 ABCD\ncorp.example. 3600 IN A 198.18.5.1\ncorp.example. 3600 IN DNSKEY 0 3 8 AwEAAQ==\n"},
		want: []string{
			"dns/policy.yaml:3:28: warning: trust-anchors: negative trust anchor example. disables the trust anchor for corp.example. (dns/trust-anchors.zone)",
			"dns/trust-anchors.zone:2:1: error: trust-anchors: A record: trust anchors are DS or DNSKEY records",
			"dns/trust-anchors.zone:3:1: error: trust-anchors: DNSKEY record for corp.example. is not a zone key (flags 0 lack bit 7)",
		}},
	{name: "trust anchors missing", rule: "repo-layout",
		changes: map[string]string{"policy.yaml": "dnssec:\n  trust_anchors: trust-anchors.zone\n"},
		want: []string{
			"dns/trust-anchors.zone: error: repo-layout: missing file",
		}},

	// --- Check: forwarder graph and addresses ---
	{name: "forward cycle", rule: "forward-cycle",
		changes: map[string]string{"clusters/eu-west.yaml": replace(euWest, "forward:\n", "forward:\n  - zone: partner.example.\n    to: [198.18.1.1]\n"),
			"clusters/us-east.yaml": replace(usEast, "to: [198.18.9.1, \"198.18.9.2:5353\"]", "to: [198.18.2.1, 198.18.9.2]")},
		want: []string{
			"dns/clusters/eu-west.yaml:9:5: error: forward-cycle: forwarder cycle for names at or below partner.example.: eu-west -[partner.example.]-> us-east -[partner.example.]-> eu-west (rules: dns/clusters/eu-west.yaml:9, dns/clusters/us-east.yaml:9)",
		}},
	{name: "forward cycle by longest match", rule: "forward-cycle",
		changes: map[string]string{"clusters/eu-west.yaml": replace(euWest, "forward:\n", "forward:\n  - zone: sub.example.\n    to: [198.18.1.1]\n  - zone: example.\n    to: [198.18.9.9]\n"),
			"clusters/us-east.yaml": replace(usEast, "forward:\n", "forward:\n  - zone: example.\n    to: [198.18.2.2]\n")},
		want: []string{
			"dns/clusters/eu-west.yaml:9:5: error: forward-cycle: forwarder cycle for names at or below sub.example.: eu-west -[sub.example.]-> us-east -[example.]-> eu-west (rules: dns/clusters/eu-west.yaml:9, dns/clusters/us-east.yaml:9)",
		}},
	{name: "no cycle when the longest match leaves", rule: "forward-cycle",
		changes: map[string]string{"clusters/eu-west.yaml": replace(euWest, "forward:\n", "forward:\n  - zone: sub.example.\n    to: [198.18.1.1]\n"),
			"clusters/us-east.yaml": replace(usEast, "forward:\n", "forward:\n  - zone: example.\n    to: [198.18.2.2]\n  - zone: sub.example.\n    to: [198.18.9.9]\n")},
		want: nil},
	{name: "no cycle when the target serves the zone", rule: "forward-cycle",
		changes: map[string]string{"clusters/eu-west.yaml": replace(euWest, "forward:\n", "forward:\n  - zone: .\n    to: [198.18.1.1]\n"),
			"clusters/us-east.yaml": replace(usEast, "forward:\n", "forward:\n  - zone: corp.example.\n    to: [198.18.2.2]\n")},
		want: nil},
	{name: "forward peer", rule: "forward-peer",
		changes: map[string]string{"clusters/us-east.yaml": replace(usEast, "to: [198.18.9.1, \"198.18.9.2:5353\"]", "to: [198.18.9.1, 198.18.1.2]")},
		want: []string{
			"dns/clusters/us-east.yaml:10:22: error: forward-peer: cluster us-east forwards partner.example. to 198.18.1.2:53, its own node ns2: a rule applies to every node of the cluster, so ns2 would forward to itself and the others to a peer",
		}},
	{name: "forward self", rule: "forward-self",
		changes: map[string]string{"clusters/staging.yaml": goodRepo["clusters/staging.yaml"] + "forward:\n  - zone: .\n    to: [198.18.3.1, 198.18.9.1]\n",
			"clusters/us-east.yaml": replace(usEast, "to: [198.18.9.1, \"198.18.9.2:5353\"]", "to: [198.18.9.1, 127.0.0.1]")},
		want: []string{
			"dns/clusters/staging.yaml:10:10: error: forward-self: cluster staging forwards . to 198.18.3.1:53, its own node stg1: the node would forward to itself",
			"dns/clusters/us-east.yaml:10:22: error: forward-self: cluster us-east forwards partner.example. to 127.0.0.1:53: loopback at the DNS port reaches the node itself",
		}},
	{name: "forward unreachable", rule: "forward-unreachable",
		changes: map[string]string{"clusters/us-east.yaml": replace(usEast, "to: [198.18.9.1, \"198.18.9.2:5353\"]", "to: [0.0.0.0, 240.0.0.7, \"[ff02::1]:53\"]"),
			"clusters/eu-west.yaml": replace(euWest, "to: [198.18.1.1, 198.18.1.2]", "to: [198.18.1.1, \"127.0.0.1:5353\"]")},
		want: []string{
			"dns/clusters/eu-west.yaml:10:22: warning: forward-unreachable: cluster eu-west forwards 18.198.in-addr.arpa. to 127.0.0.1:5353, which is a loopback address: on the nodes of eu-west (which are not on loopback) it reaches a process on the node itself, not a resolver of the network",
			"dns/clusters/us-east.yaml:10:10: error: forward-unreachable: cluster us-east forwards partner.example. to 0.0.0.0:53, which is the unspecified address; no target of this rule can answer",
			"dns/clusters/us-east.yaml:10:19: error: forward-unreachable: cluster us-east forwards partner.example. to 240.0.0.7:53, which is in 240.0.0.0/4 (reserved, RFC 1112), not routable; no target of this rule can answer",
			"dns/clusters/us-east.yaml:10:30: error: forward-unreachable: cluster us-east forwards partner.example. to [ff02::1]:53, which is a multicast address; no target of this rule can answer",
		}},
	{name: "production forwards to staging", rule: "forward-to-staging",
		changes: map[string]string{"clusters/us-east.yaml": replace(usEast, "to: [198.18.9.1, \"198.18.9.2:5353\"]", "to: [198.18.9.1, 198.18.3.1]")},
		want: []string{
			"dns/clusters/us-east.yaml:10:22: warning: forward-to-staging: production cluster us-east forwards partner.example. to 198.18.3.1:53, a node of staging cluster staging: production would depend on what staging is testing",
		}},
	{name: "recursion open", rule: "recursion-open",
		changes: map[string]string{"clusters/eu-west.yaml": replace(euWest, "allow: [198.18.0.0/15]", "allow: [0.0.0.0/0]")},
		want: []string{
			"dns/clusters/eu-west.yaml:12:11: warning: recursion-open: cluster eu-west lets every address recurse (0.0.0.0/0): an open resolver",
		}},
	{name: "no staging", rule: "no-staging-cluster",
		changes: map[string]string{"clusters/staging.yaml": ""},
		want: []string{
			"dns/clusters: warning: no-staging-cluster: production clusters but no staging cluster: revisions cannot be verified before production takes them",
		}},
	{name: "zone lint runs", rule: "soa-missing",
		changes: map[string]string{"zones/18.198.in-addr.arpa.zone": replace(revZ, "@       IN SOA ns1.corp.example. hostmaster.corp.example. 2026010101 7200 3600 1209600 300\n", "")},
		prefix:  true,
		want:    []string{"dns/zones/18.198.in-addr.arpa.zone"}},

	// --- Check: fallback and probes ---
	// The Kelvin sign (U+212A) in raw UTF-8: lowered as Unicode it was
	// "k.log.example.", a name the operator did not write.
	{name: "fallback name not ascii", rule: "name-not-ascii",
		changes: map[string]string{"fallback.zone": fbZ + "\u212a.log.example. 300 IN A 198.18.9.31\n"},
		want: []string{
			"dns/fallback.zone:4:1: error: name-not-ascii: \"\u212a.log.example.\" has octets outside US-ASCII (UTF-8 text?), and names are matched as octets: write its IDNA A-label (xn--...), or \\DDD escapes if you mean those octets",
		}},
	{name: "fallback type", rule: "fallback-type",
		changes: map[string]string{"fallback.zone": fbZ + "corp.example. 300 IN NS ns1.corp.example.\n"},
		want: []string{
			"dns/fallback.zone:4:1: error: fallback-type: fallback record corp.example. has type NS: fallback answers are A, AAAA, CNAME, MX, SRV, TXT, PTR, CAA, SVCB, HTTPS or NAPTR",
		}},
	{name: "fallback wildcard", rule: "fallback-wildcard",
		changes: map[string]string{"fallback.zone": fbZ + "*.log.example. 300 IN A 198.18.9.31\n"},
		want: []string{
			"dns/fallback.zone:4:1: error: fallback-wildcard: fallback owner *.log.example. is a wildcard: fallback records name exactly the critical names they answer",
		}},
	{name: "fallback cname", rule: "fallback-cname",
		changes: map[string]string{"fallback.zone": fbZ + "ct.log.example. 300 IN CNAME log.example.\n"},
		want: []string{
			"dns/fallback.zone:4:1: error: fallback-cname: fallback owner ct.log.example. has a CNAME and other records",
		}},
	{name: "fallback duplicate", rule: "fallback-duplicate",
		changes: map[string]string{"fallback.zone": fbZ + "ct.log.example. 60 IN A 198.18.9.30\n"},
		want: []string{
			"dns/fallback.zone:4:1: error: fallback-duplicate: fallback record ct.log.example. A repeats the one at line 3",
		}},
	{name: "fallback address", rule: "fallback-address",
		changes: map[string]string{"fallback.zone": fbZ + "ca.log.example. 300 IN A 0.0.0.0\nca.log.example. 300 IN AAAA ::1\n"},
		want: []string{
			"dns/fallback.zone:4:1: error: fallback-address: fallback address 0.0.0.0 of ca.log.example. is the unspecified address",
			"dns/fallback.zone:5:1: error: fallback-address: fallback address ::1 of ca.log.example. is a loopback address",
		}},
	{name: "fallback name", rule: "fallback-name",
		changes: map[string]string{"fallback.zone": fbZ + "nope.corp.example. 300 IN A 198.18.5.99\nhost.invalid. 300 IN A 198.18.5.98\n"},
		want: []string{
			"dns/fallback.zone:4:1: error: fallback-name: fallback owner nope.corp.example. does not exist in zone corp.example. (dns/zones/corp.example.zone): the product answers NXDOMAIN for it, a fallback would never be used",
			"dns/fallback.zone:5:1: error: fallback-name: fallback owner host.invalid. is under invalid., a special-use name that is never resolved",
		}},
	{name: "fallback stale", rule: "fallback-stale",
		changes: map[string]string{"fallback.zone": replace(fbZ, "198.18.5.10", "198.18.5.11")},
		want: []string{
			"dns/fallback.zone:2:1: warning: fallback-stale: fallback db.corp.example. A 198.18.5.11 is not in zone corp.example. (dns/zones/corp.example.zone), which answers A 198.18.5.10",
		}},
	{name: "probe contradicts zone", rule: "probe-contradicts-zone",
		changes: map[string]string{"probes.yaml": replace(replace(probesY, "answers: [198.18.5.10]", "answers: [198.18.5.11]"), "nope.corp.example.", "www.corp.example.")},
		want: []string{
			"dns/probes.yaml:5:40: error: probe-contradicts-zone: probe \"db\" expects \"198.18.5.11\" for db.corp.example. A but zone corp.example. (dns/zones/corp.example.zone) answers A 198.18.5.10",
			"dns/probes.yaml:7:5: error: probe-contradicts-zone: probe \"nope\" expects NXDOMAIN for www.corp.example. A but zone corp.example. (dns/zones/corp.example.zone) answers NOERROR",
		}},

	{name: "probe compared as MatchProbe compares", rule: "probe-contradicts-zone",
		changes: map[string]string{
			"zones/corp.example.zone": corpZ + "@       IN TXT \"v=spf1 mx -all\"\n",
			"probes.yaml":             probesY + "  - name: spf\n    query: corp.example.\n    type: TXT\n    expect: {rcode: NOERROR, answers: [\"v=spf1 mx -all\"]}\n",
		},
		want: nil},
	{name: "gate probe a cluster cannot reach", rule: "probe-unreachable",
		changes: map[string]string{"clusters/eu-west.yaml": replace(euWest, "zones: [corp.example.]", "zones: []")},
		want: []string{
			"dns/probes.yaml:2:5: error: probe-unreachable: gate probe \"db\" asks db.corp.example. in internal zone corp.example., which cluster eu-west neither serves nor forwards: its nodes would fail the probe and return to their last good revision after every change (serve or forward the zone in dns/clusters/eu-west.yaml, or make the probe not a gate)",
		}},
	{name: "gate probe forwarded is reachable", rule: "probe-unreachable",
		changes: map[string]string{"clusters/eu-west.yaml": replace(replace(euWest, "zones: [corp.example.]", "zones: []"), "zone: 18.198.in-addr.arpa.", "zone: corp.example.")},
		want:    nil},

	// --- Check: against the base revision ---
	{name: "serial not increased", rule: "serial-not-increased", base: true,
		changes: map[string]string{"zones/corp.example.zone": replace(corpZ, "www     IN A   198.18.5.80", "www     IN A   198.18.5.81")},
		want: []string{
			"dns/zones/corp.example.zone:3:1: error: serial-not-increased: zone corp.example. changed but its SOA serial did not increase (2026010101 in the base revision, 2026010101 now)",
		}},
	{name: "records reordered is no change", rule: "serial-not-increased", base: true,
		changes: map[string]string{"zones/corp.example.zone": replace(replace(corpZ, "db      IN A   198.18.5.10\n", ""), "mail    IN A", "db      IN A   198.18.5.10\nmail    IN A")},
		want:    nil},
	{name: "TTL change is a change", rule: "serial-not-increased", base: true,
		changes: map[string]string{"zones/corp.example.zone": replace(corpZ, "db      IN A   198.18.5.10", "db 600  IN A   198.18.5.10")},
		want:    []string{"dns/zones/corp.example.zone:3:1: error: serial-not-increased: zone corp.example. changed but its SOA serial did not increase (2026010101 in the base revision, 2026010101 now)"}},
	{name: "serial increased", rule: "serial-not-increased", base: true,
		changes: map[string]string{"zones/corp.example.zone": replace(replace(corpZ, "www     IN A   198.18.5.80", "www     IN A   198.18.5.81"), "2026010101", "2026010102")},
		want:    nil},
	{name: "mass delete", rule: "mass-delete", base: true,
		changes: map[string]string{"zones/corp.example.zone": replace(replace(replace(corpZ, "2026010101", "2026010102"), "www     IN A   198.18.5.80\n", ""), "intranet IN CNAME www\n", "")},
		want: []string{
			"dns/zones: error: mass-delete: the revision deletes 2 of 15 records (13.3%), more than the 10% of limits.max_delete_percent; add the commit trailer `DNS-Allow-Mass-Delete: <reason>` if this is intended",
		}},
	{name: "changed addresses are not deletions", rule: "mass-delete", base: true,
		changes: map[string]string{"zones/corp.example.zone": replace(replace(replace(corpZ, "2026010101", "2026010102"), "www     IN A   198.18.5.80", "www     IN A   198.18.5.81"), "db      IN A   198.18.5.10", "db      IN A   198.18.5.12")},
		want:    nil},
	{name: "mass delete allowed by trailer", rule: "mass-delete", base: true,
		message: "Retire www\n\nThe intranet moved.\n\nDNS-Allow-Mass-Delete: intranet retired, ticket OPS-42\n",
		changes: map[string]string{"zones/corp.example.zone": replace(replace(replace(corpZ, "2026010101", "2026010102"), "www     IN A   198.18.5.80\n", ""), "intranet IN CNAME www\n", "")},
		want: []string{
			"dns/zones: warning: mass-delete: the revision deletes 2 of 15 records (13.3%), more than the 10% of limits.max_delete_percent (allowed by DNS-Allow-Mass-Delete: intranet retired, ticket OPS-42)",
		}},
	{name: "trailer without reason", rule: "mass-delete-trailer", base: true,
		message: "Retire www\n\nDNS-Allow-Mass-Delete:\n",
		changes: map[string]string{"zones/corp.example.zone": replace(corpZ, "2026010101", "2026010102")},
		want: []string{
			"dns/zones: error: mass-delete-trailer: the DNS-Allow-Mass-Delete trailer needs a reason: `DNS-Allow-Mass-Delete: <why>`",
		}},
	{name: "zone deleted", rule: "zone-deleted", base: true,
		changes: map[string]string{"zones/18.198.in-addr.arpa.zone": "", "clusters/us-east.yaml": replace(usEast, "zones: [corp.example., 18.198.in-addr.arpa.]", "zones: [corp.example.]")},
		want: []string{
			"dns/zones/18.198.in-addr.arpa.zone: error: zone-deleted: zone 18.198.in-addr.arpa. is deleted (5 records); add the commit trailer `DNS-Allow-Mass-Delete: <reason>` if this is intended",
		}},
	{name: "fallback deleted", rule: "fallback-deleted", base: true,
		changes: map[string]string{"fallback.zone": "db.corp.example.        300 IN A 198.18.5.10\n"},
		want: []string{
			"dns/fallback.zone: error: fallback-deleted: fallback record ct.log.example. A 198.18.9.30 is deleted; add the commit trailer `DNS-Allow-Mass-Delete: <reason>` if this is intended",
		}},
	{name: "apex NS deleted", rule: "apex-ns-deleted", base: true,
		changes: map[string]string{"zones/corp.example.zone": replace(replace(corpZ, "2026010101", "2026010102"), "@       IN NS  ns2\n", "")},
		want: []string{
			"dns/zones/corp.example.zone:4:1: error: apex-ns-deleted: zone corp.example. loses apex NS ns2.corp.example.; add the commit trailer `DNS-Allow-Mass-Delete: <reason>` if this is intended",
		}},
	{name: "empty desired state", rule: "near-empty",
		changes: map[string]string{"zones/corp.example.zone": "$ORIGIN corp.example.\n@ 3600 IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ 3600 IN NS ns1.other.example.\n@ 3600 IN NS ns2.other.example.\n", "zones/18.198.in-addr.arpa.zone": "", "clusters/us-east.yaml": replace(usEast, "zones: [corp.example., 18.198.in-addr.arpa.]", "zones: [corp.example.]"), "fallback.zone": "", "probes.yaml": ""},
		want: []string{
			"dns/zones: error: near-empty: the revision's zones hold no record besides SOA and NS: refusing an empty desired state",
		}},
}
