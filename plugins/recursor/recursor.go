// Package recursor is the CoreDNS plugin that answers every question the
// plugins before it (fallback, authority) did not: recursively, through the
// resolver package (iterative resolution from root hints, per-zone
// forwarding, cache, serve-stale, per-query limits). It owns the glue between
// the served snapshot and the resolver: who may recurse
// (snapshot.RecursionAllow, others get REFUSED), which forward rules and root
// hints apply (reconfigured when the snapshot pointer changes, keeping the
// cache unless the root hints changed), and the Prometheus view of the
// resolver's events. It is the last plugin of the chain.
package recursor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/node"
	"github.com/gitops-dns/resolverd/plugins/internal/dropped"
	"github.com/gitops-dns/resolverd/resolver"
	"github.com/gitops-dns/resolverd/rpz"
)

const pluginName = "recursor"

var log = clog.NewWithPlugin(pluginName)

// Errors the handler returns (wrapped by plugin.Error).
var (
	ErrNoSnapshot = errors.New("no revision applied yet")
	ErrNotAllowed = errors.New("client may not recurse")
)

// Recursor is the plugin handler.
type Recursor struct {
	Next   plugin.Handler // unused: the recursor answers everything
	Source node.Source
	// Config is the resolver configuration from the Corefile; root hints and
	// forward rules come from the snapshot.
	Config resolver.Config

	mu        sync.Mutex
	dnssecKey string // what applyDNSSEC last gave the resolver
	res       atomic.Pointer[resolver.Resolver]
	applied   atomic.Pointer[node.Snapshot]
}

// Name implements plugin.Handler.
func (rc *Recursor) Name() string { return pluginName }

// ServeDNS implements plugin.Handler.
func (rc *Recursor) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if len(r.Question) != 1 {
		return dns.RcodeFormatError, plugin.Error(pluginName, fmt.Errorf("%d questions", len(r.Question)))
	}
	q := r.Question[0]
	var snap *node.Snapshot
	if rc.Source != nil {
		snap = rc.Source.Snapshot()
	}
	if snap == nil {
		servfailed.Inc()
		return dns.RcodeServerFailure, plugin.Error(pluginName, ErrNoSnapshot)
	}
	if !snap.RecursionAllowed(clientIP(w.RemoteAddr())) {
		refused.Inc()
		return dns.RcodeRefused, nil
	}
	if q.Qclass != dns.ClassINET {
		refused.Inc()
		return dns.RcodeRefused, nil
	}
	res, err := rc.resolverFor(snap)
	if err != nil {
		servfailed.Inc()
		return dns.RcodeServerFailure, plugin.Error(pluginName, err)
	}
	do := false
	if o := r.IsEdns0(); o != nil {
		do = o.Do()
	}
	// Response policy, QNAME triggers first: a name a policy refuses is
	// not even resolved, unless an earlier policy's RPZ-IP triggers need
	// the answer to decide (draft-vixie-dnsop-dns-rpz section 5.1).
	hit, at, policyHit := snap.RPZ.QName(q.Name)
	if policyHit && hit.Rule.Action != rpz.Passthru && !snap.RPZ.NeedsAnswer(at) {
		return rewrite(ctx, w, r, hit)
	}
	var ans *dns.Msg
	if r.RecursionDesired {
		ans, err = res.ResolveCD(ctx, q, r.CheckingDisabled)
	} else {
		// RFC 1034 4.3.1: no RD, no recursion: the cache or a referral.
		ans, err = res.NonRecursive(q)
	}
	if ih, ok := snap.RPZ.Answer(ans.Answer, at); ok {
		hit, policyHit = ih, true
	}
	if policyHit {
		if hit.Rule.Action != rpz.Passthru {
			return rewrite(ctx, w, r, hit)
		}
		rpzHits.WithLabelValues(hit.Policy.Name, hit.Rule.Action.String()).Inc()
	}
	switch ans.Rcode {
	case dns.RcodeServerFailure:
		servfailed.Inc()
		if bogus, ok := bogusOf(err); ok {
			// Bogus data: counted by reason and logged; servfail's EDE
			// says why (resolver.ExtendedError).
			dnssecBogus.WithLabelValues(bogus.Reason()).Inc()
			logBogus(q, bogus)
		}
		if werr := servfail(w, r, err); werr != nil {
			return dns.RcodeServerFailure, plugin.Error(pluginName, werr)
		}
		// Written (so CoreDNS writes nothing more); the error still goes
		// to the errors plugin's log and to fallback, which sees the
		// SERVFAIL we wrote.
		return dns.RcodeSuccess, plugin.Error(pluginName, err)
	case dns.RcodeRefused:
		refused.Inc()
		return dns.RcodeRefused, nil
	}
	if ans.IsEdns0() != nil {
		// The stale-answer EDE (the only OPT the resolver writes): a stale
		// answer must never be packet-cached, whether or not the client
		// sees the EDE.
		node.MarkNoCache(ctx)
		if r.IsEdns0() == nil {
			ans.Extra = withoutOPT(ans.Extra) // the EDE is only for EDNS clients
		}
	} else if r.RecursionDesired {
		node.MarkFresh(ctx)
	}
	m := ans // the resolver's reply is ours: reuse it
	if !do {
		stripDNSSEC(m, q.Qtype)
	}
	// RFC 6840 5.7: AD only for clients that set DO or AD (the resolver
	// already left it off for CD and for anything not all secure).
	m.AuthenticatedData = m.AuthenticatedData && (do || r.AuthenticatedData)
	if m.AuthenticatedData {
		dnssecSecure.Inc()
	}
	setReply(m, r)
	m.RecursionAvailable = true
	state := request.Request{W: w, Req: r}
	state.SizeAndDo(m)
	m = state.Scrub(m)
	if err := w.WriteMsg(m); err != nil {
		return dns.RcodeServerFailure, plugin.Error(pluginName, err)
	}
	switch m.Rcode {
	case dns.RcodeSuccess:
		answered.Inc()
	case dns.RcodeNameError:
		nxdomain.Inc()
	default:
		otherRcode.Inc()
	}
	return dns.RcodeSuccess, nil
}

