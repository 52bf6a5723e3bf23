package fastpath

import (
	"net/netip"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/wire"
	"github.com/gitops-dns/resolverd/node"
	"github.com/gitops-dns/resolverd/plugins/internal/explain"
)

// The front door: what every query passes before the chain and every
// response passes on its way out, over UDP (the slow path) and TCP alike.
// CoreDNS's own server (dnsserver.Server.ServeDNS behind miekg's accept
// function) answers a NOTIFY as a query, a message with two OPT records as
// if it had one, a header that claims a question it lacks with SERVFAIL and
// a BADVERS with an OPT record advertising 0 octets; the fast path owns both
// transports, so it decides these before handing a query to the chain.

// advertisedUDPSize is the EDNS payload size (RFC 6891 6.2.3) of the
// responses the front door builds itself: what this node can receive without
// fragmentation. 1232 octets, as the resolver advertises upstream and as
// Unbound (edns-buffer-size) and BIND (edns-udp-size) do by default (DNS
// Flag Day 2020).
const advertisedUDPSize = 1232

// acceptHeader is the accept function of both transports: miekg's default
// (drop responses; FORMERR for more than one question or unexpected section
// counts) except that only opcode QUERY is a query. miekg lets NOTIFY
// through, and CoreDNS then answers it as a query, recursion included.
//
// NOTIFY, like every opcode other than QUERY, gets NOTIMP: this node is no
// secondary of any zone (zones arrive through git, never by transfer), so a
// NOTIFY is a kind of request it does not implement (RFC 1035 4.1.1: "Not
// Implemented - The name server does not support the requested kind of
// query"; RFC 1996 3.7 has the NOTIFY sender treat an error as "not
// supported", and it stops retrying). Unbound answers NOTIMP to the opcodes
// it has no handler for; REFUSED it keeps for NOTIFYs its access lists deny
// for auth zones it could transfer, which a resolver of ours never has.
func acceptHeader(dh dns.Header) dns.MsgAcceptAction {
	if dh.Bits&wire.FlagQR != 0 {
		return dns.MsgIgnore // a response: never answered (no loops)
	}
	if opcode := int(dh.Bits&wire.OpcodeMask) >> 11; opcode != dns.OpcodeQuery {
		return dns.MsgRejectNotImplemented
	}
	return dns.DefaultMsgAcceptFunc(dh)
}

// checkQuery returns the response the front door gives an unpacked query
// instead of running the chain, or nil when the query may go on.
func checkQuery(r *dns.Msg) *dns.Msg {
	// The header said one question (acceptHeader checked), but the message
	// ended before it: miekg's Unpack then quietly returns no question.
	// That is a malformed message: FORMERR (RFC 1035 4.1.1), not the
	// SERVFAIL CoreDNS's server gives a question-less query.
	if len(r.Question) != 1 {
		return formErr(r)
	}
	// RFC 6891 6.1.1: "If a query message with more than one OPT RR is
	// received, a FORMERR (RCODE=1) MUST be returned." Bounded: the
	// accept function allows at most 1+1+2 records besides the question.
	opts := 0
	for _, sec := range [][]dns.RR{r.Answer, r.Ns, r.Extra} {
		for _, rr := range sec {
			if rr.Header().Rrtype == dns.TypeOPT {
				opts++
			}
		}
	}
	if opts > 1 {
		return formErr(r)
	}
	// RFC 6891 6.1.3: a version we do not implement gets BADVERS, with an
	// OPT record of the highest version we do (0) carrying our own payload
	// size (CoreDNS's edns.Version leaves it 0).
	if opt := r.IsEdns0(); opt != nil && opt.Version() != 0 {
		m := new(dns.Msg)
		m.SetReply(r)
		o := new(dns.OPT)
		o.Hdr.Name, o.Hdr.Rrtype = ".", dns.TypeOPT
		o.SetVersion(0)
		o.SetUDPSize(advertisedUDPSize)
		m.Extra = []dns.RR{o}
		m.Rcode = dns.RcodeBadVers // Pack puts the upper bits in the OPT record
		return m
	}
	return nil
}

// formErr is the FORMERR reply to r: its header (opcode QUERY, as miekg's
// server rejects), the question when there is one, no other section.
func formErr(r *dns.Msg) *dns.Msg {
	m := &dns.Msg{MsgHdr: r.MsgHdr, Question: r.Question}
	m.Response, m.Authoritative, m.Zero, m.RecursionAvailable = true, false, false, false
	m.Opcode, m.Rcode = dns.OpcodeQuery, dns.RcodeFormatError
	return m
}

// mayRecurse reports whether the client at ip may recurse here under the
// served snapshot: the RA bit of every response it gets (RFC 1035 4.1.1:
// "Recursion Available - this be set or cleared in a response, and denotes
// whether recursive query support is available in the name server"), so
// a stub (dig) does not warn that recursion is not available for answers
// from internal zones, and a client outside recursion.allow is told.
func mayRecurse(snap *node.Snapshot, ip netip.Addr) bool {
	return snap != nil && ip.IsValid() && snap.RecursionAllowed(ip)
}

// setRA sets or clears RA in the wire response b (at least a header long).
func setRA(b []byte, ra bool) {
	if len(b) < 4 {
		return
	}
	if ra {
		b[3] |= byte(wire.FlagRA) // the low byte of the flags word
	} else {
		b[3] &^= byte(wire.FlagRA)
	}
}

// explainServfail makes a SERVFAIL that no plugin explained say why (RFC
// 8914), for clients that speak EDNS: before the first revision is served
// the node is Not Ready (code 2); otherwise a plugin returned an error that
// CoreDNS's server turned into a bare SERVFAIL (the node's log holds it).
// Plugins that know the reason add their own; this is the floor.
func explainServfail(m *dns.Msg, snap *node.Snapshot) {
	if m.Rcode != dns.RcodeServerFailure {
		return
	}
	if snap == nil {
		explain.Add(m, dns.ExtendedErrorCodeNotReady, "no revision of the configuration is served yet")
		return
	}
	explain.Add(m, dns.ExtendedErrorCodeOther, "the query failed inside the node; its log says why")
}
