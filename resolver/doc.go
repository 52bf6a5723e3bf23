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
// out over UDP through a pooled socket connect()ed to that one server, on a
// kernel-chosen random port, retired after a bounded number of queries and
// time (udpPool). The kernel delivers only that server's datagrams to it, so
// a reply reaches the query only from the address and port asked, with its
// id; and since a socket never serves another server, the ports an attacker
// learns by making us query its own server tell it nothing about the ports
// towards any other: ≈14.8 bits of port and 16 of id (≈30.8) for an
// off-path spoofer either way, as with a socket per query. A closed port
// upstream (ICMP unreachable) fails the queries waiting on the socket at
// once, as with a socket per query. NetTransport (a fresh connected socket
// per query) remains available through Config.Transport. A reply is used
// only if its id and question match what was asked; from it only records for
// the question's chain inside the asked server's zone (bailiwick), the
// referral's NS set and its in-bailiwick glue, and the SOA of a negative
// answer are read: everything else is ignored, never cached.
package resolver