// rewrite answers r as a response policy rule says (rpz.Hit.Rewrite): no
// response for Drop; else the rule's answer with RA, never AA, and for an
// EDNS client the Extended DNS Error naming the policy. A rewritten answer
// is never packet-cached: what a policy says is decided per query here,
// not remembered (the packet cache is also purged with every revision).
func rewrite(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, hit rpz.Hit) (int, error) {
	rpzHits.WithLabelValues(hit.Policy.Name, hit.Rule.Action.String()).Inc()
	node.MarkNoCache(ctx)
	rcode, answer, ns, ok := hit.Rewrite(r.Question[0])
	if !ok {
		// Drop (draft section 5.6): no response; CoreDNS writes nothing
		// for a success the handler did not write. Said out loud, so that
		// the fallback plugin does not answer a blocked name from its
		// static records: the policy decided, resolution did not fail.
		dropped.Set(ctx)
		return dns.RcodeSuccess, nil
	}
	m := new(dns.Msg)
	m.SetRcode(r, rcode)
	m.Answer, m.Ns = answer, ns
	m.RecursionAvailable = true
	state := request.Request{W: w, Req: r}
	state.SizeAndDo(m)
	if o := m.IsEdns0(); o != nil {
		if code, ok := hit.Rule.Action.EDE(); ok {
			o.Option = append(o.Option, &dns.EDNS0_EDE{InfoCode: code, ExtraText: "policy " + hit.Policy.Name})
		}
	}
	m = state.Scrub(m)
	if err := w.WriteMsg(m); err != nil {
		return dns.RcodeServerFailure, plugin.Error(pluginName, err)
	}
	if m.Rcode == dns.RcodeNameError {
		nxdomain.Inc()
	} else {
		answered.Inc()
	}
	return dns.RcodeSuccess, nil
}

