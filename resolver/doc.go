// Package resolver owns recursive resolution of the names a node does not
// serve itself: an iterative resolver that starts from root hints and follows
// referrals (glue, out-of-bailiwick NS names, CNAME and DNAME chains across
// zones, QNAME minimisation), per-zone forwarding to health-checked targets, a
// bounded cache on golang-lru/v2 (RRsets, negative answers, delegations,
// server RTTs, recent failures) with serve-stale (RFC 8767), and the limits
// that keep the work of one client question bounded (upstream sends, CNAME
// restarts, NS-name lookups, an overall deadline, a cap on resolutions in
// flight). With Config.DNSSEC it validates what it caches (validate.go;
// the proofs are package resolver/dnssec's).
//
// Real authorities are not clean: an answer is taken from a server of the
// zone with or without the AA bit; SERVFAIL, REFUSED, FORMERR and NOTIMP
// move on to the zone's other servers; FORMERR to EDNS is retried without
// it (RFC 6891 7); replies are scrubbed to the question's chain rather than
// thrown away; the child's NS set outranks the parent's (RFC 2181 5.4.1);
// DS is asked of the parent. Iteration never queries unspecified,
// multicast, broadcast or (unless Config.QueryLocalhost) loopback addresses,
// nor the node's own cluster (SetPeers); special-use names (localhost.,
// invalid., test., onion., local., home.arpa., internal., the RFC 6303
// reverse zones) are answered locally unless a forward rule or stub zone
// covers them. testdata/scenarios scripts authorities that misbehave as
// real ones do (scenario_test.go describes the format).
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
