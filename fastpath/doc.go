// Package fastpath owns the UDP hot path of a node: it parses a query from
// the wire without building a dns.Msg, answers it from wire-format answers
// precomputed for the served revision's internal zones (Answers) or from a
// packet cache of recursive answers (PacketCache), and hands everything
// else to the full plugin chain (the slow path, supplied by the caller).
// Answers are kept per zone: a new revision builds the zones it changed and
// takes the others' tables from the previous revision (BuildFrom); within a
// changed zone it builds again only the owners whose answers read what
// changed.
//
// The fast path only answers what the chain would answer: precomputed
// answers are the authority plugin's final answers (no referral, no CNAME
// that leaves the zone, no wildcard synthesis), built with the same zone
// lookup; cached answers are what the chain sent an allowed client for the
// same question and flags, under the same revision, and that the chain
// marked fresh (node.Verdict). Two differences on the wire, both valid DNS:
// owner names compressed against the question carry the client's spelling
// (as NSD and BIND answer), and the OPT record's Z bits are zero (RFC 6891).
// Anything it is unsure of goes to the slow path, which is always correct.
//
// TCPServer is the node's DNS-over-TCP side (RFC 7766): the queries
// pipelined on a connection run concurrently and are answered out of order,
// connections are bounded in total and per client (the longest idle makes
// room), and idle ones close after 3 s.
//
// It does not import CoreDNS: the plugin in plugins/fastpath supplies the
// slow path (dnsserver.Server.ServeDNS), the Prometheus counters and the
// Observer that hands the fast path's answers to CoreDNS's log and dnstap.
package fastpath
