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
// Safety (the threat model, what each defence stops and its cost are in
// README.md): every upstream query has a fresh random id (crypto/rand),
// letters of its name in random case (0x20: the reply must echo them) and
// goes out over UDP from a socket of its own, connect()ed to that server,
// on a port the kernel picks at random, closed when the exchange ends
// (freshUDP): a port is open only for one round trip, so an off-path
// spoofer must guess ≈14.8 bits of port, 16 of id and one per letter, and
// a side channel that finds open ports (SAD DNS) finds nothing that
// outlives the query. A reply is used only if its id and question match
// what was asked; from it only records for the question's chain inside the
// asked server's zone (bailiwick), the referral's NS set and its
// in-bailiwick glue, and the SOA of a negative answer are read: everything
// else is ignored, never cached; an RRset above MaxRecordsPerRRset fails
// the answer and a name holds at most MaxTypesPerName cached entries.
// Meta and reserved query types (internal/wire) are never resolved or
// cached, and the cache's name-error entries have keys no question can
// build. The socket pool (udpPool, Config.UDPPool) trades the fresh port
// for less CPU and stays available as an opt-in.
package resolver
