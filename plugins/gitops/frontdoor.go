package gitops

import (
	"net/netip"

	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/wire"
)

// answerMeta answers a question of a meta or reserved type (OPT, TSIG,
// TKEY, AXFR, IXFR, MAILA, MAILB, TYPE0, ...) with the response code
// internal/wire gives it, and reports whether it did. gitops is the first
// plugin of every server block, so no later plugin (fallback, authority,
// recursor) sees such a question: nothing is resolved, answered from data
// or cached for it (issue 13: "example.com TYPE0" poisoned the resolver's
// negative cache). The fast path hands every query it does not answer from
// a precomputed table to this chain, and its table holds no meta type.
//
// RA says whether this client may recurse here, as on every response.
// CoreDNS's own metrics count these responses by rcode and type.
func (g *GitOps) answerMeta(w dns.ResponseWriter, r *dns.Msg) bool {
	if len(r.Question) != 1 {
		return false
	}
	rcode, meta := wire.MetaRcode(r.Question[0].Qtype)
	if !meta {
		return false
	}
	m := new(dns.Msg)
	m.SetRcode(r, rcode)
	state := request.Request{W: w, Req: r}
	if s := g.holder.Snapshot(); s != nil {
		ip, err := netip.ParseAddr(state.IP())
		m.RecursionAvailable = err == nil && s.RecursionAllowed(ip)
	}
	state.SizeAndDo(m)
	_ = w.WriteMsg(m)
	return true
}
