package resolver

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// scenarioConfig applies one "config KEY VALUE..." line of a scenario to
// cfg; settings that need the resolver built return a hook run after New.
func scenarioConfig(cfg *Config, args []string) (func(*Resolver) error, error) {
	dur := func(p *time.Duration) error {
		if len(args) != 2 {
			return fmt.Errorf("%s DURATION", args[0])
		}
		d, err := time.ParseDuration(args[1])
		*p = d
		return err
	}
	switch args[0] {
	case "qmin-off":
		cfg.DisableQNAMEMinimisation = true
	case "ipv6-off":
		cfg.DisableIPv6 = true
	case "query-localhost":
		cfg.QueryLocalhost = true
	case "peer": // peer ADDR: a node of the cluster (port 53)
		a, err := netip.ParseAddr(args[1])
		if err != nil {
			return nil, err
		}
		return func(r *Resolver) error { r.SetPeers([]netip.AddrPort{netip.AddrPortFrom(a, 53)}); return nil }, nil
	case "failure-ttl":
		return nil, dur(&cfg.FailureTTL)
	case "stale-timeout":
		return nil, dur(&cfg.StaleClientTimeout)
	case "max-ttl":
		return nil, dur(&cfg.MaxTTL)
	case "negative-max-ttl":
		return nil, dur(&cfg.NegativeMaxTTL)
	case "forward": // forward ZONE ADDR...
		fr := ForwardRule{Zone: args[1]}
		for _, a := range args[2:] {
			ap, err := netip.ParseAddr(a)
			if err != nil {
				return nil, err
			}
			fr.To = append(fr.To, netip.AddrPortFrom(ap, 53))
		}
		cfg.Forward = append(cfg.Forward, fr)
	case "stub": // stub ZONE NSNAME ADDR
		if len(args) != 4 {
			return nil, fmt.Errorf("stub ZONE NSNAME ADDR")
		}
		ns, err := dns.NewRR(args[1] + " 300 NS " + args[2])
		if err != nil {
			return nil, err
		}
		a, err := dns.NewRR(args[2] + " 300 A " + args[3])
		if err != nil {
			return nil, err
		}
		return func(r *Resolver) error { return r.SetStubZones(map[string][]dns.RR{args[1]: {ns, a}}) }, nil
	default:
		return nil, fmt.Errorf("unknown setting %q", args[0])
	}
	return nil, nil
}
