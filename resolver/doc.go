// Package resolver owns recursive resolution of the names a node does not
// serve itself: an iterative resolver that starts from root hints and follows
// referrals (glue, out-of-bailiwick NS names, CNAME and DNAME chains across
// zones, QNAME minimisation), per-zone forwarding to health-checked targets, a
// bounded cache on golang-lru/v2 (RRsets, negative answers, delegations,
// server RTTs, recent failures) with serve-stale (RFC 8767), and the limits
// that keep the work of one client question bounded (upstream sends, CNAME
// restarts, NS-name lookups, an overall deadline, a cap on resolutions in
// flight).
//
// It knows nothing about CoreDNS: plugins/recursor serves it. The network and
// the clock are interfaces (Transport, Clock) so tests script authoritative
// servers and let time pass without sleeping.
//
// Safety: every upstream query has a fresh random id (crypto/rand) and goes
// out over UDP through a socket chosen at random from a pool of sockets on
// kernel-chosen random ports, each retired after a bounded number of
// queries and time (udpPool: ≈30.8 bits of port and id for an off-path
// spoofer, 22 bits for one that has learnt our live ports); a reply reaches
// the query only from the address and port asked, with its id.
// NetTransport (a fresh socket per query, connected to the server) is the
// choice for the full 30.8 bits whatever the attacker knows. A reply is used
// only if its id and question match what was asked; from it only records for
// the question's chain inside the asked server's zone (bailiwick), the
// referral's NS set and its in-bailiwick glue, and the SOA of a negative
// answer are read: everything else is ignored, never cached.
package resolver
