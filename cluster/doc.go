// Package cluster loads and checks the config repo: reading one revision's
// files (policy.yaml, clusters/, zones/, fallback.zone, probes.yaml, root
// hints) from an fs.FS into the model of package cluster/model, validating
// it alone and against the revision it replaces (Check), and the views
// operators review a change by: the record-level plan (Diff) and the
// forwarder graph (ForwardGraph).
//
// It knows neither git nor CoreDNS: cluster/gittree reads a commit's folder
// as an fs.FS and cluster/gitrepo.LoadCommit joins the two. The same code
// decides in CI (dnsctl check) and on a node (node/syncer), so a revision CI
// accepts is a revision nodes accept (ARCHITECTURE.md, "Layers").
package cluster
