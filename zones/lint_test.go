package zones

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// lintBase is a clean zone of 6 lines; cases append from line 7.
const lintBase = "$TTL 3600\n" +
	"@ IN SOA ns1 hostmaster 1 7200 900 1209600 300\n" +
	"  IN NS ns1\n" +
	"  IN NS ns2\n" +
	"ns1 IN A 192.0.2.1\n" +
	"ns2 IN A 192.0.2.2\n"

func TestLint(t *testing.T) {
	policy := LintPolicy{MinTTL: 60, MaxTTL: 86400}
	tests := []struct {
		rule string
		src  string
		want []string
	}{
		{rule: "clean", src: lintBase + "www IN A 192.0.2.80\n@ IN MX 10 www\n*.dyn IN A 192.0.2.3\n"},
		{rule: RuleSOAMissing,
			src:  "$TTL 3600\n@ IN NS ns1\n@ IN NS ns2\nns1 IN A 192.0.2.1\nns2 IN A 192.0.2.2\n",
			want: []string{"t.zone:1:1: error: soa-missing: zone example.com. has no SOA record at its apex"}},
		{rule: RuleSOAMultiple,
			src:  lintBase + "@ IN SOA ns1 hostmaster 2 7200 900 1209600 300\n",
			want: []string{"t.zone:7:1: error: soa-multiple: second SOA record at the apex (the first is at line 2)"}},
		{rule: RuleSOANotAtApex,
			src:  lintBase + "sub IN SOA ns1 hostmaster 2 7200 900 1209600 300\n",
			want: []string{"t.zone:7:1: error: soa-not-at-apex: SOA record at sub.example.com., which is not the apex example.com."}},
		{rule: RuleSOATimers,
			src:  strings.Replace(lintBase, "1 7200 900 1209600 300", "1 60 900 3600 172800", 1),
			want: []string{"t.zone:2:1: error: soa-timers: SOA timers out of range: refresh 60 not in 300..86400; retry 900 not in 60..refresh-1; expire 3600 not in 604800..2419200; minimum 172800 above 86400"}},
		{rule: RuleApexNSCount,
			src:  strings.Replace(lintBase, "  IN NS ns2\n", "", 1),
			want: []string{"t.zone:3:3: error: apex-ns-count: zone example.com. has 1 NS record(s) at its apex, at least 2 are required"}},
		{rule: RuleOutOfZone,
			src:  lintBase + "www.example.net. IN A 192.0.2.1\n",
			want: []string{"t.zone:7:1: error: out-of-zone: www.example.net. is not in zone example.com."}},
		{rule: RuleCNAMEAndOtherData,
			src:  lintBase + "www IN CNAME ns1\nwww IN TXT \"x\"\nwww IN MX 10 ns1\n",
			want: []string{"t.zone:7:1: error: cname-and-other-data: www.example.com. has a CNAME and other data (MX, TXT)"}},
		{rule: RuleCNAMEMultiple,
			src:  lintBase + "www IN CNAME ns1\nwww IN CNAME ns2\n",
			want: []string{"t.zone:8:1: error: cname-multiple: second CNAME for www.example.com. (the first is at line 7)"}},
		{rule: RuleCNAMEAtApex,
			src: lintBase + "@ IN CNAME www.example.net.\n",
			want: []string{
				"t.zone:7:1: error: cname-and-other-data: example.com. has a CNAME and other data (NS, SOA)",
				"t.zone:7:1: error: cname-at-apex: CNAME at the zone apex example.com.",
			}},
		{rule: RuleCNAMEChain,
			src:  lintBase + "a IN CNAME b\nb IN CNAME ns1\n",
			want: []string{"t.zone:7:1: warning: cname-chain: CNAME chain: a.example.com. -> b.example.com. -> ns1.example.com."}},
		{rule: RuleCNAMELoop,
			src: lintBase + "d IN CNAME a\na IN CNAME b\nb IN CNAME c\nc IN CNAME A.example.com.\nself IN CNAME self\n",
			want: []string{
				"t.zone:7:1: warning: cname-chain: CNAME chain: d.example.com. -> a.example.com. -> (loop)",
				"t.zone:8:1: error: cname-loop: CNAME loop of 3 name(s): a.example.com. -> b.example.com. -> c.example.com. -> a.example.com.",
				"t.zone:11:1: error: cname-loop: CNAME loop of 1 name(s): self.example.com. -> self.example.com.",
			}},
		{rule: RuleTargetIsCNAME,
			src: lintBase + "@ IN MX 10 mx\nmx IN CNAME ns1\n_x._tcp IN SRV 0 0 80 mx.example.com.\n",
			want: []string{
				"t.zone:7:1: error: target-is-cname: MX target mx.example.com. is a CNAME (RFC 2181 10.3)",
				"t.zone:9:1: error: target-is-cname: SRV target mx.example.com. is a CNAME (RFC 2181 10.3)",
			}},
		{rule: RuleTargetIsAddress,
			src: lintBase + "@ IN MX 10 192.0.2.25.\n_sip._tcp IN SRV 0 0 5060 192.0.2.5\n",
			want: []string{
				"t.zone:7:1: error: target-is-address: MX target 192.0.2.25 is an IP address; it must be a host name with A/AAAA records",
				"t.zone:8:1: error: target-is-address: SRV target 192.0.2.5 is an IP address; it must be a host name with A/AAAA records",
			}},
		{rule: RuleGlueMissing,
			src:  lintBase + "sub IN NS ns.sub\n  IN NS ns.other.net.\n",
			want: []string{"t.zone:7:1: error: glue-missing: NS target ns.sub.example.com. is inside zone example.com. but has no A or AAAA record"}},
		{rule: RuleOccludedData,
			src:  lintBase + "sub IN NS ns.sub\n  IN NS ns.other.net.\nns.sub IN A 192.0.2.53\nwww.sub IN TXT \"hidden\"\n",
			want: []string{"t.zone:10:1: warning: occluded-data: www.sub.example.com. TXT is below the delegation sub.example.com. and is never served"}},
		{rule: RuleDuplicateRecord,
			src:  lintBase + "www IN A 192.0.2.9\nWWW IN A 192.0.2.9\n",
			want: []string{"t.zone:8:1: error: duplicate-record: duplicate of the record at line 7"}},
		{rule: RuleTTLMismatch,
			src:  lintBase + "www IN A 192.0.2.9\nwww 60 IN A 192.0.2.10\n",
			want: []string{"t.zone:8:1: error: ttl-mismatch: TTL 60 differs from TTL 3600 of the same RRset at line 7 (RFC 2181 5.2)"}},
		{rule: RuleWildcardNonTerminal,
			src:  lintBase + "*.w IN A 192.0.2.7\na.*.w IN A 192.0.2.8\n",
			want: []string{"t.zone:8:1: error: wildcard-non-terminal: a.*.w.example.com. is below the wildcard *.w.example.com.: a wildcard must be a leaf"}},
		{rule: RuleTTLBounds,
			src: lintBase + "www 30 IN A 192.0.2.9\nmail 100000 IN A 192.0.2.10\n",
			want: []string{
				"t.zone:7:1: error: ttl-bounds: TTL 30 of www.example.com. A outside the policy bounds (min 60, max 86400)",
				"t.zone:8:1: error: ttl-bounds: TTL 100000 of mail.example.com. A outside the policy bounds (min 60, max 86400)",
			}},
		{rule: "all findings, sorted",
			src: lintBase + "b IN CNAME ns1\nb IN TXT \"x\"\na IN A 192.0.2.9\na 60 IN A 192.0.2.9\n",
			want: []string{
				"t.zone:7:1: error: cname-and-other-data: b.example.com. has a CNAME and other data (TXT)",
				"t.zone:10:1: error: duplicate-record: duplicate of the record at line 9",
				"t.zone:10:1: error: ttl-mismatch: TTL 60 differs from TTL 3600 of the same RRset at line 9 (RFC 2181 5.2)",
			}},
	}
	for _, tc := range tests {
		t.Run(tc.rule, func(t *testing.T) {
			z, fs := Parse("t.zone", "example.com.", []byte(tc.src))
			fs = append(fs, Lint(z, policy)...)
			if got := findingStrings(fs); !eqStrings(got, tc.want) {
				t.Errorf("findings:\n got  %q\n want %q", got, tc.want)
			}
		})
	}
}

