// Package authority is the CoreDNS plugin that answers for the internal zones
// of the revision being served (package zones does the lookup; package gitops
// holds the snapshot). Names outside those zones, and names under a forward
// rule more specific than the zone, go to the next plugin.
package authority

import (
	"context"
	"net/netip"
	"strings"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/metrics"
	"github.com/coredns/coredns/plugin/pkg/nonwriter"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/node"
	"github.com/gitops-dns/resolverd/zones"
)

// maxChase bounds how many zones a CNAME chain may cross inside our own
// authority before the remaining target is handed to the next plugin.
const maxChase = 8

// Authority answers queries for internal zones.
type Authority struct {
	Next plugin.Handler
	src  node.Source
}

// Name implements plugin.Handler.
func (a *Authority) Name() string { return pluginName }

// ServeDNS implements plugin.Handler.
func (a *Authority) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if len(r.Question) != 1 || r.Question[0].Qclass != dns.ClassINET {
		return plugin.NextOrFailure(a.Name(), a.Next, ctx, w, r)
	}
	// One load per query: the whole answer comes from one revision.
	snap := a.src.Snapshot()
	if snap == nil || snap.Authority == nil {
		return plugin.NextOrFailure(a.Name(), a.Next, ctx, w, r)
	}
	state := request.Request{W: w, Req: r}
	qname := state.Name() // zones match any case without allocating
	z := snap.Authority.Match(qname)
	if z == nil || snap.ForwardedBelow(qname, z.Origin()) {
		return plugin.NextOrFailure(a.Name(), a.Next, ctx, w, r)
	}
	server := metrics.WithServer(ctx)
	qtype := state.QType()
	if qtype == dns.TypeAXFR || qtype == dns.TypeIXFR {
		// Zone contents travel through git, never through transfers.
		answersTotal.WithLabelValues(server, z.Origin(), "refused").Inc()
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeRefused)
		w.WriteMsg(m)
		return dns.RcodeRefused, nil
	}

	ans := z.Lookup(qname, qtype)
	if r.RecursionDesired && ans.Referral() && mayRecurse(snap, state) {
		// A stub wants the answer, not a referral to a team's own servers:
		// the recursor follows the internal delegation (a stub zone there).
		return plugin.NextOrFailure(a.Name(), a.Next, ctx, w, r)
	}
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = ans.Authoritative
	m.Rcode = ans.Rcode
	// The sections are the zone's own, shared by every query; zones hands
	// them out clipped, so an append (the OPT record, a chased CNAME) copies.
	m.Answer, m.Ns, m.Extra = ans.Answer, ans.Ns, ans.Extra

	// A stub resolver wants the end of a CNAME chain, not the first link: when
	// it asked for recursion and the chain leaves this zone, follow it.
	if r.RecursionDesired && qtype != dns.TypeCNAME {
		a.chase(ctx, w, r, snap, m)
	}
	answersTotal.WithLabelValues(server, z.Origin(), result(m)).Inc()
	state.SizeAndDo(m)
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}

// chase follows a CNAME chain that ends outside the zone that answered:
// through our other zones first, then through the rest of the plugin chain.
func (a *Authority) chase(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, snap *node.Snapshot, m *dns.Msg) {
	qtype := r.Question[0].Qtype
	for i := 0; i < maxChase; i++ {
		target, ok := zones.DanglingCNAME(m.Answer)
		if !ok {
			return
		}
		// Copy-on-append: the slices may be the zone's own, shared by all queries.
		answer := append([]dns.RR(nil), m.Answer...)
		z := snap.Authority.Match(target)
		var next zones.Answer
		internal := z != nil && !snap.ForwardedBelow(target, z.Origin())
		if internal {
			next = z.Lookup(target, qtype)
			// A target below an internal delegation is resolved like any
			// other name the rest of the chain knows how to reach.
			internal = !next.Referral() || !mayRecurse(snap, request.Request{W: w, Req: r})
		}
		if internal {
			if next.Rcode == dns.RcodeNameError || next.Referral() {
				// NXDOMAIN of the target, or a referral: report what the chain ends in.
				m.Rcode = next.Rcode
				m.Answer, m.Ns, m.Extra = answer, next.Ns, next.Extra
				if !next.Authoritative {
					m.Authoritative = false
				}
				return
			}
			m.Answer, m.Ns, m.Extra = append(answer, next.Answer...), next.Ns, next.Extra
			continue
		}
		// The target is someone else's name: ask the rest of the chain.
		q := r.Copy()
		q.Question[0].Name = target
		nw := nonwriter.New(w)
		if _, err := plugin.NextOrFailure(a.Name(), a.Next, ctx, nw, q); err != nil || nw.Msg == nil {
			m.Answer = answer
			return
		}
		m.Rcode = nw.Msg.Rcode
		m.Authoritative = false
		m.RecursionAvailable = nw.Msg.RecursionAvailable
		m.Answer, m.Ns, m.Extra = append(answer, nw.Msg.Answer...), nw.Msg.Ns, nil
		return
	}
}

// mayRecurse reports whether the client may have the recursor work for it.
func mayRecurse(snap *node.Snapshot, state request.Request) bool {
	ip, err := netip.ParseAddr(state.IP())
	return err == nil && snap.RecursionAllowed(ip)
}

func result(m *dns.Msg) string {
	switch {
	case m.Rcode == dns.RcodeNameError:
		return "nxdomain"
	case m.Rcode != dns.RcodeSuccess:
		return strings.ToLower(dns.RcodeToString[m.Rcode])
	case len(m.Answer) > 0:
		return "answer"
	case !m.Authoritative:
		return "referral"
	}
	return "nodata"
}
