package cluster

import (
	"strings"
	"testing"

	"github.com/gitops-dns/resolverd/cluster/model"

	"github.com/gitops-dns/resolverd/zones"
)

// checkFindings asserts what holds for any input: every finding names the
// file, has a rule id and a message, and a position that is not negative.
func checkFindings(t *testing.T, file string, fs []zones.Finding) {
	t.Helper()
	for _, f := range fs {
		if f.Pos.File != file || f.Rule == "" || f.Msg == "" || f.Pos.Line < 0 || f.Pos.Col < 0 {
			t.Fatalf("malformed finding %+v", f)
		}
	}
}

func FuzzLoadCluster(f *testing.F) {
	for _, k := range []string{"clusters/us-east.yaml", "clusters/eu-west.yaml", "clusters/staging.yaml"} {
		f.Add([]byte(goodRepo[k]))
	}
	f.Add([]byte("name: us-east\nnodes: &a [{name: a, address: 198.18.1.1}]\nforward: *a\n"))
	f.Add([]byte("name: [\n"))
	f.Add([]byte("- a\n- b\n"))
	f.Add([]byte("name: us-east\nenvironment: production\nnodes:\n  - {name: ns1, address: \"[::1]:53\", port: 70000}\nforward:\n  - {zone: ., to: [\"[2001:db8::1]:5353\", 0]}\n"))
	f.Add([]byte("name: us-east\nenvironment: production\nnodes: [{name: a, address: 198.18.1.1}]\nforward:\n  - {zone: ., to: [198.18.9.3, \"tls://[2001:db8::1]:853@dns.example\"], tls_ca: ca.pem}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const file = "cfg/clusters/us-east.yaml"
		c, fs := ParseCluster(file, data)
		checkFindings(t, file, fs)
		if c == nil || zones.HasErrors(fs) {
			return
		}
		// A cluster without errors is usable as it is.
		if c.Name != "us-east" || len(c.Nodes) == 0 || (c.Environment != model.Production && c.Environment != model.Staging) {
			t.Fatalf("accepted an unusable cluster: %+v", c)
		}
		for _, n := range c.Nodes {
			if !n.Address.IsValid() || n.Port == 0 {
				t.Fatalf("accepted node %+v", n)
			}
		}
		for _, r := range c.Forward {
			tls := false
			for i := range r.To {
				tls = tls || r.IsTLS(i)
			}
			if len(r.To) == 0 || !strings.HasSuffix(r.Zone, ".") || len(r.To) != len(r.ToPos) ||
				(r.TLSName != nil && len(r.TLSName) != len(r.To)) || tls != (r.TLSCA != nil) {
				t.Fatalf("accepted rule %+v", r)
			}
		}
	})
}

func FuzzLoadPolicy(f *testing.F) {
	f.Add([]byte(goodRepo["policy.yaml"]))
	f.Add([]byte("recursion:\n  root_hints: root.hints\nfallback:\n  ttl: 30\nlimits:\n  max_delete_percent: 10\n  min_ttl: 30\n  max_ttl: 86400\n"))
	f.Add([]byte("limits: {min_ttl: 9999999999999}\n"))
	f.Add([]byte("recursion:\n"))
	f.Add([]byte("dnssec:\n  validation: true\n  trust_anchors: trust-anchors.zone\n  negative_trust_anchors: [corp.example.]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const file = "policy.yaml"
		p, fs := ParsePolicy(file, data)
		checkFindings(t, file, fs)
		if zones.HasErrors(fs) {
			return
		}
		if p.MinTTL > p.MaxTTL || p.FallbackTTL == 0 || p.MaxDeletePercent < 0 || p.MaxDeletePercent > 100 {
			t.Fatalf("accepted policy %+v", p)
		}
		for _, n := range p.DNSSEC.NegativeTrustAnchors {
			if !strings.HasSuffix(n, ".") || n != strings.ToLower(n) {
				t.Fatalf("accepted negative trust anchor %q", n)
			}
		}
	})
}

func FuzzLoadProbes(f *testing.F) {
	f.Add([]byte(goodRepo["probes.yaml"]))
	f.Add([]byte("probes:\n  - {name: a, query: a.example., type: AAAA, expect: {answers: [\"2001:db8::1\"]}}\n"))
	f.Add([]byte("probes: {}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const file = "probes.yaml"
		ps, fs := ParseProbes(file, data)
		checkFindings(t, file, fs)
		if zones.HasErrors(fs) {
			return
		}
		for _, p := range ps {
			if p.Name == "" || !strings.HasSuffix(p.Query, ".") || p.Type == 0 || len(p.Expect) != len(p.ExpectPos) {
				t.Fatalf("accepted probe %+v", p)
			}
		}
	})
}

func FuzzLoadFallback(f *testing.F) {
	f.Add([]byte(goodRepo["fallback.zone"]))
	f.Add([]byte("$TTL 1h\nx.example. IN TXT \"a;b\" ( \"c\"\n )\n  IN A 198.18.0.1\n"))
	f.Add([]byte("db 300 IN A 1.2.3.4\n$INCLUDE /etc/passwd\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const file = "fallback.zone"
		recs, fs := parseRecordFile(file, data)
		checkFindings(t, file, fs)
		for _, r := range recs {
			if r.RR == nil || !strings.HasSuffix(r.RR.Header().Name, ".") || r.Pos.Line < 1 {
				t.Fatalf("record %+v", r)
			}
		}
	})
}

// FuzzCheck replaces one cluster file and the fallback file of a valid
// repo with fuzzed input: Load and Check (alone and against the valid
// base) must never panic, and every finding must be well formed.
func FuzzCheck(f *testing.F) {
	f.Add([]byte(goodRepo["clusters/us-east.yaml"]), []byte(goodRepo["fallback.zone"]))
	f.Add([]byte("name: us-east\nenvironment: production\nnodes: [{name: a, address: 198.18.2.1}]\nforward:\n  - {zone: ., to: [198.18.2.2, \"127.0.0.1:53\", 0.0.0.0]}\nzones: []\n"), []byte("*.x. 1 IN NS a.\nx. 1 IN CNAME y.\nx. 1 IN A 0.0.0.0\n"))
	base, fs := Load(mapFS(goodRepo), "")
	if len(fs) != 0 {
		f.Fatal(findingStrings(fs))
	}
	f.Fuzz(func(t *testing.T, clusterFile, fallback []byte) {
		files := with(goodRepo, map[string]string{"clusters/us-east.yaml": string(clusterFile), "fallback.zone": string(fallback)})
		m := mapFS(files)
		rev, fs := Load(m, "")
		fs = append(fs, Check(rev, nil)...)
		fs = append(fs, Check(rev, base)...)
		for _, f := range fs {
			if f.Pos.File == "" || f.Rule == "" || f.Msg == "" {
				t.Fatalf("malformed finding %+v", f)
			}
		}
		_ = Diff(base, rev)
		_ = ForwardGraph(rev)
	})
}
