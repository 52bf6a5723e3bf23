// Package gitops is the CoreDNS face of the node's sync (node/syncer): its
// setup reads the gitops block into a syncer.Config, starts the syncer with
// the server block's node.Holder (plugins/internal/source, where the other
// plugins of the block read the snapshot) and stops it on shutdown and
// reload; its handler answers `version.config. CH TXT` with the served
// commit id and `version.server.`/`version.bind.` with the product version
// (unless hide_version); and it maps the syncer's events to Prometheus
// metrics. Fetch,
// verify, load, check, swap, gate probes, last good state and status are
// the syncer's (ARCHITECTURE.md, "The node's sync").
package gitops

import (
	"context"
	"strings"

	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/version"
	"github.com/gitops-dns/resolverd/node"
	"github.com/gitops-dns/resolverd/node/syncer"
	"github.com/gitops-dns/resolverd/plugins/internal/explain"
	"github.com/gitops-dns/resolverd/probe"
)

var log = clog.NewWithPlugin(pluginName)

// GitOps is the plugin: the CHAOS handler over the syncer of one server
// block.
type GitOps struct {
	Next plugin.Handler

	holder      *node.Holder // the server block's; the syncer stores into it
	hideVersion bool         // refuse version.server. and version.bind.
	*syncer.Syncer
}

// New builds the plugin from its configuration (reads the trust keyring),
// with a holder of its own.
func New(cfg Config) (*GitOps, error) { return newPlugin(cfg, &node.Holder{}) }

func newPlugin(cfg Config, h *node.Holder) (*GitOps, error) {
	s, err := syncer.New(cfg.Config, syncer.Options{Holder: h, Metrics: promMetrics{}, Log: log})
	if err != nil {
		return nil, err
	}
	return &GitOps{holder: h, hideVersion: cfg.HideVersion, Syncer: s}, nil
}

// Name implements plugin.Handler.
func (g *GitOps) Name() string { return pluginName }

// ServeDNS answers questions of meta types (answerMeta) and the CHAOS names
// of the node (version.config. with the served commit id; id.server. and
// hostname.bind. with the node name; version.server. and version.bind. with
// the product version) and passes everything else, other CHAOS names
// included, to the next plugin.
func (g *GitOps) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if g.answerMeta(w, r) {
		return dns.RcodeSuccess, nil // written: see answerMeta
	}
	if len(r.Question) != 1 || r.Question[0].Qclass != dns.ClassCHAOS {
		return plugin.NextOrFailure(g.Name(), g.Next, ctx, w, r)
	}
	q := r.Question[0]
	var txt string
	switch strings.ToLower(q.Name) {
	case probe.VersionName:
		s := g.holder.Snapshot()
		if s == nil || s.Revision == nil {
			// RFC 8914 4.3: Not Ready, "the server is unable to answer the
			// query, as it was not fully functional when the query was
			// received": no revision is served yet.
			w.WriteMsg(explain.ServFail(request.Request{W: w, Req: r}, dns.ExtendedErrorCodeNotReady, "no revision of the configuration is served yet"))
			return dns.RcodeSuccess, nil // written: CoreDNS must not write a second reply
		}
		txt = s.Revision.ID
	case "id.server.", "hostname.bind.":
		txt = g.Config().Node
	case "version.server.", "version.bind.":
		// The software version (RFC 4892 describes these names as existing practice); hide_version
		// refuses it, as Unbound's hide-version does.
		if g.hideVersion {
			m := new(dns.Msg)
			m.SetRcode(r, dns.RcodeRefused)
			w.WriteMsg(m)
			return dns.RcodeRefused, nil
		}
		txt = "resolverd " + version.String()
	default:
		return plugin.NextOrFailure(g.Name(), g.Next, ctx, w, r)
	}
	m := new(dns.Msg)
	m.SetReply(r)
	if q.Qtype == dns.TypeTXT || q.Qtype == dns.TypeANY {
		m.Answer = []dns.RR{&dns.TXT{
			Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassCHAOS, Ttl: 0},
			Txt: []string{txt},
		}}
	}
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}
