package gitops

import (
	"context"
	"fmt"
	"time"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/node"
	"github.com/gitops-dns/resolverd/probe"
)

// gateProbes runs the revision's probes against this node and returns one
// line per failed gate probe (non-gate failures are logged as warnings).
func (g *GitOps) gateProbes(ctx context.Context, snap *node.Snapshot) []string {
	addr, _ := g.probeAddr.Load().(string)
	if !g.cfg.Probes || snap == nil || snap.Revision == nil || len(snap.Revision.Probes) == 0 {
		return nil
	}
	if addr == "" {
		log.Warningf("revision %s: probes not run: this node's DNS address is unknown", snap.Revision.ID)
		return nil
	}
	var failed []string
	for _, p := range snap.Revision.Probes {
		err := RunProbe(ctx, addr, p, g.cfg.ProbeTimeout)
		if err == nil {
			continue
		}
		probeFailures.WithLabelValues(p.Name, fmt.Sprint(p.Gate)).Inc()
		line := fmt.Sprintf("%s: probe %s (%s %s @%s): %v", p.Pos, p.Name, p.Query, dns.TypeToString[p.Type], addr, err)
		if p.Gate {
			failed = append(failed, line)
		} else {
			log.Warning(line)
		}
	}
	return failed
}

// RunProbe asks addr the probe's question and checks the response with
// probe.Match (the rcode, and every expected answer in the answer
// section). Transport errors are retried until timeout (the node may be
// starting to listen).
func RunProbe(ctx context.Context, addr string, p model.Probe, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m := new(dns.Msg)
	m.SetQuestion(p.Query, p.Type)
	m.RecursionDesired = true
	var lastErr error
	for try := 0; try < 50; try++ {
		c := &dns.Client{Net: "udp", Timeout: time.Second}
		r, _, err := c.ExchangeContext(ctx, m, addr)
		if err == nil && r.Truncated {
			c.Net = "tcp"
			r, _, err = c.ExchangeContext(ctx, m, addr)
		}
		if err == nil {
			return probe.Match(p, r)
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("no answer: %w", lastErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("no answer: %w", lastErr)
}
