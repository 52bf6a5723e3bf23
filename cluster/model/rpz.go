package model

import (
	"slices"

	"github.com/gitops-dns/resolverd/rpz"
	"github.com/gitops-dns/resolverd/zones"
)

// RPZ is one entry of policy.yaml's rpz list: a response policy zone file
// and the clusters that apply it.
type RPZ struct {
	File        string           // relative to the config folder, e.g. policy/malware.rpz
	Clusters    []string         // nil = every cluster
	ClustersPos []zones.Position // parallel to Clusters
	Pos         zones.Position   // where the entry was written
	Policy      *rpz.Policy      // the parsed file; nil when it did not load
}

// RPZFor returns the policies cluster applies, in policy.yaml's order
// (their priority).
func (rev *Revision) RPZFor(cluster string) rpz.Set {
	var out rpz.Set
	for _, r := range rev.Policy.RPZ {
		if r.Policy != nil && (r.Clusters == nil || slices.Contains(r.Clusters, cluster)) {
			out = append(out, r.Policy)
		}
	}
	return out
}