// withoutOPT returns extra without its OPT records (in place).
func withoutOPT(extra []dns.RR) []dns.RR {
	out := extra[:0]
	for _, rr := range extra {
		if rr.Header().Rrtype != dns.TypeOPT {
			out = append(out, rr)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// servfail writes the SERVFAIL of a failed resolution: RA set (this client
// may recurse here: only an allowed client gets this far) and, for an EDNS
// client, the Extended DNS Error that says why (RFC 8914; see
// resolver.ExtendedError). CoreDNS's own SERVFAIL would carry neither.
func servfail(w dns.ResponseWriter, r *dns.Msg, err error) error {
	m := new(dns.Msg)
	m.SetRcode(r, dns.RcodeServerFailure)
	m.RecursionAvailable = true
	state := request.Request{W: w, Req: r}
	state.SizeAndDo(m)
	if o := m.IsEdns0(); o != nil {
		code, text := resolver.ExtendedError(err)
		o.Option = append(o.Option, &dns.EDNS0_EDE{InfoCode: code, ExtraText: text})
	}
	return w.WriteMsg(m)
}

// setReply makes m the reply to r as dns.Msg.SetReply does, keeping m's
// rcode, and reusing m's question slice when it has room (the resolver's
// reply carries the question: SetReply would allocate another).
func setReply(m, r *dns.Msg) {
	m.Id = r.Id
	m.Response = true
	m.Opcode = r.Opcode
	if m.Opcode == dns.OpcodeQuery {
		m.RecursionDesired = r.RecursionDesired
		m.CheckingDisabled = r.CheckingDisabled
	}
	m.Question = append(m.Question[:0], r.Question[0])
}

// clientIP is the address of the client a response goes to.
func clientIP(addr net.Addr) netip.Addr {
	switch a := addr.(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip
	case nil:
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr()
}

// resolverFor returns the resolver configured for snap: one pointer compare
// on the hot path; a new snapshot swaps forward rules and root hints (the
// cache survives unless the hints changed).
func (rc *Recursor) resolverFor(snap *node.Snapshot) (*resolver.Resolver, error) {
	if rc.applied.Load() == snap {
		if res := rc.res.Load(); res != nil {
			return res, nil
		}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	res := rc.res.Load()
	if rc.applied.Load() == snap && res != nil {
		return res, nil
	}
	rules := forwardRules(snap.Forward)
	if res == nil {
		cfg := rc.Config
		cfg.DNSSEC = nil // applyDNSSEC below, from the revision's policy
		cfg.RootHints = snap.RootHints
		cfg.Forward = rules
		if cfg.Metrics == nil {
			cfg.Metrics = promMetrics{}
		}
		var err error
		if res, err = resolver.New(cfg); err != nil {
			return nil, fmt.Errorf("revision %s: %w", revID(snap), err)
		}
		rc.res.Store(res)
	} else {
		if err := res.SetRootHints(snap.RootHints); err != nil {
			// Keep resolving with the hints we had: a bad revision must not
			// stop recursion (gitops validates hints before applying).
			log.Errorf("revision %s: keeping the previous root hints: %v", revID(snap), err)
		}
		res.SetForwardRules(rules)
	}
	res.SetPeers(peers(snap))
	rc.applyDNSSEC(res, snap)
	if err := res.SetStubZones(snap.StubZones); err != nil {
		// As with the hints: the resolver keeps the stub zones it had.
		log.Errorf("revision %s: keeping the previous internal delegations (stub zones): %v", revID(snap), err)
	}
	rc.applied.Store(snap)
	return res, nil
}

// peers are the DNS addresses of the nodes of snap's cluster, which
// iteration never asks.
func peers(snap *node.Snapshot) []netip.AddrPort {
	if snap.Cluster == nil {
		return nil
	}
	out := make([]netip.AddrPort, 0, len(snap.Cluster.Nodes))
	for _, n := range snap.Cluster.Nodes {
		ap := n.AddrPort()
		if ap.Port() == 0 {
			ap = netip.AddrPortFrom(ap.Addr(), 53)
		}
		out = append(out, ap)
	}
	return out
}

func revID(s *node.Snapshot) string {
	if s.Revision == nil || s.Revision.ID == "" {
		return "(folder)"
	}
	return s.Revision.ID
}

func forwardRules(in []model.ForwardRule) []resolver.ForwardRule {
	out := make([]resolver.ForwardRule, 0, len(in))
	for _, fr := range in {
		rule := resolver.ForwardRule{Zone: fr.Zone, To: fr.To}
		for i := range fr.To {
			if cfg := fr.TLSConfig(i); cfg != nil {
				if rule.TLS == nil {
					rule.TLS = make([]*tls.Config, len(fr.To))
				}
				rule.TLS[i] = cfg
			}
		}
		out = append(out, rule)
	}
	return out
}

// Close stops the resolver's background work.
func (rc *Recursor) Close() error {
	if res := rc.res.Load(); res != nil {
		res.Close()
	}
	return nil
}
