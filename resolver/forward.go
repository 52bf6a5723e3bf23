package resolver

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/miekg/dns"
)

// forwardReply asks rule's targets (RD=1), healthy and fastest first, and
// returns the first usable reply (NOERROR or NXDOMAIN); when all
// are down they are still tried, earliest-to-recover first.
func (r *Resolver) forwardReply(ctx context.Context, st *state, rule *ForwardRule, name string, qtype uint16) (*dns.Msg, error) {
	lastErr := fmt.Errorf("forward %s: %w", rule.Zone, ErrNoServers)
	targets := r.orderTargets(rule.To)
	if len(targets) == 1 {
		targets = append(targets, targets[0]) // one retry when there is no other target
	}
	for _, t := range targets {
		resp, err := r.exchange(ctx, st, t, name, qtype, true, true)
		if err != nil {
			if fatal(ctx, err) {
				return nil, err
			}
			lastErr = err
			continue
		}
		if resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError {
			r.failed(r.c.server(serverKey{addr: t}), 0, 1)
			lastErr = fmt.Errorf("forward %s to %s: rcode %s: %w", rule.Zone, t, dns.RcodeToString[resp.Rcode], errLame)
			continue
		}
		return resp, nil
	}
	return nil, lastErr
}

func (r *Resolver) orderTargets(to []netip.AddrPort) []netip.AddrPort {
	type cand struct {
		ap        netip.AddrPort
		srtt      time.Duration
		downUntil time.Time
	}
	now := r.clock.Now()
	var up, down []cand
	for _, t := range to {
		c := cand{ap: t}
		if s, ok := r.c.servers.Peek(serverKey{addr: t}); ok {
			s.mu.Lock()
			c.srtt, c.downUntil = s.srtt, s.downUntil
			s.mu.Unlock()
		}
		if now.Before(c.downUntil) {
			down = append(down, c)
		} else {
			up = append(up, c)
		}
	}
	sort.SliceStable(up, func(i, j int) bool { return up[i].srtt < up[j].srtt })
	sort.SliceStable(down, func(i, j int) bool { return down[i].downUntil.Before(down[j].downUntil) })
	out := make([]netip.AddrPort, 0, len(to))
	for _, c := range up {
		out = append(out, c.ap)
	}
	if len(out) == 0 {
		for _, c := range down {
			out = append(out, c.ap)
		}
	}
	return out
}

// CheckHealth probes every forward target that has failed since its last
// success with ". NS" (RD=1); any reply marks it healthy again. The
// background checker calls it every HealthInterval; tests call it directly.
func (r *Resolver) CheckHealth(ctx context.Context) {
	seen := map[netip.AddrPort]bool{}
	for _, rule := range r.dyn.Load().rules {
		for _, t := range rule.To {
			if seen[t] {
				continue
			}
			seen[t] = true
			s, ok := r.c.servers.Peek(serverKey{addr: t})
			if !ok {
				continue
			}
			s.mu.Lock()
			bad := s.fails > 0
			s.mu.Unlock()
			if !bad {
				continue
			}
			st := &state{deadline: r.clock.Now().Add(r.cfg.UpstreamTimeout)}
			_, _ = r.exchange(ctx, st, t, ".", dns.TypeNS, true, true)
		}
	}
}

func (r *Resolver) healthLoop() {
	defer r.wg.Done()
	t := time.NewTicker(r.cfg.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), r.cfg.UpstreamTimeout)
			r.CheckHealth(ctx)
			cancel()
		}
	}
}

// ForwardTargetDown reports whether forward target t is marked down now:
// it failed its recent queries in a row and is skipped while another target
// answers, until its back-off ends or a health check reply clears it. A
// target never asked is not down. plugins/recursor exports it per rule for
// the "healthy forward targets below a floor" alert.
func (r *Resolver) ForwardTargetDown(t netip.AddrPort) bool {
	s, ok := r.c.servers.Peek(serverKey{addr: t})
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return r.clock.Now().Before(s.downUntil)
}
