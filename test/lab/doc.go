// Package lab owns the multi-datacenter lab: network namespaces joined by
// veth links (addresses from 198.18.0.0/15 only), a fake internet of NSD
// authoritative servers, a git server host (git daemon and git http-backend),
// resolverd nodes in two production datacenters and a staging cluster, and
// client hosts whose resolv.conf points at their datacenter's nodes.
//
// A scenario (the tests of this package) drives the lab as a story: commit to
// the config repo, wait until nodes serve a revision, cut a link, stop a
// host, and assert what clients see through glibc (getent), dig and Go's
// resolver. Every scenario prints a timeline.
//
// The tests need root and `ip netns`; without them they skip with a message.
// Only 198.18.0.0/15 addresses inside the lab's namespaces are ever sent to.
package lab
