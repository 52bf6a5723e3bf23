package recursor

import (
	"net"
	"strconv"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"

	"github.com/gitops-dns/resolverd/node"
	"github.com/gitops-dns/resolverd/plugins/internal/source"
	"github.com/gitops-dns/resolverd/resolver"
	"github.com/gitops-dns/resolverd/resolver/dnssec"
)

func init() { plugin.Register(pluginName, setup) }

// sourceOf finds the snapshot owner of a server block; tests replace it.
var sourceOf = func(c *caddy.Controller) node.Source { return source.Of(c) }

func setup(c *caddy.Controller) error {
	cfg, err := parse(c)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	rc := &Recursor{Source: sourceOf(c), Config: cfg}
	dc := dnsserver.GetConfig(c)
	host := ""
	if len(dc.ListenHosts) > 0 {
		host = dc.ListenHosts[0]
	}
	server := "dns://" + net.JoinHostPort(host, dc.Port)
	c.OnStartup(func() error { forwardCollector.add(rc, server); return nil })
	c.OnShutdown(func() error { forwardCollector.remove(rc); return rc.Close() })
	// The node's HTTP endpoint flushes and inspects the cache through it.
	source.HolderOf(dc).RegisterCache(rc)
	dc.AddPlugin(func(next plugin.Handler) plugin.Handler {
		rc.Next = next
		return rc
	})
	return nil
}

// byteSize reads a byte count, with an optional k, m, g or t suffix (powers
// of 1024, either case) as Unbound writes its cache sizes.
func byteSize(s string) (int64, bool) {
	shift := 0
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k', 'K':
			shift = 10
		case 'm', 'M':
			shift = 20
		case 'g', 'G':
			shift = 30
		case 't', 'T':
			shift = 40
		}
		if shift > 0 {
			s = s[:n-1]
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || v > 1<<42>>shift {
		return 0, false
	}
	return v << shift, true
}

// parse reads the optional recursor block; see README.md for every setting.
func parse(c *caddy.Controller) (resolver.Config, error) {
	var cfg resolver.Config
	i := 0
	for c.Next() {
		if i > 0 {
			return cfg, plugin.ErrOnce
		}
		i++
		if len(c.RemainingArgs()) > 0 {
			return cfg, c.ArgErr()
		}
		for c.NextBlock() {
			key := c.Val()
			args := c.RemainingArgs()
			one := func() (string, error) {
				if len(args) != 1 {
					return "", c.Errf("%s takes exactly one argument", key)
				}
				return args[0], nil
			}
			count := func(p *int, lo, hi int) error {
				s, err := one()
				if err != nil {
					return err
				}
				n, err := strconv.Atoi(s)
				if err != nil || n < lo || n > hi {
					return c.Errf("%s: %q is not a number in [%d, %d]", key, s, lo, hi)
				}
				*p = n
				return nil
			}
			dur := func(p *time.Duration, lo, hi time.Duration) error {
				s, err := one()
				if err != nil {
					return err
				}
				d, err := time.ParseDuration(s)
				if err != nil || d < lo || d > hi {
					return c.Errf("%s: %q is not a duration in [%s, %s]", key, s, lo, hi)
				}
				*p = d
				return nil
			}
			flag := func(p *bool) error {
				if len(args) != 0 {
					return c.Errf("%s takes no argument", key)
				}
				*p = true
				return nil
			}
			var err error
			switch key {
			case "cache_size":
				err = count(&cfg.CacheSize, 1, 1<<24)
			case "cache_max_bytes":
				var v string
				if v, err = one(); err == nil {
					n, ok := byteSize(v)
					if !ok || n < 4<<10 || n > 1<<40 {
						err = c.Errf("%s: %q is not a size in [4k, 1t] (bytes, or with a k, m, g or t suffix: KiB, MiB...)", key, v)
						break
					}
					cfg.CacheMaxBytes = n
				}
			case "delegation_cache_size":
				err = count(&cfg.DelegationCacheSize, 1, 1<<22)
			case "max_ttl":
				err = dur(&cfg.MaxTTL, time.Second, 7*24*time.Hour)
			case "negative_max_ttl":
				err = dur(&cfg.NegativeMaxTTL, time.Second, 24*time.Hour)
			case "failure_ttl":
				err = dur(&cfg.FailureTTL, time.Second, 5*time.Minute)
			case "stale_timeout":
				err = dur(&cfg.StaleClientTimeout, 10*time.Millisecond, 30*time.Second)
			case "max_stale":
				err = dur(&cfg.MaxStale, time.Second, 7*24*time.Hour)
			case "upstream_timeout":
				err = dur(&cfg.UpstreamTimeout, 10*time.Millisecond, 30*time.Second)
			case "deadline":
				err = dur(&cfg.Deadline, 100*time.Millisecond, time.Minute)
			case "max_sends":
				err = count(&cfg.MaxSends, 1, 1000)
			case "max_inflight":
				err = count(&cfg.MaxInFlight, 1, 1<<20)
			case "max_records_per_rrset":
				err = count(&cfg.MaxRecordsPerRRset, 1, 65535)
			case "max_types_per_name":
				err = count(&cfg.MaxTypesPerName, 1, 65535)
			case "port":
				var p int
				err = count(&p, 1, 65535)
				cfg.Port = uint16(p)
			case "no_qname_minimisation":
				err = flag(&cfg.DisableQNAMEMinimisation)
			case "no_ipv6":
				err = flag(&cfg.DisableIPv6)
			case "udp_pool":
				err = flag(&cfg.UDPPool)
			case "no_0x20":
				err = flag(&cfg.Disable0x20)
			case "query_localhost":
				err = flag(&cfg.QueryLocalhost)
			case "dnssec_override_date":
				// Tests only, as Unbound's val-override-date: signature
				// windows are checked against this instant.
				var s string
				if s, err = one(); err == nil {
					t, perr := time.Parse("20060102150405", s)
					if perr != nil {
						err = c.Errf("%s: %q is not YYYYMMDDHHMMSS (UTC)", key, s)
						break
					}
					cfg.DNSSEC = &dnssec.Config{OverrideDate: t}
				}
			default:
				err = c.Errf("unknown property %q", key)
			}
			if err != nil {
				return cfg, err
			}
		}
	}
	return cfg, nil
}
