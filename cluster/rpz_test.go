package cluster

import (
	"fmt"
	"strings"
	"testing"
)

const rpzPolicy = `fallback:
  ttl: 30
limits:
  max_delete_percent: 10
rpz:
  - file: policy/malware.rpz
  - file: policy/retired.rpz
    clusters: [us-east]
`

// malwareRPZ holds n blocking rules (n >= 1).
func malwareRPZ(n int) string {
	var b strings.Builder
	b.WriteString("$TTL 300\n$ORIGIN malware.rpz.\n@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60\n  NS localhost.\n")
	for i := range n {
		fmt.Fprintf(&b, "bad%d.example CNAME .\n", i)
	}
	return b.String()
}

const retiredRPZ = "$TTL 300\n$ORIGIN retired.rpz.\n@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60\nold.corp.example A 198.18.5.99\n"

func withRPZ(changes map[string]string) map[string]string {
	out := map[string]string{"policy.yaml": rpzPolicy, "policy/malware.rpz": malwareRPZ(20), "policy/retired.rpz": retiredRPZ}
	for k, v := range changes {
		out[k] = v
	}
	return out
}

func TestRPZLoaded(t *testing.T) {
	rev, fs := Load(mapFS(with(goodRepo, withRPZ(nil))), "")
	if len(fs) != 0 {
		t.Fatal(findingStrings(fs))
	}
	if got := rev.RPZFor("us-east"); len(got) != 2 || got[0].Name != "malware.rpz." || got[1].Name != "retired.rpz." {
		t.Errorf("us-east applies %v, want malware.rpz. then retired.rpz.", got)
	}
	if got := rev.RPZFor("eu-west"); len(got) != 1 || got[0].Name != "malware.rpz." {
		t.Errorf("eu-west applies %v, want malware.rpz. only", got)
	}
}

