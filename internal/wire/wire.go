// Package wire owns the facts about the DNS wire format that more than one
// package decides on: the bits of the header's flags word (header.go), and,
// about query types, which question types are meta types (no data of that
// type exists, so nothing may be resolved, answered from data or cached for
// them) and the response code each of them gets. The front door of the
// plugin chain (plugins/gitops), the resolver and the fast path's answer
// tables and packet cache all ask here, so they cannot disagree.
//
// It knows nothing about CoreDNS.
package wire

import "github.com/miekg/dns"

// MetaRcode reports whether qtype is a meta or reserved type that no server
// of ours resolves or answers from data, and the response code such a
// question gets instead (RFC 6895 3.1 sorts the type space). What each gets
// and why:
//
//   - 0 and 65535 are reserved (RFC 6895 3.1: "must never be allocated for
//     ordinary use"); OPT (41) exists only as a pseudo-record in the
//     additional section (RFC 6891 6.1.1); TSIG (250) only as the last
//     record of the additional section (RFC 8945 5.1, which obsoletes RFC
//     2845); 128-248 are the unassigned part of the Q/Meta range, which by
//     RFC 6895 3.1 can only designate transient data of a message, never a
//     question about stored data. A question of one of these is malformed:
//     FORMERR, as Unbound answers OPT, TSIG and 128-248
//     (worker_handle_request) and BIND answers TSIG and OPT.
//   - TKEY (249) is a valid request (RFC 2930 4) for a key agreement we do
//     not implement; MAILB (253) and MAILA (254) are the mail queries of RFC
//     883 that RFC 1035 3.2.3 keeps only as obsolete QTYPEs: NOTIMP, "the
//     name server does not support the requested kind of query" (RFC 1035
//     4.1.1), as BIND answers MAILA and MAILB. (Unbound says FORMERR for all
//     three; NOTIMP is the truer code for a well-formed request we decline.)
//   - AXFR (252) and IXFR (251) are zone transfers (RFC 5936, RFC 1995): a
//     resolver has no zone to transfer and our internal zones travel through
//     git, never transfers. REFUSED is the policy refusal RFC 5936 2.2.1 and
//     4.2 name for a transfer a server will not give, and what Unbound and
//     the authority plugin answer.
//
// ANY (255) is not in the list: it is a question about stored data that
// the resolver answers minimally (RFC 8482).
func MetaRcode(qtype uint16) (rcode int, meta bool) {
	switch {
	case qtype == 0 || qtype == 65535 || qtype == dns.TypeOPT || qtype == dns.TypeTSIG:
		return dns.RcodeFormatError, true
	case qtype >= 128 && qtype <= 248:
		return dns.RcodeFormatError, true
	case qtype == dns.TypeTKEY || qtype == dns.TypeMAILA || qtype == dns.TypeMAILB:
		return dns.RcodeNotImplemented, true
	case qtype == dns.TypeAXFR || qtype == dns.TypeIXFR:
		return dns.RcodeRefused, true
	}
	return 0, false
}

// IsMeta reports whether qtype is one MetaRcode answers.
func IsMeta(qtype uint16) bool {
	_, meta := MetaRcode(qtype)
	return meta
}
