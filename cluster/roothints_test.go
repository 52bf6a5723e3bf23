package cluster

import (
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/cluster/model"
)

// TestRootHintsTargetsFoldASCIIOnly: a root server named with raw octets
// outside US-ASCII (the Kelvin sign, which Unicode folds to "k") does not
// borrow the address of the ASCII name it folds to; ASCII case still
// folds (RFC 4343 section 3).
func TestRootHintsTargetsFoldASCIIOnly(t *testing.T) {
	rec := func(s string) model.Record {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return model.Record{RR: rr}
	}
	recs := []model.Record{
		rec(". 3600000 IN NS K.ROOT.TEST."),
		rec("k.root.test. 3600000 IN A 198.18.7.1"),
	}
	kelvin := rec(". 3600000 IN NS a.root.test.")
	kelvin.RR.(*dns.NS).Ns = "\u212a.root.test."
	recs = append(recs, kelvin)
	fs := checkRootHints("root.hints", recs)
	if len(fs) != 1 || !strings.Contains(fs[0].Msg, "root server \u212a.root.test. has no A or AAAA record") {
		t.Fatalf("findings %v, want one: the Kelvin-sign server has no address (K.ROOT.TEST. has k's)", fs)
	}
}