func TestLintDelegation(t *testing.T) {
	parent, _ := Parse("parent.zone", "example.com.", []byte(lintBase+
		"sub IN NS ns1.sub\n  IN NS ns2.sub\nns1.sub IN A 192.0.2.53\nns2.sub IN A 192.0.2.54\n"))
	tests := []struct {
		name  string
		child string
		want  []string
	}{
		{name: "consistent",
			child: "@ IN SOA ns1 h 1 7200 900 1209600 300\n@ IN NS ns1\n@ IN NS ns2\nns1 IN A 192.0.2.53\nns2 IN A 192.0.2.54\n"},
		{name: "glue differs from the child",
			child: "@ IN SOA ns1 h 1 7200 900 1209600 300\n@ IN NS ns1\n@ IN NS ns2\nns1 IN A 192.0.2.99\nns2 IN A 192.0.2.54\n",
			want:  []string{"parent.zone:9:1: error: glue-conflict: glue ns1.sub.example.com. A [192.0.2.53] differs from the child zone sub.example.com. ([192.0.2.99])"}},
		{name: "NS set differs from the child",
			child: "@ IN SOA ns1 h 1 7200 900 1209600 300\n@ IN NS ns1\n@ IN NS ns3\nns1 IN A 192.0.2.53\nns2 IN A 192.0.2.54\n",
			want:  []string{"parent.zone:7:1: error: glue-conflict: delegation NS set [ns1.sub.example.com. ns2.sub.example.com.] differs from the apex NS set of the child zone sub.example.com. ([ns1.sub.example.com. ns3.sub.example.com.])"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			child, fs := Parse("child.zone", "sub.example.com.", []byte(tc.child))
			if len(fs) != 0 {
				t.Fatal(fs)
			}
			if got := findingStrings(LintDelegation(parent, child)); !eqStrings(got, tc.want) {
				t.Errorf("findings:\n got  %q\n want %q", got, tc.want)
			}
		})
	}
}

// The example config repo shipped with the project must lint clean.
func TestLintExampleConfigRepo(t *testing.T) {
	files, _ := filepath.Glob("../examples/dns-config/zones/*.zone")
	if len(files) == 0 {
		t.Skip("no example zones")
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		origin := strings.TrimSuffix(filepath.Base(file), "zone")
		z, fs := Parse(file, origin, data)
		fs = append(fs, Lint(z, LintPolicy{})...)
		if HasErrors(fs) {
			t.Errorf("%s: %v", file, fs)
		}
	}
}