// The findings of policy.yaml's rpz list and of the policy files, each at
// file:line:col.
func TestRPZFindings(t *testing.T) {
	for _, tc := range []ruleCase{
		{name: "unknown field", rule: "yaml-unknown-field",
			changes: withRPZ(map[string]string{"policy.yaml": replace(rpzPolicy, "clusters: [us-east]", "cluster: [us-east]")}),
			want:    []string{`dns/policy.yaml:8:5: error: yaml-unknown-field: unknown field "cluster" in rpz entry (did you mean "clusters"?)`}},
		{name: "unknown cluster", rule: RuleRPZ,
			changes: withRPZ(map[string]string{"policy.yaml": replace(rpzPolicy, "[us-east]", "[us-east, mars]")}),
			want:    []string{`dns/policy.yaml:8:25: error: rpz-entry: rpz file policy/retired.rpz names cluster "mars", which is not in clusters/ (clusters: eu-west, staging, us-east)`}},
		{name: "outside the config folder", rule: RuleRPZ,
			changes: withRPZ(map[string]string{"policy.yaml": replace(rpzPolicy, "file: policy/malware.rpz", "file: ../malware.rpz")}),
			want:    []string{`dns/policy.yaml:6:11: error: rpz-entry: rpz file must be a path inside the config folder, not "../malware.rpz"`}},
		{name: "missing file", rule: RuleLayout,
			changes: withRPZ(map[string]string{"policy/retired.rpz": ""}),
			prefix:  true,
			want:    []string{`dns/policy/retired.rpz: error: repo-layout: missing file`}},
		{name: "unknown action", rule: "rpz-unknown-action",
			changes: withRPZ(map[string]string{"policy/retired.rpz": retiredRPZ + "gone.corp.example CNAME rpz-gone.\n"}),
			prefix:  true,
			want:    []string{`dns/policy/retired.rpz:5:1: error: rpz-unknown-action: unknown action CNAME rpz-gone.`}},
		{name: "trigger outside", rule: "rpz-outside-policy-zone",
			changes: withRPZ(map[string]string{"policy/retired.rpz": retiredRPZ + "gone.corp.example. CNAME .\n"}),
			prefix:  true,
			want:    []string{`dns/policy/retired.rpz:5:1: error: rpz-outside-policy-zone: gone.corp.example. is not in zone retired.rpz.`}},
		{name: "same policy name twice", rule: RuleRPZ,
			changes: withRPZ(map[string]string{"policy/retired.rpz": strings.ReplaceAll(retiredRPZ, "retired.rpz.", "malware.rpz.")}),
			want:    []string{`dns/policy/retired.rpz: error: rpz-entry: policy malware.rpz. (the SOA owner) is also the name of dns/policy/malware.rpz: each policy needs its own name`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			all := runCase(t, tc)
			var got []string
			for _, f := range all {
				if f.Rule == tc.rule {
					got = append(got, f.String())
				}
			}
			ok := len(got) == len(tc.want)
			for i := 0; ok && i < len(got); i++ {
				ok = got[i] == tc.want[i] || tc.prefix && strings.HasPrefix(got[i], tc.want[i])
			}
			if !ok {
				t.Errorf("findings of %s:\n  %s\nwant:\n  %s\nall:\n%s", tc.rule, strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "), findingStrings(all))
			}
		})
	}
}

// Removing rules counts toward the mass-deletion guard with the zones'
// records; removing a whole policy is refused like deleting a zone.
func TestRPZDeletionGuard(t *testing.T) {
	for _, tc := range []ruleCase{
		{name: "one rule of twenty reverted", rule: RuleMassDelete, base: true,
			changes: map[string]string{"dns/policy/malware.rpz": malwareRPZ(19)}},
		{name: "most rules removed", rule: RuleMassDelete, base: true,
			changes: map[string]string{"dns/policy/malware.rpz": malwareRPZ(1)}, prefix: true,
			want: []string{"dns/zones: error: mass-delete: the revision deletes 19 of"}},
		{name: "most rules removed, acknowledged", rule: RuleMassDelete, base: true,
			changes: map[string]string{"dns/policy/malware.rpz": malwareRPZ(1)}, prefix: true,
			message: "feed shrank\n\nDNS-Allow-Mass-Delete: the vendor retired the list",
			want:    []string{"dns/zones: warning: mass-delete: the revision deletes 19 of"}},
		{name: "policy unlisted", rule: RuleZoneDeleted, base: true,
			changes: map[string]string{"dns/policy.yaml": replace(rpzPolicy, "  - file: policy/malware.rpz\n", "")},
			want:    []string{"dns/policy/malware.rpz: error: zone-deleted: response policy malware.rpz. is deleted or no longer listed in policy.yaml (22 records); add the commit trailer `DNS-Allow-Mass-Delete: <reason>` if this is intended"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestRepo(t)
			h := r.commit("base", prefixed("dns", with(goodRepo, withRPZ(nil))))
			base, fs, err := LoadCommit(r.repo, h, "dns")
			if err != nil || len(fs) != 0 {
				t.Fatalf("base: %v %s", err, findingStrings(fs))
			}
			msg := tc.message
			if msg == "" {
				msg = "change"
			}
			h = r.commit(msg, tc.changes)
			head, fs, err := LoadCommit(r.repo, h, "dns")
			if err != nil {
				t.Fatal(err)
			}
			all := append(fs, Check(head, base)...)
			var got []string
			for _, f := range all {
				if f.Rule == tc.rule {
					got = append(got, f.String())
				}
			}
			ok := len(got) == len(tc.want)
			for i := 0; ok && i < len(got); i++ {
				ok = got[i] == tc.want[i] || tc.prefix && strings.HasPrefix(got[i], tc.want[i])
			}
			if !ok {
				t.Errorf("findings of %s:\n  %s\nwant:\n  %s\nall:\n%s", tc.rule, strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "), findingStrings(all))
			}
		})
	}
}

func TestRPZDiff(t *testing.T) {
	base, fs := Load(mapFS(with(goodRepo, withRPZ(nil))), "")
	if len(fs) != 0 {
		t.Fatal(findingStrings(fs))
	}
	head, fs := Load(mapFS(with(goodRepo, withRPZ(map[string]string{
		"policy.yaml":        replace(rpzPolicy, "  - file: policy/retired.rpz\n    clusters: [us-east]\n", ""),
		"policy/malware.rpz": malwareRPZ(20) + "phish.example CNAME .\n",
	}))), "")
	if len(fs) != 0 {
		t.Fatal(findingStrings(fs))
	}
	p := Diff(base, head)
	var got []string
	for _, z := range p.RPZ {
		got = append(got, "rpz "+z.Origin+" "+z.Status+" +"+strings.Join(z.Added, ",")+" -"+fmt.Sprint(len(z.Removed)))
	}
	for _, c := range p.Policy {
		got = append(got, c.Kind+" "+c.What+": "+c.Old+" => "+c.New)
	}
	want := []string{
		"rpz malware.rpz. changed +phish.example.malware.rpz. 300 IN CNAME . -0",
		"rpz retired.rpz. removed + -2",
		"changed rpz: policy/malware.rpz, policy/retired.rpz (clusters us-east) => policy/malware.rpz",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if s := p.Summary.String(); !strings.HasSuffix(s, "; rpz +0 -1 ~1") {
		t.Errorf("summary %q: want the rpz counts", s)
	}
}
