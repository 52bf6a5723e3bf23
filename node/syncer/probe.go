package syncer

import (
	"context"
	"fmt"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/node"
	"github.com/gitops-dns/resolverd/probe"
)

// gateProbes runs the revision's probes against this node, as `dnsctl
// verify` runs them against a staging node (package probe: same query, same
// match), and returns one line per failed gate probe (non-gate failures are
// logged as warnings).
func (g *Syncer) gateProbes(ctx context.Context, snap *node.Snapshot) []string {
	addr, _ := g.probeAddr.Load().(string)
	if !g.cfg.Probes || snap == nil || snap.Revision == nil || len(snap.Revision.Probes) == 0 {
		return nil
	}
	if addr == "" {
		g.log.Warningf("revision %s: probes not run: this node's DNS address is unknown", snap.Revision.ID)
		return nil
	}
	var failed []string
	for _, p := range snap.Revision.Probes {
		err := probe.RunRetrying(ctx, addr, p, g.cfg.ProbeTimeout)
		if err == nil {
			continue
		}
		g.metrics.ProbeFailed(p.Name, p.Gate)
		line := fmt.Sprintf("%s: probe %s (%s %s @%s): %v", p.Pos, p.Name, p.Query, dns.TypeToString[p.Type], addr, err)
		if p.Gate {
			failed = append(failed, line)
		} else {
			g.log.Warning(line)
		}
	}
	return failed
}
