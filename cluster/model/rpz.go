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
	// Parsed is the file as read, before the checks across entries (a
	// policy named like another is parsed but not applied), with the
	// parser's findings; Blob is its git blob id ("" when it was not read
	// from git). The next revision takes both when its file has the same
	// blob (cluster.LoadAgainst). Shared: do not modify.
	Parsed   *rpz.Policy
	Findings []zones.Finding
	Blob     string
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
